#!/usr/bin/env bash
# The reaction benchmark, side by side: how long after a connection starts does its path manager open the second
# subflow? One run measures three path managers of the client namespace, one after the other, on the two-path
# testbed (kernel-pm/testbed.sh):
#   kernel  the in-kernel PM: endpoint 198.51.100.1 dev cell subflow, limits subflow 2
#   mptcpd  mptcpd (Debian 0.12) with bench/mptcpd-plugin/bench_join.c, which calls mptcpd_pm_add_subflow from
#           198.51.100.1 (id 1) to the connection's remote address and port on connection_established
#   smapp   dotnet smapp.dll run --netns NS --policy fullmesh
# For each: N sequential MPTCP connections (bench/tools/seqclient.c) to a sink in the server namespace, each
# writing 1 KiB and waiting for its second subflow (at most --wait-ms), captured with tcpdump in the client
# namespace. The delay of a connection is from its MP_CAPABLE SYN (wifi) to the MP_JOIN SYN (cell) of the same
# connection (the join's token matched to the SHA-256 of the server's key in the SYN/ACK: bench/tools/joindelay.c).
#
#   sudo bench/reaction.sh [--connections N] [--hog] [--smapp-dll PATH] [--out DIR]
#                          [--wait-ms MS] [--warmup W] [--pms kernel,mptcpd,smapp] [--smapp-args "ARGS"]
#                          [--mptcpd-rt PRIO]
#     --connections N   measured connections per path manager (default 1000)
#     --hog             also measure everything again with one CPU hog (`yes`) per core
#     --smapp-dll PATH  the smapp build to measure (default: artifacts/smapp/smapp.dll, built with ./smapp)
#     --out DIR         where the results go (default bench/results/reaction-DATE)
#     --wait-ms MS      how long a connection waits for its second subflow before it closes (default 200)
#     --warmup W        connections opened before the capture starts, per path manager (default 20)
#     --pms LIST        which path managers, in order (default kernel,mptcpd,smapp)
#     --smapp-args ARGS more arguments for `smapp run`, split on spaces (e.g. "--log-level warning")
#     --mptcpd-rt PRIO  run mptcpd in SCHED_FIFO at PRIO (chrt -f), as Smapp runs its event loop by default
#                       (smapp.gateway.realtime-priority = 10): the peer given the same scheduling
# Writes to DIR: samples.csv (one row per connection), summary.md (printed at the end), per-run logs and pcaps.
# Installs what is missing with apt-get. Everything it starts it ends by PID; every namespace it makes it removes.
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2; exit 2; }
die() { echo "reaction: $*" >&2; exit 1; }
say() { echo "reaction: $*" >&2; }

N=1000 HOG=0 SMAPP_DLL="" SMAPP_ARGS="" MPTCPD_RT=0 OUT="" WAIT_MS=200 WARMUP=20 PMS=kernel,mptcpd,smapp PORT=5201
while [ $# -gt 0 ]; do
    case "$1" in
        --connections) N=${2:?}; shift 2 ;;
        --hog) HOG=1; shift ;;
        --smapp-dll) SMAPP_DLL=$(realpath -m "${2:?}"); shift 2 ;;
        --out) OUT=$(realpath -m "${2:?}"); shift 2 ;;
        --wait-ms) WAIT_MS=${2:?}; shift 2 ;;
        --warmup) WARMUP=${2:?}; shift 2 ;;
        --pms) PMS=${2:?}; shift 2 ;;
        --smapp-args) SMAPP_ARGS=${2?}; shift 2 ;;
        --mptcpd-rt) MPTCPD_RT=${2:?}; shift 2 ;;
        -h|--help) usage ;;
        *) echo "reaction: unknown option $1" >&2; usage ;;
    esac
done
[[ "$N" =~ ^[0-9]+$ && "$N" -ge 1 ]] || die "--connections takes a positive number"
[[ "$WAIT_MS" =~ ^[0-9]+$ && "$WAIT_MS" -ge 1 ]] || die "--wait-ms takes a positive number"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "--warmup takes a number"
[[ "$MPTCPD_RT" =~ ^[0-9]+$ && "$MPTCPD_RT" -le 99 ]] || die "--mptcpd-rt takes a priority 1-99 (0: the ordinary class)"
IFS=, read -r -a PM_LIST <<<"$PMS"
for pm in "${PM_LIST[@]}"; do case "$pm" in kernel|mptcpd|smapp) ;; *) die "--pms: unknown path manager $pm (kernel, mptcpd, smapp)" ;; esac; done
[ "$(id -u)" = 0 ] || die "run as root (sudo bench/reaction.sh): it makes network namespaces and captures packets"

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
OUT=${OUT:-$REPO/bench/results/reaction-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
MPTCPD=/usr/libexec/mptcpd

# ---- what the benchmark needs, from Debian when missing ----
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v sysctl >/dev/null || need+=(procps)
command -v iptables >/dev/null || need+=(iptables)
command -v ethtool >/dev/null || need+=(ethtool)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
[ -f /usr/include/linux/mptcp.h ] || need+=(linux-libc-dev)
if [[ ",$PMS," == *,mptcpd,* ]]; then
    [ -x "$MPTCPD" ] || need+=(mptcpd)
    [ -f /usr/include/mptcpd/plugin.h ] || need+=(libmptcpd3-dev)
    [ -f /usr/include/ell/ell.h ] || need+=(libell-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >"$OUT/apt.log" 2>&1 \
        || { cat "$OUT/apt.log" >&2; die "apt-get install ${need[*]} failed"; }
fi

# ---- our processes, namespaces and hogs: all ended at exit, by PID ----
PIDS=() PREFIXES=() HOGS=()
cleanup() {
    local pid p
    for pid in ${HOGS[@]+"${HOGS[@]}"} ${PIDS[@]+"${PIDS[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in ${HOGS[@]+"${HOGS[@]}"} ${PIDS[@]+"${PIDS[@]}"}; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    for p in ${PREFIXES[@]+"${PREFIXES[@]}"}; do "$REPO/kernel-pm/testbed.sh" down "$p" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() { local keep=() p; for p in ${PIDS[@]+"${PIDS[@]}"}; do [ "$p" = "$1" ] || keep+=("$p"); done; PIDS=(${keep[@]+"${keep[@]}"}); }

# stop PID [SECONDS]: SIGTERM, wait for it (bounded), then SIGKILL. Returns the exit status when it was ours to reap.
stop() {
    local pid=$1 secs=${2:-15} i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then say "process $pid did not stop on SIGTERM within ${secs}s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    local rc=0; wait "$pid" 2>/dev/null || rc=$?
    forget_pid "$pid"
    return $rc
}

# wait_for FILE PATTERN SECONDS PID: until FILE holds PATTERN; fails if PID dies first or time runs out.
wait_for() {
    local file=$1 pattern=$2 secs=$3 pid=$4 i
    for ((i = 0; i < secs * 20; i++)); do
        grep -q -- "$pattern" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# ---- build the C tools and the mptcpd plugin ----
BUILD=$OUT/build
mkdir -p "$BUILD/mptcpd-plugins"
chmod 755 "$BUILD" "$BUILD/mptcpd-plugins" # mptcpd refuses a world-writable plugin directory
for t in seqclient sink joindelay; do
    gcc -O2 -Wall -o "$BUILD/$t" "$REPO/bench/tools/$t.c" || die "cannot build bench/tools/$t.c"
done
if [[ ",$PMS," == *,mptcpd,* ]]; then
    # shellcheck disable=SC2046
    gcc -O2 -Wall -fPIC -shared -o "$BUILD/mptcpd-plugins/bench_join.so" "$REPO/bench/mptcpd-plugin/bench_join.c" \
        $(pkg-config --cflags --libs mptcpd ell) || die "cannot build the mptcpd plugin (libmptcpd3-dev, libell-dev)"
fi
if [[ ",$PMS," == *,smapp,* ]]; then
    if [ -z "$SMAPP_DLL" ]; then
        say "building smapp (./smapp --help)"
        ./smapp --help >/dev/null || die "cannot build smapp"
        SMAPP_DLL=$REPO/artifacts/smapp/smapp.dll
    fi
    [ -f "$SMAPP_DLL" ] || die "no smapp build at $SMAPP_DLL"
    command -v dotnet >/dev/null || die "smapp needs the .NET SDK (dotnet) on PATH"
fi

# Nanosecond timestamps when this tcpdump has them (4.99 does); microseconds otherwise.
TS_PRECISION=""
tcpdump --help 2>&1 | grep -q -- --time-stamp-precision && TS_PRECISION=--time-stamp-precision=nano

SAMPLES=$OUT/samples.csv
echo "load,pm,seq,client,sport,token,syn_ns,join_ns,delay_ms,join_src,in_window" >"$SAMPLES"
RUNS=$OUT/runs.txt
: >"$RUNS"
RUN_INDEX=0
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

# measure LOAD PM: one path manager, one testbed, N connections captured.
measure() {
    local load=$1 pm=$2
    RUN_INDEX=$((RUN_INDEX + 1))
    local prefix="rx$$p$RUN_INDEX" tag="$load-$pm"
    local cli="$prefix-cli" srv="$prefix-srv" mode=userspace
    [ "$pm" = kernel ] && mode=kernel
    say "[$tag] testbed $prefix, client path manager: $mode"
    PREFIXES+=("$prefix")
    "$REPO/kernel-pm/testbed.sh" up two-path "$prefix" --client-pm "$mode" >"$OUT/$tag.testbed.txt"
    # Each connection leaves two client ports in TIME_WAIT for 60 s: a wide range keeps large N from running out.
    ip netns exec "$cli" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
    if [ "$pm" = kernel ]; then
        ip -n "$cli" mptcp endpoint add 198.51.100.1 dev cell subflow
        ip -n "$cli" mptcp limits set subflow 2
    fi

    ip netns exec "$srv" "$BUILD/sink" -p "$PORT" -a 203.0.113.1 -s 7200 >"$OUT/$tag.sink.log" 2>&1 &
    local sink=$!; PIDS+=("$sink")
    wait_for "$OUT/$tag.sink.log" listening 10 "$sink" || die "[$tag] the sink did not start: $(cat "$OUT/$tag.sink.log")"

    local daemon="" log="$OUT/$tag.$pm.log"
    case "$pm" in
        mptcpd)
            local rt=()
            [ "$MPTCPD_RT" = 0 ] || rt=(chrt -f "$MPTCPD_RT")
            ip netns exec "$cli" ${rt[@]+"${rt[@]}"} "$MPTCPD" --log=stderr --plugin-dir="$BUILD/mptcpd-plugins" \
                --load-plugins=bench_join --path-manager=bench_join >"$log" 2>&1 &
            daemon=$!; PIDS+=("$daemon")
            wait_for "$log" "bench_join: ready" 30 "$daemon" || die "[$tag] mptcpd did not load the plugin: $(cat "$log")"
            ;;
        smapp)
            # shellcheck disable=SC2086
            dotnet "$SMAPP_DLL" run --netns "$cli" --policy fullmesh $SMAPP_ARGS >"$log" 2>&1 &
            daemon=$!; PIDS+=("$daemon")
            # Its "netlink gateway up" line is at info level: with a quieter --log-level the probes below decide.
            if [[ "$SMAPP_ARGS" != *--log-level* ]]; then
                wait_for "$log" "netlink gateway up" 120 "$daemon" || die "[$tag] smapp did not come up: $(cat "$log")"
            fi
            ;;
    esac

    # Ready means: a connection gets its second subflow (the daemon has subscribed to the events). At most 120 s.
    local i ok=0 until=$((SECONDS + 120))
    for ((i = 1; SECONDS < until; i++)); do
        if ip netns exec "$cli" "$BUILD/seqclient" 203.0.113.1 "$PORT" 1 1000 192.0.2.1 2>>"$OUT/$tag.client.log" | grep -q "joined=1"; then ok=1; break; fi
        [ -z "$daemon" ] || kill -0 "$daemon" 2>/dev/null || break
    done
    [ "$ok" = 1 ] || die "[$tag] no second subflow on a probe connection after $i tries (see $log)"
    if [ "$WARMUP" -gt 0 ]; then
        ip netns exec "$cli" "$BUILD/seqclient" 203.0.113.1 "$PORT" "$WARMUP" "$WAIT_MS" 192.0.2.1 >"$OUT/$tag.warmup.txt" 2>>"$OUT/$tag.client.log" || true
    fi

    # The capture: SYNs only (MP_CAPABLE, its SYN/ACK with the server key, MP_JOIN), every client interface.
    local pcap="$OUT/$tag.pcap" tdlog="$OUT/$tag.tcpdump.log"
    ip netns exec "$cli" tcpdump -i any -nn -Z root -s 200 -B 16384 $TS_PRECISION -w "$pcap" \
        'tcp[tcpflags] & tcp-syn != 0' >"$tdlog" 2>&1 &
    local td=$!; PIDS+=("$td")
    wait_for "$tdlog" "listening on" 15 "$td" || die "[$tag] tcpdump did not start: $(cat "$tdlog")"

    say "[$tag] $N connections"
    local t0 t1 result
    t0=$(date +%s.%N)
    # In the background and waited for, so that a signal to this script is handled at once (and ends the client).
    ip netns exec "$cli" "$BUILD/seqclient" 203.0.113.1 "$PORT" "$N" "$WAIT_MS" 192.0.2.1 >"$OUT/$tag.client.txt" 2>>"$OUT/$tag.client.log" &
    local client=$!; PIDS+=("$client")
    wait "$client" || true
    forget_pid "$client"
    result=$(cat "$OUT/$tag.client.txt")
    t1=$(date +%s.%N)
    sleep 2 # tcpdump reads the capture ring in blocks (1 s timeout): let the last block reach the file
    stop "$td" 10 || true
    [ -z "$daemon" ] || stop "$daemon" 20 || true
    stop "$sink" 5 || true
    "$REPO/kernel-pm/testbed.sh" down "$prefix" >/dev/null 2>&1 || true

    local stats
    "$BUILD/joindelay" "$pcap" >"$OUT/$tag.samples.csv" 2>"$OUT/$tag.joindelay.txt" || die "[$tag] cannot read $pcap: $(cat "$OUT/$tag.joindelay.txt")"
    stats=$(cat "$OUT/$tag.joindelay.txt")
    tail -n +2 "$OUT/$tag.samples.csv" | sed "s/^/$load,$pm,/" >>"$SAMPLES"
    local drops daemon_notes="no daemon"
    drops=$(grep -o '[0-9]* packets dropped by kernel' "$tdlog" | cut -d' ' -f1 || true)
    case "$pm" in
        # Anything but the plugin's own two lines is mptcpd reporting a problem (a kernel error reply, a lost socket).
        mptcpd) daemon_notes="mptcpd log: $(grep -cv -E '^bench_join: (ready|exit)' "$log" || true) other lines, $(grep -h -o '[0-9]* subflow requests sent' "$log" || echo '? subflow requests sent')" ;;
        smapp) daemon_notes="smapp log: $(grep -c -e ' WRN ' -e ' ERR ' -e ' FTL ' "$log" || true) warnings/errors, $(grep -c 'SUBFLOW_CREATE refused' "$log" || true) SUBFLOW_CREATE refused by the kernel" ;;
    esac
    printf '%s %s: client %s; capture %s, tcpdump dropped %s; %s s; %s\n' "$load" "$pm" "$result" \
        "${stats#joindelay: }" "${drops:-?}" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" \
        "$daemon_notes" >>"$RUNS"
    say "[$tag] $result; ${stats#joindelay: }"
}

LOADS=(idle)
[ "$HOG" = 1 ] && LOADS+=(hog)
for load in "${LOADS[@]}"; do
    if [ "$load" = hog ]; then
        for ((c = 0; c < $(nproc); c++)); do yes >/dev/null & HOGS+=($!); done
        say "hog: ${#HOGS[@]} busy processes (${HOGS[*]})"
    fi
    for pm in "${PM_LIST[@]}"; do measure "$load" "$pm"; done
    if [ "$load" = hog ]; then
        for pid in "${HOGS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
        HOGS=()
    fi
done

# ---- the summary ----
smapp_ver="-"
if [ -n "$SMAPP_DLL" ]; then
    smapp_ver="$SMAPP_DLL${SMAPP_ARGS:+ run $SMAPP_ARGS}"
    if git -C "$(dirname "$SMAPP_DLL")" rev-parse --short HEAD >/dev/null 2>&1; then
        smapp_ver="$smapp_ver ($(git -C "$(dirname "$SMAPP_DLL")" rev-parse --short HEAD) of the tree it sits in)"
    fi
fi
{
    echo "# Reaction benchmark: MP_CAPABLE SYN to MP_JOIN SYN"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) cores; $N sequential connections per path manager" \
        "(after $WARMUP warm-up connections), each waiting up to $WAIT_MS ms for its second subflow;" \
        "load average $LOADAVG_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (other work on the host)."
    echo "Repository $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'); smapp: $smapp_ver;" \
        "mptcpd: $("$MPTCPD" --version 2>/dev/null | head -1 || echo -) with bench/mptcpd-plugin/bench_join.c$( [ "$MPTCPD_RT" = 0 ] || echo ", in SCHED_FIFO $MPTCPD_RT (chrt)")."
    echo
    echo "| load | PM | connections | with join | median ms | p90 ms | p99 ms | added ms (median − kernel median) |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    awk -F, -v pms="$PMS" -v loads="${LOADS[*]}" '
        NR == 1 { next }
        { key = $1 SUBSEP $2; conns[key]++; if ($9 != "") { n[key]++; d[key, n[key]] = $9 + 0 } }
        function q(key, p,   m, h, lo) { m = n[key]; h = (m - 1) * p; lo = int(h); return lo + 1 >= m ? s[lo + 1] : s[lo + 1] + (h - lo) * (s[lo + 2] - s[lo + 1]) }
        END {
            np = split(pms, P, ","); nl = split(loads, L, " ")
            for (li = 1; li <= nl; li++) {
                kmed = ""
                for (pi = 1; pi <= np; pi++) {
                    key = L[li] SUBSEP P[pi]; m = n[key] + 0
                    delete s
                    for (i = 1; i <= m; i++) s[i] = d[key, i]
                    # Shell sort: POSIX awk (mawk) has no asort.
                    gap = int(m / 2)
                    while (gap > 0) { for (i = gap + 1; i <= m; i++) { t = s[i]; j = i; while (j > gap && s[j - gap] > t) { s[j] = s[j - gap]; j -= gap } s[j] = t } gap = int(gap / 2) }
                    if (m > 0) { med = q(key, 0.5); p90 = q(key, 0.9); p99 = q(key, 0.99) }
                    if (P[pi] == "kernel" && m > 0) kmed = med
                    medians[L[li], P[pi]] = (m > 0 ? med : "")
                    added = (m > 0 && kmed != "" && P[pi] != "kernel") ? sprintf("%+.3f", med - kmed) : (P[pi] == "kernel" ? "0 (reference)" : "-")
                    if (m > 0 && kmed != "" && P[pi] != "kernel") add[L[li], P[pi]] = med - kmed
                    share = conns[key] > 0 ? sprintf("%d (%.1f %%)", m, 100 * m / conns[key]) : "-"
                    if (m > 0) printf "| %s | %s | %d | %s | %.3f | %.3f | %.3f | %s |\n", L[li], P[pi], conns[key], share, med, p90, p99, added
                    else printf "| %s | %s | %d | %s | - | - | - | - |\n", L[li], P[pi], conns[key] + 0, share
                }
            }
            print ""
            for (li = 1; li <= nl; li++) {
                if ((L[li], "smapp") in add && (L[li], "mptcpd") in add) {
                    a = add[L[li], "smapp"]; b = add[L[li], "mptcpd"]
                    printf "%s: Smapp added %.3f ms, mptcpd added %.3f ms: ", L[li], a, b
                    if (b > 0) printf "ratio Smapp / mptcpd = %.2f", a / b
                    else printf "no ratio (the mptcpd median is not above the kernel median)"
                    printf "; Smapp median − mptcpd median = %+.3f ms\n\n", a - b
                }
            }
        }' "$SAMPLES"
    echo "Delay: per connection, from its first MP_CAPABLE SYN on wifi to the first MP_JOIN SYN carrying its token, both"
    echo "captured in the client namespace; percentiles interpolated between ranks, over the connections that got a join."
    echo "Every path manager waits for the connection to be fully established (after the first data) before it opens"
    echo "the subflow, so the kernel median is the reference; \"added\" is what each userspace path manager costs beyond"
    echo "it. The ratio divides two small differences: when mptcpd adds little, it swings from run to run; the difference"
    echo "of the medians is the steadier figure."
    echo
    echo "Runs (client: connections made / saw a second subflow within the wait; capture: connections, joins matched by"
    echo "token, joins matching no connection, joins after the next connection's SYN):"
    echo
    sed 's/^/    /' "$RUNS"
} >"$OUT/summary.md"
cat "$OUT/summary.md"
say "results in $OUT (samples.csv, summary.md)"
