#!/usr/bin/env bash
# Network-namespace testbeds that stand in for the SMAPP paper's Mininet topologies.
# Everything lives in namespaces named PREFIX-*, joined only to each other by veth, on documentation
# addresses; nothing touches the root namespace and nothing is routed out of the machine.
#
#   testbed.sh up TOPOLOGY PREFIX [options]    TOPOLOGY: two-path | ecmp
#   testbed.sh down PREFIX                     removes every namespace PREFIX-* (and with it every veth)
#   testbed.sh state PREFIX                    namespaces, addresses, qdiscs, firewall rules, sysctls
#   testbed.sh set PREFIX LINK [--rate R] [--loss P] [--delay MS] [--down|--up] [--addr-del|--addr-add]
#                                              change one link of a running testbed; --addr-del / --addr-add take
#                                              the client's address on a two-path link away (routes too) and back;
#                                              --delay 0 removes the link's delay
#
# Options of `up`:
#   --rate LINK=RATE     shape LINK both ways with tbf (RATE as tc takes it: 8mbit, 500kbit)
#   --loss LINK=P        drop a fraction P (0..1) of the packets crossing LINK, both ways (iptables statistic)
#   --delay LINK=MS      one-way delay of MS milliseconds on LINK, in each direction (so its RTT grows by 2 x MS):
#                        netem where the kernel has it; otherwise NFQUEUE rules on the router and one
#                        `smapp delayline` process per direction (see "Delay without netem" below)
#   --client-pm MODE     userspace (default) | kernel   path manager of the client namespace
#   --server-pm MODE     kernel (default) | userspace   path manager of the server namespace
#   --cc NAME            TCP congestion control in every namespace (the paper's experiments: cubic)
#   --ipv6               also give every link IPv6 documentation addresses (2001:db8::/32)
#
# Links: two-path: wifi, cell (client <-> router); ecmp: p1 p2 p3 p4 (router A <-> router B).
#
# two-path (a phone with WiFi and cellular, talking to a single-homed server):
#   PREFIX-cli  wifi 192.0.2.1/28      <-> PREFIX-rtr 192.0.2.2/28      (2001:db8:1::1 / ::2)
#   PREFIX-cli  cell 198.51.100.1/28   <-> PREFIX-rtr 198.51.100.2/28   (2001:db8:2::1 / ::2)
#   PREFIX-rtr  srv  203.0.113.2/28    <-> PREFIX-srv 203.0.113.1/28    (2001:db8:3::2 / ::1)
#   The client routes by source address: wifi is the default path, cell the second one.
#
# ecmp (single-homed hosts, four equal-cost paths hashed on the 4-tuple):
#   PREFIX-cli eth0 192.0.2.1/28 <-> PREFIX-ra 192.0.2.2/28
#   PREFIX-ra  pN 198.51.100.(16N-15)/30 <-> PREFIX-rb pN 198.51.100.(16N-14)/30, N = 1..4
#   PREFIX-rb  srv 203.0.113.2/28 <-> PREFIX-srv 203.0.113.1/28
#   Routers use multipath routes, fib_multipath_hash_policy=3 and hash_fields=0x0037 (addresses,
#   protocol, ports): policy 1 is not enough on veth.
#
# Delay without netem (this kernel has no netem qdisc): the router sends the packets that come in from the link
# (-i LINK) to NFQUEUE queue 2k-1 and those that leave by it (-o LINK) to queue 2k (wifi and p1: k=1, cell and p2:
# k=2, p3: 3, p4: 4), in the mangle table's FORWARD chain (before the filter table, so --loss still applies), with
# --queue-bypass: packets pass undelayed while no delay line is bound. One `smapp delayline --netns ROUTER --queue Q
# --delay MS` per queue holds each packet MS ms and accepts it in arrival order. The delay lines run from
# $SMAPP_DLL (default: the smapp.dll next to a build-output copy of this script, else the repository's
# artifacts/smapp/smapp.dll, built by ./smapp when the sources changed); their PIDs and logs are kept in
# ${SMAPP_TESTBED_STATE:-/run/smapp-testbed}/PREFIX/, `state` lists them and `down` ends them (by PID) before it
# removes the namespaces. The delay loops run as SCHED_FIFO threads (priority $SMAPP_DELAYLINE_RT, default 10; 0 for
# ordinary threads), so that a busy machine's other work does not hold due packets back by milliseconds.
set -euo pipefail

die() { echo "testbed: $*" >&2; exit 1; }
usage() { sed -n '2,40p' "$0" >&2; exit 2; }

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

HERE=$(cd "$(dirname "$0")" && pwd)
STATE_ROOT=${SMAPP_TESTBED_STATE:-/run/smapp-testbed}
state_dir() { echo "$STATE_ROOT/$PREFIX"; }

have_netem() {
    local probe="$1-netem-probe"
    ip netns add "$probe" 2>/dev/null || return 1
    local ok=1
    ip -n "$probe" link set lo up
    if nsx "$probe" tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then ok=0; fi
    ip netns del "$probe"
    return $ok
}

# veth NS_A IF_A NS_B IF_B: a veth pair created inside NS_A with its peer moved straight into NS_B.
veth() {
    ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
    ip -n "$1" link set "$2" up
    ip -n "$3" link set "$4" up
}

newns() {
    ip netns add "$1"
    ip -n "$1" link set lo up
    nsx "$1" sysctl -qw net.ipv4.ip_forward=0
    nsx "$1" sysctl -qw net.mptcp.enabled=1
}

set_pm() {
    local ns=$1 mode=$2
    if nsx "$ns" test -e /proc/sys/net/mptcp/path_manager; then
        nsx "$ns" sysctl -qw "net.mptcp.path_manager=$mode"
    else
        nsx "$ns" sysctl -qw "net.mptcp.pm_type=$([ "$mode" = userspace ] && echo 1 || echo 0)"
    fi
}

offloads_off() {
    local ns=$1 dev=$2
    if command -v ethtool >/dev/null; then
        nsx "$ns" ethtool -K "$dev" tso off gso off gro off >/dev/null 2>&1 || true
    fi
}

# shape NS DEV RATE: tbf on DEV's egress
shape() {
    local ns=$1 dev=$2 rate=$3
    offloads_off "$ns" "$dev"
    nsx "$ns" tc qdisc replace dev "$dev" root tbf rate "$rate" burst 32kbit latency 100ms
}

# lose NS DEV P: drop a fraction P of the packets the router forwards in from DEV and out to DEV (both directions
# of that link only)
lose() {
    local ns=$1 dev=$2 p=$3
    command -v iptables >/dev/null || die "--loss needs iptables (apt-get install iptables)"
    for dir in -i -o; do
        nsx "$ns" iptables -w -A FORWARD "$dir" "$dev" -m statistic --mode random --probability "$p" -j DROP
        if [ "$IPV6" = 1 ]; then
            nsx "$ns" ip6tables -w -A FORWARD "$dir" "$dev" -m statistic --mode random --probability "$p" -j DROP
        fi
    done
}

# The smapp.dll that runs the delay lines: $SMAPP_DLL; else the one beside a build-output copy of this script
# (bin/.../kernel-pm/testbed.sh); else the repository's artifacts/smapp/smapp.dll, which ./smapp builds (or
# rebuilds when the sources changed).
smapp_dll() {
    if [ -n "${SMAPP_DLL:-}" ]; then
        [ -f "$SMAPP_DLL" ] || die "SMAPP_DLL=$SMAPP_DLL does not exist"
        echo "$SMAPP_DLL"; return 0
    fi
    if [ -f "$HERE/../smapp.dll" ]; then echo "$HERE/../smapp.dll"; return 0; fi
    local repo; repo=$(cd "$HERE/.." && pwd)
    if [ -x "$repo/smapp" ]; then
        "$repo/smapp" --version >/dev/null || die "building smapp ($repo/smapp) failed"
    fi
    [ -f "$repo/artifacts/smapp/smapp.dll" ] || die "no smapp build: run $repo/smapp --help once, or set SMAPP_DLL"
    SMAPP_DLL="$repo/artifacts/smapp/smapp.dll"
    echo "$SMAPP_DLL"
}

# The NFQUEUE queue numbers of LINK: packets in from the link go to the first, packets out by it to the second.
link_queue() {
    case "$1" in
        wifi|p1) echo 1 ;;
        cell|p2) echo 3 ;;
        p3) echo 5 ;;
        p4) echo 7 ;;
        *) die "no queue number for link $1" ;;
    esac
}

# delay_nfqueue ROUTER_NS ROUTER_DEV LINK MS: both directions of LINK through a delay line each (no netem here)
delay_nfqueue() {
    local ns=$1 dev=$2 link=$3 ms=$4 q tool
    q=$(link_queue "$link")
    start_delayline "$ns" "$q" "$ms" "$link" in
    start_delayline "$ns" "$((q + 1))" "$ms" "$link" out
    for tool in iptables ip6tables; do
        [ "$tool" = ip6tables ] && [ "$IPV6" != 1 ] && continue
        nsx "$ns" "$tool" -w -t mangle -A FORWARD -i "$dev" -j NFQUEUE --queue-num "$q" --queue-bypass
        nsx "$ns" "$tool" -w -t mangle -A FORWARD -o "$dev" -j NFQUEUE --queue-num "$((q + 1))" --queue-bypass
    done
}

# start_delayline NS QUEUE MS LINK DIRECTION: a detached `smapp delayline`, its PID recorded in the state directory
start_delayline() {
    local ns=$1 q=$2 ms=$3 link=$4 dir=$5 sd dll
    sd=$(state_dir); mkdir -p "$sd"
    dll=$(smapp_dll)
    local detach=(); command -v setsid >/dev/null && detach=(setsid)
    "${detach[@]}" dotnet "$dll" delayline --netns "$ns" --queue "$q" --delay "$ms" --stats --rt-priority "${SMAPP_DELAYLINE_RT:-10}" </dev/null >"$sd/delayline-q$q.log" 2>&1 &
    echo "$! $q $ns $link $dir $ms" >> "$sd/delaylines"
}

# is_delayline PID NS QUEUE: whether PID is still the delay line this testbed started (not a reused PID)
is_delayline() {
    local c
    c=$(tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null) || return 1
    [[ "$c" == *"delayline --netns $2 --queue $3 "* ]]
}

# wait_delaylines: until every recorded delay line has bound its queue (bounded: 30 s), or fail with its log
wait_delaylines() {
    local f; f="$(state_dir)/delaylines"
    [ -f "$f" ] || return 0
    local pid q ns link dir ms i
    while read -r pid q ns link dir ms; do
        for ((i = 0; i < 300; i++)); do
            if nsx "$ns" awk -v q="$q" '$1 == q { found = 1 } END { exit !found }' /proc/net/netfilter/nfnetlink_queue 2>/dev/null; then
                break
            fi
            is_delayline "$pid" "$ns" "$q" || die "smapp delayline for $link ($dir, queue $q) exited: $(cat "$(state_dir)/delayline-q$q.log" 2>/dev/null)"
            sleep 0.1
        done
        [ "$i" -lt 300 ] || die "smapp delayline for $link ($dir, queue $q) did not bind its queue within 30 s"
    done < "$f"
}

# stop_delaylines [LINK]: ends (SIGTERM, then SIGKILL after 5 s) the recorded delay lines, of LINK only when given
stop_delaylines() {
    local sd f only=${1:-}; sd=$(state_dir); f="$sd/delaylines"
    [ -f "$f" ] || return 0
    local pid q ns link dir ms i alive keep=() pids=()
    while read -r pid q ns link dir ms; do
        if [ -n "$only" ] && [ "$link" != "$only" ]; then keep+=("$pid $q $ns $link $dir $ms"); continue; fi
        if is_delayline "$pid" "$ns" "$q"; then kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid $ns $q"); fi
    done < "$f"
    for ((i = 0; i < 50 && ${#pids[@]} > 0; i++)); do
        alive=0
        for p in "${pids[@]}"; do
            # shellcheck disable=SC2086
            is_delayline $p && alive=1
        done
        [ "$alive" = 1 ] || break
        sleep 0.1
    done
    for p in "${pids[@]}"; do
        # shellcheck disable=SC2086
        set -- $p
        if is_delayline "$1" "$2" "$3"; then kill -KILL "$1" 2>/dev/null || true; fi
    done
    # Their --stats lines (packets, deepest queue, verdict errors, ENOBUFS, lateness), then the logs go.
    for p in "${pids[@]}"; do
        # shellcheck disable=SC2086
        set -- $p
        grep -h '^delayline ' "$sd/delayline-q$3.log" 2>/dev/null | sed 's/^/testbed: /' >&2 || true
    done
    if [ -n "$only" ] && [ ${#keep[@]} -gt 0 ]; then
        printf '%s\n' "${keep[@]}" > "$f"
    elif [ -n "$only" ]; then
        rm -f "$f"
    else
        rm -rf "$sd"
    fi
}

# Parses LINK=VALUE into a per-link associative array.
declare -A RATE LOSS DELAY
parse_opts() {
    CLIENT_PM=userspace; SERVER_PM=kernel; CC=""; IPV6=0
    while [ $# -gt 0 ]; do
        case "$1" in
            --rate) RATE[${2%%=*}]=${2#*=}; shift 2 ;;
            --loss) LOSS[${2%%=*}]=${2#*=}; shift 2 ;;
            --delay) DELAY[${2%%=*}]=${2#*=}; shift 2 ;;
            --client-pm) CLIENT_PM=$2; shift 2 ;;
            --server-pm) SERVER_PM=$2; shift 2 ;;
            --cc) CC=$2; shift 2 ;;
            --ipv6) IPV6=1; shift ;;
            *) die "unknown option $1" ;;
        esac
    done
    case "$CLIENT_PM$SERVER_PM" in
        userspacekernel|kernelkernel|userspaceuserspace|kerneluserspace) ;;
        *) die "--client-pm / --server-pm take userspace or kernel" ;;
    esac
}

check_links() {
    local valid=" $1 " k
    for k in ${RATE[@]+"${!RATE[@]}"} ${LOSS[@]+"${!LOSS[@]}"} ${DELAY[@]+"${!DELAY[@]}"}; do
        [[ "$valid" == *" $k "* ]] || die "unknown link '$k' (this topology has:$valid)"
    done
    NETEM=1
    if [ -n "${DELAY[*]:-}" ] && ! have_netem "$PREFIX"; then
        NETEM=0
        command -v iptables >/dev/null || die "--delay without netem needs iptables (apt-get install iptables)"
        command -v dotnet >/dev/null || die "--delay without netem runs smapp delayline: needs dotnet on PATH"
        SMAPP_DLL=$(smapp_dll)
    fi
}

common_ns_setup() {
    local ns
    for ns in "$@"; do
        [ -n "$CC" ] && nsx "$ns" sysctl -qw "net.ipv4.tcp_congestion_control=$CC"
        if [ "$IPV6" = 1 ]; then
            nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
        else
            nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        fi
    done
}

addr6() { [ "$IPV6" = 1 ] && ip -n "$1" -6 addr add "$2" dev "$3" nodad; return 0; }

# link_conditions NS_A DEV_A NS_B DEV_B LINK ROUTER_NS ROUTER_DEV: rate on both ends, loss at the router
link_conditions() {
    local nsa=$1 deva=$2 nsb=$3 devb=$4 link=$5 rns=$6 rdev=$7
    if [ -n "${RATE[$link]:-}" ]; then
        shape "$nsa" "$deva" "${RATE[$link]}"
        shape "$nsb" "$devb" "${RATE[$link]}"
    fi
    if [ -n "${DELAY[$link]:-}" ]; then
        local d=${DELAY[$link]}; d=${d%ms}
        if [ "${NETEM:-1}" = 1 ]; then
            nsx "$nsa" tc qdisc replace dev "$deva" root netem delay "${d}ms"
            nsx "$nsb" tc qdisc replace dev "$devb" root netem delay "${d}ms"
        else
            delay_nfqueue "$rns" "$rdev" "$link" "$d"
        fi
    fi
    if [ -n "${LOSS[$link]:-}" ]; then
        lose "$rns" "$rdev" "${LOSS[$link]}"
    fi
}

up_two_path() {
    local cli="$PREFIX-cli" rtr="$PREFIX-rtr" srv="$PREFIX-srv"
    check_links "wifi cell"
    newns "$cli"; newns "$rtr"; newns "$srv"
    common_ns_setup "$cli" "$rtr" "$srv"
    nsx "$rtr" sysctl -qw net.ipv4.ip_forward=1
    [ "$IPV6" = 1 ] && nsx "$rtr" sysctl -qw net.ipv6.conf.all.forwarding=1

    veth "$cli" wifi "$rtr" wifi
    veth "$cli" cell "$rtr" cell
    veth "$rtr" srv "$srv" srv

    ip -n "$cli" addr add 192.0.2.1/28 dev wifi
    ip -n "$rtr" addr add 192.0.2.2/28 dev wifi
    ip -n "$cli" addr add 198.51.100.1/28 dev cell
    ip -n "$rtr" addr add 198.51.100.2/28 dev cell
    ip -n "$rtr" addr add 203.0.113.2/28 dev srv
    ip -n "$srv" addr add 203.0.113.1/28 dev srv
    addr6 "$cli" 2001:db8:1::1/64 wifi; addr6 "$rtr" 2001:db8:1::2/64 wifi
    addr6 "$cli" 2001:db8:2::1/64 cell; addr6 "$rtr" 2001:db8:2::2/64 cell
    addr6 "$rtr" 2001:db8:3::2/64 srv;  addr6 "$srv" 2001:db8:3::1/64 srv

    # Client: wifi is the default path; traffic from the cellular address leaves by the cellular link.
    ip -n "$cli" route add default via 192.0.2.2 dev wifi metric 100
    ip -n "$cli" route add default via 198.51.100.2 dev cell metric 200
    ip -n "$cli" rule add from 198.51.100.1 table 102 priority 100
    ip -n "$cli" route add default via 198.51.100.2 dev cell table 102
    ip -n "$cli" rule add from 192.0.2.1 table 101 priority 101
    ip -n "$cli" route add default via 192.0.2.2 dev wifi table 101
    ip -n "$srv" route add default via 203.0.113.2 dev srv
    if [ "$IPV6" = 1 ]; then
        ip -n "$cli" -6 route add default via 2001:db8:1::2 dev wifi metric 100
        ip -n "$cli" -6 route add default via 2001:db8:2::2 dev cell metric 200
        ip -n "$cli" -6 rule add from 2001:db8:2::1 table 102 priority 100
        ip -n "$cli" -6 route add default via 2001:db8:2::2 dev cell table 102
        ip -n "$cli" -6 rule add from 2001:db8:1::1 table 101 priority 101
        ip -n "$cli" -6 route add default via 2001:db8:1::2 dev wifi table 101
        ip -n "$srv" -6 route add default via 2001:db8:3::2 dev srv
    fi

    link_conditions "$cli" wifi "$rtr" wifi wifi "$rtr" wifi
    link_conditions "$cli" cell "$rtr" cell cell "$rtr" cell

    set_pm "$cli" "$CLIENT_PM"
    set_pm "$srv" "$SERVER_PM"
    # An in-kernel PM server accepts at most `limits subflow` joins: allow the most it can.
    ip -n "$srv" mptcp limits set subflow 8 add_addr_accepted 8
    ip -n "$cli" mptcp limits set subflow 8 add_addr_accepted 8
    wait_delaylines

    cat <<INFO
topology=two-path
client_ns=$cli
router_ns=$rtr
server_ns=$srv
client_addr1=192.0.2.1
client_if1=wifi
client_addr2=198.51.100.1
client_if2=cell
server_addr=203.0.113.1
INFO
    [ "$IPV6" = 1 ] && printf 'client_addr1_v6=2001:db8:1::1\nclient_addr2_v6=2001:db8:2::1\nserver_addr_v6=2001:db8:3::1\n'
    return 0
}

up_ecmp() {
    local cli="$PREFIX-cli" ra="$PREFIX-ra" rb="$PREFIX-rb" srv="$PREFIX-srv" n
    check_links "p1 p2 p3 p4"
    newns "$cli"; newns "$ra"; newns "$rb"; newns "$srv"
    common_ns_setup "$cli" "$ra" "$rb" "$srv"
    for r in "$ra" "$rb"; do
        nsx "$r" sysctl -qw net.ipv4.ip_forward=1
        nsx "$r" sysctl -qw net.ipv4.fib_multipath_hash_policy=3
        nsx "$r" sysctl -qw net.ipv4.fib_multipath_hash_fields=0x0037
    done
    veth "$cli" eth0 "$ra" cli
    veth "$rb" srv "$srv" srv
    ip -n "$cli" addr add 192.0.2.1/28 dev eth0
    ip -n "$ra" addr add 192.0.2.2/28 dev cli
    ip -n "$rb" addr add 203.0.113.2/28 dev srv
    ip -n "$srv" addr add 203.0.113.1/28 dev srv
    local fwd="" back=""
    for n in 1 2 3 4; do
        veth "$ra" "p$n" "$rb" "p$n"
        local base=$((16 * n - 16))
        ip -n "$ra" addr add "198.51.100.$((base + 1))/30" dev "p$n"
        ip -n "$rb" addr add "198.51.100.$((base + 2))/30" dev "p$n"
        fwd="$fwd nexthop via 198.51.100.$((base + 2)) dev p$n weight 1"
        back="$back nexthop via 198.51.100.$((base + 1)) dev p$n weight 1"
        link_conditions "$ra" "p$n" "$rb" "p$n" "p$n" "$ra" "p$n"
    done
    ip -n "$cli" route add default via 192.0.2.2 dev eth0
    ip -n "$srv" route add default via 203.0.113.2 dev srv
    # shellcheck disable=SC2086
    ip -n "$ra" route add 203.0.113.0/28 $fwd
    # shellcheck disable=SC2086
    ip -n "$rb" route add 192.0.2.0/28 $back
    set_pm "$cli" "$CLIENT_PM"
    set_pm "$srv" "$SERVER_PM"
    ip -n "$srv" mptcp limits set subflow 8 add_addr_accepted 8
    ip -n "$cli" mptcp limits set subflow 8 add_addr_accepted 8
    wait_delaylines
    cat <<INFO
topology=ecmp
client_ns=$cli
router_ns=$ra
router2_ns=$rb
server_ns=$srv
client_addr1=192.0.2.1
client_if1=eth0
server_addr=203.0.113.1
INFO
}

down() {
    local ns found=0
    # The delay lines first (by their recorded PIDs), while their namespaces still exist.
    stop_delaylines
    for ns in $(ip netns list | awk '{print $1}'); do
        case "$ns" in
            "$PREFIX"-*)
                found=1
                # End only what runs inside our own namespaces, by PID.
                for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
                ip netns del "$ns"
                ;;
        esac
    done
    [ "$found" = 1 ] || echo "testbed: nothing named $PREFIX-* to remove" >&2
    return 0
}

state() {
    local ns
    for ns in $(ip netns list | awk '{print $1}' | sort); do
        case "$ns" in
            "$PREFIX"-*)
                echo "== $ns  (path manager: $(nsx "$ns" cat /proc/sys/net/mptcp/path_manager 2>/dev/null || nsx "$ns" cat /proc/sys/net/mptcp/pm_type))"
                ip -n "$ns" -br addr show | sed 's/^/   addr  /'
                ip -n "$ns" route show | sed 's/^/   route /'
                ip -n "$ns" rule show 2>/dev/null | grep -v -e 'lookup local' -e 'lookup main' -e 'lookup default' | sed 's/^/   rule  /' || true
                nsx "$ns" tc qdisc show | grep -v -e 'noqueue' -e 'qdisc noop' | sed 's/^/   qdisc /' || true
                if command -v iptables >/dev/null; then
                    nsx "$ns" iptables -w -S FORWARD 2>/dev/null | grep -v '^-P' | sed 's/^/   fw    /' || true
                    nsx "$ns" iptables -w -t mangle -S FORWARD 2>/dev/null | grep -v '^-P' | sed 's/^/   fw    mangle /' || true
                fi
                ip -n "$ns" mptcp limits show 2>/dev/null | sed 's/^/   mptcp /' || true
                ;;
        esac
    done
    local f pid q dns link dir ms st; f="$(state_dir)/delaylines"
    if [ -f "$f" ]; then
        echo "== delay lines  ($(state_dir))"
        while read -r pid q dns link dir ms; do
            if is_delayline "$pid" "$dns" "$q"; then st=running; else st=gone; fi
            echo "   delay $link $dir ${ms} ms  queue $q in $dns  pid $pid ($st)"
        done < "$f"
    fi
}

# set_delay NS_A DEV_A NS_B DEV_B LINK ROUTER_NS MS: netem on both ends, or the link's delay lines replaced
set_delay() {
    local nsa=$1 deva=$2 nsb=$3 devb=$4 link=$5 rns=$6 ms=$7 tool
    if have_netem "$PREFIX"; then
        if [ "$ms" = 0 ]; then
            nsx "$nsa" tc qdisc del dev "$deva" root 2>/dev/null || true
            nsx "$nsb" tc qdisc del dev "$devb" root 2>/dev/null || true
        else
            nsx "$nsa" tc qdisc replace dev "$deva" root netem delay "${ms}ms"
            nsx "$nsb" tc qdisc replace dev "$devb" root netem delay "${ms}ms"
        fi
        return 0
    fi
    stop_delaylines "$link"
    for tool in iptables ip6tables; do
        nsx "$rns" "$tool" -w -t mangle -S FORWARD 2>/dev/null | grep -e "-i $devb .*NFQUEUE" -e "-o $devb .*NFQUEUE" | sed 's/^-A/-D/' | while read -r rule; do
            # shellcheck disable=SC2086
            nsx "$rns" "$tool" -w -t mangle $rule
        done || true
    done
    if [ "$ms" != 0 ]; then
        command -v dotnet >/dev/null || die "--delay without netem runs smapp delayline: needs dotnet on PATH"
        SMAPP_DLL=$(smapp_dll)
        delay_nfqueue "$rns" "$devb" "$link" "$ms"
        wait_delaylines
    fi
}

set_link() {
    local link=$1; shift
    local rate="" loss="" updown="" addr="" delay=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --rate) rate=$2; shift 2 ;;
            --delay) delay=${2%ms}; shift 2 ;;
            --loss) loss=$2; shift 2 ;;
            --down) updown=down; shift ;;
            --up) updown=up; shift ;;
            --addr-del) addr=del; shift ;;
            --addr-add) addr=add; shift ;;
            *) die "unknown option $1" ;;
        esac
    done
    local a b ifa ifb rns
    IPV6=0
    if ip netns list | grep -q "^$PREFIX-rtr\b"; then
        a="$PREFIX-cli"; b="$PREFIX-rtr"; ifa=$link; ifb=$link; rns=$b
        case "$link" in wifi|cell) ;; *) die "two-path has links wifi and cell" ;; esac
    else
        a="$PREFIX-ra"; b="$PREFIX-rb"; ifa=$link; ifb=$link; rns=$a
        case "$link" in p1|p2|p3|p4) ;; *) die "ecmp has links p1..p4" ;; esac
    fi
    if ip -n "$rns" -6 addr show scope global | grep -q inet6; then IPV6=1; fi
    if [ -n "$rate" ]; then shape "$a" "$ifa" "$rate"; shape "$b" "$ifb" "$rate"; fi
    if [ -n "$loss" ]; then
        command -v iptables >/dev/null || die "--loss needs iptables"
        for tool in iptables ip6tables; do
            nsx "$rns" "$tool" -w -S FORWARD 2>/dev/null | grep -e "-i $ifb .*statistic" -e "-o $ifb .*statistic" | sed 's/^-A/-D/' | while read -r rule; do
                # shellcheck disable=SC2086
                nsx "$rns" "$tool" -w $rule
            done || true
        done
        if [ "$loss" != 0 ]; then lose "$rns" "$ifb" "$loss"; fi
    fi
    if [ -n "$delay" ]; then set_delay "$a" "$ifa" "$b" "$ifb" "$link" "$rns" "$delay"; fi
    if [ -n "$updown" ]; then ip -n "$a" link set "$ifa" "$updown"; fi
    if [ -n "$addr" ]; then
        [ "$a" = "$PREFIX-cli" ] || die "--addr-del / --addr-add are for the two-path links"
        local ip gw table metric
        case "$link" in
            wifi) ip=192.0.2.1; gw=192.0.2.2; table=101; metric=100 ;;
            cell) ip=198.51.100.1; gw=198.51.100.2; table=102; metric=200 ;;
        esac
        if [ "$addr" = del ]; then
            ip -n "$a" addr del "$ip/28" dev "$link"
        else
            ip -n "$a" addr add "$ip/28" dev "$link"
            ip -n "$a" route replace default via "$gw" dev "$link" table "$table"
            ip -n "$a" route replace default via "$gw" dev "$link" metric "$metric"
        fi
    fi
}

[ $# -ge 1 ] || usage
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, veth, sysctl)"
cmd=$1; shift
case "$cmd" in
    up)
        [ $# -ge 2 ] || usage
        topo=$1; PREFIX=$2; shift 2
        [[ "$PREFIX" =~ ^[A-Za-z0-9_.]{1,12}$ ]] || die "PREFIX must be 1-12 letters, digits, _ or ."
        if ip netns list | awk '{print $1}' | grep -q "^$PREFIX-"; then die "namespaces $PREFIX-* already exist: pick another prefix or run: $0 down $PREFIX"; fi
        parse_opts "$@"
        stop_delaylines   # a stale state directory of a PREFIX that no longer has namespaces
        trap 'echo "testbed: setup failed, removing $PREFIX-*" >&2; down >/dev/null 2>&1' ERR
        # Whatever ends `up` early (a die in a function, where the ERR trap does not reach) removes what it made.
        trap 'rc=$?; if [ "$rc" != 0 ]; then down >/dev/null 2>&1; fi' EXIT
        case "$topo" in
            two-path) up_two_path ;;
            ecmp) up_ecmp ;;
            *) trap - ERR; die "unknown topology $topo (two-path, ecmp)" ;;
        esac
        trap - ERR EXIT
        ;;
    down) [ $# -eq 1 ] || usage; PREFIX=$1; down ;;
    state) [ $# -eq 1 ] || usage; PREFIX=$1; state ;;
    set) [ $# -ge 2 ] || usage; PREFIX=$1; shift; set_link "$@" ;;
    *) usage ;;
esac
