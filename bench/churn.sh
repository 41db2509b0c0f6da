#!/usr/bin/env bash
# Side-by-side churn benchmark: short MPTCP connections opened at a target rate on the two-path testbed, and how
# many of them get their second subflow from each path manager: the in-kernel PM, mptcpd (with the bench_join
# plugin in bench/mptcpd-plugin/) and Smapp (fullmesh). Run as root from anywhere:
#
#   bench/churn.sh [--rates 1000,2000,4000,6000,8000] [--seconds 10] [--hold-ms 200] [--smapp-dll PATH] [--out DIR]
#                  [--pms none,kernel,mptcpd,smapp] [--ceiling-rates LIST] [--warmup-seconds 1]
#                  [--smapp-args "ARGS"]   more `smapp run` arguments (e.g. "--set smapp.gateway.realtime-priority=0")
#
# Every step (one path manager, one rate) runs on a fresh testbed (kernel-pm/testbed.sh up two-path) with a fresh
# path-manager process:
#   client  PREFIX-cli: wifi 192.0.2.1, cell 198.51.100.1; tcp_max_tw_buckets=0, ip_local_port_range 1024-65535
#   server  PREFIX-srv: 203.0.113.1, in-kernel PM accepting up to 8 subflows; somaxconn, tcp_max_syn_backlog 65535;
#           bench/tools/sink (accept, read to EOF)
#   load    bench/tools/loadgen in the client namespace: RATE connections/s for SECONDS, each writes 64 bytes once
#           connected, holds HOLD ms, then counts its established subflows (MPTCP_TCPINFO) and closes; joined = two
#           subflows in TCP_ESTABLISHED (the CSV's joined_info: MPTCP_INFO mptcpi_subflows >= 1, which also counts
#           a join still in progress)
# Path managers:
#   none    client in userspace mode and nothing running: the generator's own ceiling (rates: --ceiling-rates,
#           default the rates plus 1.25x, 1.5x and 2x the highest)
#   kernel  client in kernel mode: ip mptcp endpoint add 198.51.100.1 dev cell subflow; limits subflow 2
#   mptcpd  client in userspace mode; /usr/libexec/mptcpd --load-plugins=bench_join in the client namespace
#   smapp   client in userspace mode; dotnet SMAPP_DLL run --netns PREFIX-cli --policy fullmesh --log-level warning
# Before each measured step a warm-up of 100 connections/s for --warmup-seconds (not counted; 0 to skip).
# Readiness of a daemon: its generic-netlink socket has joined a multicast group (the mptcp_pm events) in the
# client namespace, seen in /proc/net/netlink.
# Per step: started, joined share, events dropped (the Drops column of the daemon's netlink sockets in
# /proc/net/netlink), the daemon's CPU time (utime+stime, /proc/PID/stat) in ms per 1,000 connections started,
# its VmRSS before and after the step and its VmHWM; the load generator's own CPU time (getrusage) and the kernel
# threads' (ksoftirqd, kworkers: where the in-kernel PM's work runs). Not /proc/stat: on this VM it is tick-sampled
# and reads far too low for short bursts of work.
# Output: DIR/churn.csv, DIR/summary.md (printed), DIR/logs/. Default DIR: bench/results/churn-DATE.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

die() { echo "churn: $*" >&2; exit 1; }
usage() { sed -n '2,31p' "$0" >&2; exit 2; }

RATES=1000,2000,4000,6000,8000
SECS=10
HOLD_MS=200
SMAPP_DLL=""
OUT=""
PMS=none,kernel,mptcpd,smapp
CEILING_RATES=""
WARMUP_S=1
SMAPP_ARGS=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rates) RATES=${2:?}; shift 2 ;;
        --seconds) SECS=${2:?}; shift 2 ;;
        --hold-ms) HOLD_MS=${2:?}; shift 2 ;;
        --smapp-dll) SMAPP_DLL=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        --pms) PMS=${2:?}; shift 2 ;;
        --ceiling-rates) CEILING_RATES=${2:?}; shift 2 ;;
        --warmup-seconds) WARMUP_S=${2:?}; shift 2 ;;
        --smapp-args) SMAPP_ARGS=${2?}; shift 2 ;;
        -h|--help) usage ;;
        *) echo "churn: unknown option $1" >&2; usage ;;
    esac
done
[[ "$RATES" =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--rates takes a comma-separated list of connections/s"
[[ "$SECS" =~ ^[0-9]+$ ]] && [ "$SECS" -ge 1 ] && [ "$SECS" -le 600 ] || die "--seconds takes 1..600"
[[ "$HOLD_MS" =~ ^[0-9]+$ ]] && [ "$HOLD_MS" -le 10000 ] || die "--hold-ms takes 0..10000"
[[ "$WARMUP_S" =~ ^[0-9]+$ ]] && [ "$WARMUP_S" -le 60 ] || die "--warmup-seconds takes 0..60"
[[ "$PMS" =~ ^(none|kernel|mptcpd|smapp)(,(none|kernel|mptcpd|smapp))*$ ]] || die "--pms takes none,kernel,mptcpd,smapp"
[ -z "$CEILING_RATES" ] || [[ "$CEILING_RATES" =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--ceiling-rates takes a list"
IFS=, read -r -a RATE_LIST <<<"$RATES"
for r in "${RATE_LIST[@]}"; do [ "$r" -ge 1 ] && [ "$r" -le 100000 ] || die "rate $r out of 1..100000"; done
if [ -z "$CEILING_RATES" ]; then
    max=0; for r in "${RATE_LIST[@]}"; do [ "$r" -gt "$max" ] && max=$r; done
    CEILING_RATES=$(printf '%s\n' "${RATE_LIST[@]}" $((max * 5 / 4)) $((max * 3 / 2)) $((max * 2)) | sort -n -u | paste -sd,)
fi
IFS=, read -r -a CEILING_LIST <<<"$CEILING_RATES"
[ "$(id -u)" = 0 ] || die "run as root: it makes network namespaces and runs path managers"

# --- what the benchmark needs, from Debian when missing -----------------------------------------------------------
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v sysctl >/dev/null || need+=(procps)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
[ -f /usr/include/linux/mptcp.h ] || need+=(linux-libc-dev)
if [[ ",$PMS," == *,mptcpd,* ]]; then
    [ -x /usr/libexec/mptcpd ] || command -v mptcpd >/dev/null || need+=(mptcpd)
    [ -f /usr/include/mptcpd/plugin.h ] || need+=(libmptcpd3-dev)
    [ -f /usr/include/ell/ell.h ] || need+=(libell-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "churn: installing ${need[*]}" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null \
        || die "apt-get install ${need[*]} failed"
fi
MPTCPD=/usr/libexec/mptcpd
[ -x "$MPTCPD" ] || MPTCPD=$(command -v mptcpd || true)

if [[ ",$PMS," == *,smapp,* ]]; then
    if [ -z "$SMAPP_DLL" ]; then
        SMAPP_DLL=$ROOT/artifacts/smapp/smapp.dll
        ./smapp --help >/dev/null || die "building Smapp failed (./smapp --help)"
    fi
    [ -f "$SMAPP_DLL" ] || die "no Smapp at $SMAPP_DLL"
    SMAPP_DLL=$(cd "$(dirname "$SMAPP_DLL")" && pwd)/$(basename "$SMAPP_DLL")
    command -v dotnet >/dev/null || die "Smapp needs dotnet on PATH"
fi

[ -n "$OUT" ] || OUT=$ROOT/bench/results/churn-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT/logs" "$OUT/build/plugins"
OUT=$(cd "$OUT" && pwd)
BUILD=$OUT/build
chmod 755 "$BUILD" "$BUILD/plugins"   # mptcpd refuses a plugin directory others may write to
gcc -O2 -Wall -o "$BUILD/loadgen" bench/tools/loadgen.c
gcc -O2 -Wall -o "$BUILD/sink" bench/tools/sink.c
if [[ ",$PMS," == *,mptcpd,* ]]; then
    # shellcheck disable=SC2046
    gcc -O2 -Wall -shared -fPIC -o "$BUILD/plugins/bench_join.so" bench/mptcpd-plugin/bench_join.c \
        $(pkg-config --cflags --libs mptcpd ell)
    chmod 755 "$BUILD/plugins/bench_join.so"
fi

# --- the run ----------------------------------------------------------------------------------------------------
PREFIX="ch$$"
CLI="$PREFIX-cli"
SRV="$PREFIX-srv"
PORT=5201
TESTBED=$ROOT/kernel-pm/testbed.sh
PM_PID=""
SINK_PID=""
LG_PID=""
TB_UP=0
CLK_TCK=$(getconf CLK_TCK)

stop_pid() {  # stop_pid PID [seconds]: SIGTERM, wait (bounded), then SIGKILL; only ever a PID this script started
    local pid=$1 t=${2:-10} i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < t * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$LG_PID" 2; stop_pid "$PM_PID" 5; stop_pid "$SINK_PID" 2
    [ "$TB_UP" = 1 ] && "$TESTBED" down "$PREFIX" >/dev/null 2>&1
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Socket inodes held by PID, space-separated.
sock_inodes() { find "/proc/$1/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | sed 's/socket:\[\(.*\)\]/\1/' | paste -sd' '; }

# netlink_sum PID COLUMN: over PID's netlink sockets in the client namespace, the sum of COLUMN of /proc/net/netlink
# (9 = Drops); "ready" as COLUMN: how many of them are generic netlink (16) with a multicast group joined.
netlink_of() {
    local pid=$1 what=$2 inodes
    inodes=$(sock_inodes "$pid")
    ip netns exec "$CLI" awk -v list="$inodes" -v what="$what" '
        BEGIN { n = split(list, a, " "); for (i = 1; i <= n; i++) s[a[i]] = 1 }
        NR > 1 && ($10 in s) { if (what == "ready") { if ($2 == 16 && $4 != "00000000") v++ } else v += $what }
        END { print v + 0 }' /proc/net/netlink
}

proc_cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
proc_status() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# CPU ticks (utime+stime) of all kernel threads (children of kthreadd): ksoftirqd, the kworkers that run the in-kernel
# PM's mptcp_worker, ... Softirq work done on the back of a process is charged to that process, not here.
kthreads_ticks() {  # "pid ticks" per kernel thread
    awk 'FNR == 1 { line = $0; sub(/^.*\) /, "", line); split(line, f, " "); if (f[2] == 2) print substr(FILENAME, 7) + 0, f[12] + f[13]; nextfile }' \
        /proc/[0-9]*/stat 2>/dev/null || true   # a process that exits between the glob and the read makes awk fail
}
# kthreads_delta_ms BEFORE AFTER: the growth summed over threads alive at the end (one born meanwhile counts from 0;
# one that ended meanwhile is missed: an undercount)
kthreads_delta_ms() {
    awk -v hz="$CLK_TCK" 'NR == FNR { a[$1] = $2; next } { d = $2 - (($1 in a) ? a[$1] : 0); if (d > 0) s += d }
        END { printf "%.0f", s * 1000 / hz }' <(printf '%s\n' "$1") <(printf '%s\n' "$2")
}

wait_for() {  # wait_for SECONDS CMD...: polls CMD every 0.1 s
    local t=$1 i; shift
    for ((i = 0; i < t * 10; i++)); do "$@" && return 0; sleep 0.1; done
    return 1
}

pm_ready() { kill -0 "$PM_PID" 2>/dev/null && [ "$(netlink_of "$PM_PID" ready)" -gt 0 ]; }
sink_ready() { grep -qs listening "$1"; }

CSV=$OUT/churn.csv
echo "pm,rate,seconds,hold_ms,offered,started,achieved_rate,connected,joined,joined_pct,failed,fallback,drops,pm_cpu_ms,cpu_ms_per_1000,rss_before_kib,rss_after_kib,rss_peak_kib,pm_log_lines,loadgen_cpu_ms,kthreads_cpu_ms,loadavg,pm_core_pct,elapsed_s,joined_info,note" >"$CSV"

run_step() {
    local pm=$1 rate=$2 log="$OUT/logs/$1-$2"
    local client_pm=userspace note="" drops="n/a" cpu_ms="n/a" per1000="n/a" rss0="n/a" rss1="n/a" hwm="n/a" lines="n/a"
    [ "$pm" = kernel ] && client_pm=kernel
    "$TESTBED" up two-path "$PREFIX" --client-pm "$client_pm" >"$log.testbed" 2>&1 || { cat "$log.testbed" >&2; die "testbed up failed"; }
    TB_UP=1
    ip netns exec "$CLI" sysctl -qw net.ipv4.tcp_max_tw_buckets=0 "net.ipv4.ip_local_port_range=1024 65535"
    ip netns exec "$SRV" sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535
    if [ "$pm" = kernel ]; then
        ip -n "$CLI" mptcp endpoint add 198.51.100.1 dev cell subflow
        ip -n "$CLI" mptcp limits set subflow 2
    fi
    ip netns exec "$SRV" "$BUILD/sink" -p "$PORT" -s $((SECS + WARMUP_S + 120)) >"$log.sink" 2>&1 </dev/null &
    SINK_PID=$!
    wait_for 5 sink_ready "$log.sink" || die "sink did not start: $(cat "$log.sink")"

    case "$pm" in
        mptcpd)
            ip netns exec "$CLI" env ADD_SUBFLOW_LOCAL=198.51.100.1 ADD_SUBFLOW_LOCAL_ID=1 \
                "$MPTCPD" --plugin-dir="$BUILD/plugins" --load-plugins=bench_join --path-manager=bench_join \
                --log=stderr >"$log.pm" 2>&1 </dev/null &
            PM_PID=$! ;;
        smapp)
            # shellcheck disable=SC2086
            DOTNET_CLI_TELEMETRY_OPTOUT=1 dotnet "$SMAPP_DLL" run --netns "$CLI" --policy fullmesh --log-level warning $SMAPP_ARGS \
                >"$log.pm" 2>&1 </dev/null &
            PM_PID=$! ;;
    esac
    if [ -n "$PM_PID" ]; then
        wait_for 60 pm_ready || { note="$pm not ready after 60 s"; echo "churn: $note; log:" >&2; cat "$log.pm" >&2; }
    fi

    if [ "$WARMUP_S" -gt 0 ] && [ -z "$note" ]; then
        local wr=100; [ "$rate" -lt $wr ] && wr=$rate
        ip netns exec "$CLI" "$BUILD/loadgen" -a 203.0.113.1 -p "$PORT" -r "$wr" -s "$WARMUP_S" -H "$HOLD_MS" >"$log.warmup" 2>&1 || true
        sleep 0.5
    fi

    local t0 h0 l0 d0=0 c0=0 load
    load=$(cut -d' ' -f1 /proc/loadavg)
    if [ -n "$PM_PID" ] && [ -z "$note" ]; then
        c0=$(proc_cpu_ticks "$PM_PID"); rss0=$(proc_status "$PM_PID" VmRSS); d0=$(netlink_of "$PM_PID" 9)
        l0=$(wc -l <"$log.pm")
    fi
    h0=$(kthreads_ticks)
    local out=""
    if [ -z "$note" ]; then
        ip netns exec "$CLI" "$BUILD/loadgen" -a 203.0.113.1 -p "$PORT" -r "$rate" -s "$SECS" -H "$HOLD_MS" >"$log.loadgen" 2>&1 </dev/null &
        LG_PID=$!
        wait "$LG_PID" || note="loadgen exit $?"
        LG_PID=""
        out=$(tail -1 "$log.loadgen")
    fi
    local h1; h1=$(kthreads_ticks)
    if [ -n "$PM_PID" ] && [ -z "$note" ]; then
        if kill -0 "$PM_PID" 2>/dev/null; then
            local c1 d1
            c1=$(proc_cpu_ticks "$PM_PID"); rss1=$(proc_status "$PM_PID" VmRSS); hwm=$(proc_status "$PM_PID" VmHWM)
            d1=$(netlink_of "$PM_PID" 9)
            drops=$((d1 - d0))
            cpu_ms=$(((c1 - c0) * 1000 / CLK_TCK))
            lines=$(($(wc -l <"$log.pm") - l0))
        else
            note="$pm exited during the step"
        fi
    fi
    stop_pid "$PM_PID" 10; PM_PID=""
    stop_pid "$SINK_PID" 5; SINK_PID=""
    "$TESTBED" down "$PREFIX" >/dev/null 2>&1; TB_UP=0

    local offered=0 started=0 achieved_rate=0 connected=0 joined=0 joined_info=0 failed=0 fallback=0 lg_cpu_ms=0 elapsed_s=0 kv
    for kv in $out; do
        case "${kv%%=*}" in
            offered|started|achieved_rate|connected|joined|joined_info|failed|fallback|elapsed_s) printf -v "${kv%%=*}" '%s' "${kv#*=}" ;;
            cpu_ms) lg_cpu_ms=${kv#*=} ;;
        esac
    done
    local pct="0.0"
    [ "$started" -gt 0 ] && pct=$(awk -v j="$joined" -v s="$started" 'BEGIN { printf "%.1f", 100 * j / s }')
    if [ "$cpu_ms" != n/a ] && [ "$started" -gt 0 ]; then
        per1000=$(awk -v c="$cpu_ms" -v s="$started" 'BEGIN { printf "%.0f", c * 1000 / s }')
    fi
    local busy core="n/a"  # busy: kernel threads' CPU ms during the step
    [ "$cpu_ms" != n/a ] && core=$(awk -v c="$cpu_ms" -v e="$elapsed_s" 'BEGIN { printf "%.0f", (e > 0 ? c / (10 * e) : 0) }')
    busy=$(kthreads_delta_ms "$h0" "$h1")
    echo "$pm,$rate,$SECS,$HOLD_MS,$offered,$started,$achieved_rate,$connected,$joined,$pct,$failed,$fallback,$drops,$cpu_ms,$per1000,$rss0,$rss1,$hwm,$lines,$lg_cpu_ms,$busy,$load,$core,$elapsed_s,$joined_info,$note" >>"$CSV"
    printf 'churn: %-6s %6s/s  started %7s  joined %6s%%  failed %5s  drops %4s  cpu %5s ms/1000  rss %s->%s KiB  pm %s%% of a core  loadgen %s ms%s\n' \
        "$pm" "$rate" "$started" "$pct" "$failed" "$drops" "$per1000" "$rss0" "$rss1" "$core" "$lg_cpu_ms" "${note:+  ($note)}" >&2
    sleep 1   # let the kernel finish tearing the namespaces down
}

echo "churn: rates $RATES, $SECS s per step, hold $HOLD_MS ms; path managers $PMS; namespaces $PREFIX-*; output $OUT" >&2
IFS=, read -r -a PM_LIST <<<"$PMS"
for pm in "${PM_LIST[@]}"; do
    if [ "$pm" = none ]; then list=("${CEILING_LIST[@]}"); else list=("${RATE_LIST[@]}"); fi
    for rate in "${list[@]}"; do run_step "$pm" "$rate"; done
done

# --- summary ----------------------------------------------------------------------------------------------------
# Verdict of a step. PMs: pass = >= 99 % of the started connections joined and no event lost; the generator alone:
# pass = >= 99 % of the offered connections started and connected. "offered" notes when < 99 % of the offered rate
# could be started (the 2-core host ran out of CPU beside the path manager's work).
summary_awk='
    BEGIN { FS = "," }
    NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    function v(name) { return $(c[name]) }
    function verdict(   s, under) {
        under = (v("offered") > 0 && v("started") < 0.99 * v("offered"))
        if (v("pm") == "none") return (under || v("connected") < 0.99 * v("started")) ? "falls behind" : "pass"
        s = ""
        if (v("drops") != "n/a" && v("drops") > 0) s = "lost events"
        if (v("joined_pct") < 99.0) s = s (s ? ", " : "") "joined < 99 %"
        if (v("note") != "") s = s (s ? ", " : "") v("note")
        if (s == "") s = "pass"
        if (under) s = s sprintf(" (offered: %.0f %% started)", 100 * v("started") / v("offered"))
        return s
    }'
{
    echo "# Churn benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Host: $(nproc) cores, Linux $(uname -r). $SECS s per step, hold $HOLD_MS ms, one fresh two-path testbed and path-manager process per step."
    [ -z "$SMAPP_DLL" ] || echo "Smapp: \`$SMAPP_DLL\` (run --policy fullmesh --log-level warning${SMAPP_ARGS:+ $SMAPP_ARGS})."
    [[ ",$PMS," != *,mptcpd,* ]] || echo "mptcpd: $("$MPTCPD" --version 2>/dev/null | head -1 || echo '?') with bench/mptcpd-plugin/bench_join."
    echo "Load generator: bench/tools/loadgen (C, epoll, non-blocking MPTCP sockets, 64 bytes per connection); warm-up $WARMUP_S s at 100/s before each step, not counted."
    echo
    echo "| path manager | offered/s | started | achieved/s | joined % | failed | events dropped | PM CPU ms per 1,000 conns | PM CPU, % of a core | PM RSS before → after (peak), MiB | load generator CPU, % of a core | kernel threads CPU, % of a core | verdict |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    awk "$summary_awk"'
        {
            rss = (v("rss_before_kib") == "n/a") ? "n/a" : sprintf("%.0f → %.0f (%.0f)", v("rss_before_kib") / 1024, v("rss_after_kib") / 1024, v("rss_peak_kib") / 1024)
            e = v("elapsed_s")
            lg = (e > 0) ? sprintf("%.0f", v("loadgen_cpu_ms") / (10 * e)) : "n/a"
            kt = (e > 0) ? sprintf("%.0f", v("kthreads_cpu_ms") / (10 * e)) : "n/a"
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", v("pm"), v("rate"), v("started"),
                v("achieved_rate"), v("joined_pct"), v("failed"), v("drops"), v("cpu_ms_per_1000"), v("pm_core_pct"), rss, lg, kt, verdict()
        }' "$CSV"
    echo
    echo "Verdict: a path manager passes a step when ≥ 99 % of the connections started got their second subflow and it lost no"
    echo "event; \"offered\" marks a step where fewer than 99 % of the offered connections could be started (the host's two"
    echo "cores ran out beside the path manager's work: the rate actually tested is the achieved one). Highest rate: over"
    echo "the passing steps up to the first failing one, the highest achieved rate (and the offered rate of that step)."
    echo
    awk "$summary_awk"'
        {
            pm = v("pm")
            if (!(pm in seen)) { order[++n] = pm; seen[pm] = 1 }
            ok = (verdict() ~ /^pass/)
            if (ok && !broken[pm]) {
                if (v("achieved_rate") + 0 > best[pm] + 0) { best[pm] = v("achieved_rate"); at[pm] = v("rate") }
                if (verdict() ~ /offered/) capped[pm] = 1
            } else if (!ok && !broken[pm]) { broken[pm] = 1; first_fail[pm] = v("rate") ": " verdict() }
        }
        END {
            for (i = 1; i <= n; i++) {
                pm = order[i]
                label = (pm == "none") ? "generator alone (no path manager), started and connected in full" : pm
                r = best[pm] ? sprintf("%d/s (offered %d/s)", best[pm], at[pm]) : "none of the tested rates"
                why = broken[pm] ? "; first failing step " first_fail[pm] : "; every tested rate passed"
                if (capped[pm]) why = why "; bounded by the host, not by the path manager: the generator could not start the offered rate"
                printf "- %s: %s%s\n", label, r, why
            }
            if (best["kernel"] > 0) {
                if ("smapp" in seen) printf "- Smapp: %.0f %% of the in-kernel PM'"'"'s rate\n", 100 * best["smapp"] / best["kernel"]
                if ("mptcpd" in seen) printf "- mptcpd: %.0f %% of the in-kernel PM'"'"'s rate\n", 100 * best["mptcpd"] / best["kernel"]
            }
        }' "$CSV"
} >"$OUT/summary.md"
cat "$OUT/summary.md"
echo "churn: CSV $CSV" >&2
