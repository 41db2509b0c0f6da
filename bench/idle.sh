#!/usr/bin/env bash
# What a path-manager daemon costs when nothing happens: Smapp (`run`, fullmesh) and mptcpd (with the bench_join
# plugin of bench/mptcpd-plugin/) each alone in a client namespace in userspace mode with no connections. Run as root:
#
#   bench/idle.sh [--seconds 10] [--settle 5] [--smapp-dll PATH] [--out DIR] [--daemons smapp,mptcpd]
#
# The namespaces are the script's own (kernel-pm/testbed.sh up two-path PREFIX: the client has two addresses, as in
# the churn benchmark), removed at exit. Per daemon: start, wait until its generic-netlink socket has joined the
# mptcp_pm events group, let it settle, then measure over the window:
#   CPU      utime+stime (/proc/PID/stat, clock ticks) as % of one core; also the run time the scheduler accounted
#            (sum of /proc/PID/task/*/schedstat), in ms, which has ns resolution
#   wake-ups voluntary + nonvoluntary context switches summed over all threads (/proc/PID/task/*/status), per second
#   threads  /proc/PID/task entries at the end;  VmRSS at the end
# Output: DIR/idle.csv, DIR/summary.md (printed), DIR/logs/ (with the busiest threads by wake-ups).
# Default DIR: bench/results/idle-DATE.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
die() { echo "idle: $*" >&2; exit 1; }
usage() { sed -n '2,17p' "$0" >&2; exit 2; }

SECS=10
SETTLE=5
SMAPP_DLL=""
OUT=""
DAEMONS=smapp,mptcpd
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECS=${2:?}; shift 2 ;;
        --settle) SETTLE=${2:?}; shift 2 ;;
        --smapp-dll) SMAPP_DLL=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        --daemons) DAEMONS=${2:?}; shift 2 ;;
        -h|--help) usage ;;
        *) echo "idle: unknown option $1" >&2; usage ;;
    esac
done
[[ "$SECS" =~ ^[0-9]+$ ]] && [ "$SECS" -ge 1 ] && [ "$SECS" -le 3600 ] || die "--seconds takes 1..3600"
[[ "$SETTLE" =~ ^[0-9]+$ ]] && [ "$SETTLE" -le 600 ] || die "--settle takes 0..600"
[[ "$DAEMONS" =~ ^(smapp|mptcpd)(,(smapp|mptcpd))*$ ]] || die "--daemons takes smapp,mptcpd"
[ "$(id -u)" = 0 ] || die "run as root: it makes network namespaces"

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v sysctl >/dev/null || need+=(procps)
if [[ ",$DAEMONS," == *,mptcpd,* ]]; then
    command -v gcc >/dev/null || need+=(gcc libc6-dev)
    command -v pkg-config >/dev/null || need+=(pkg-config)
    [ -x /usr/libexec/mptcpd ] || command -v mptcpd >/dev/null || need+=(mptcpd)
    [ -f /usr/include/mptcpd/plugin.h ] || need+=(libmptcpd3-dev)
    [ -f /usr/include/ell/ell.h ] || need+=(libell-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "idle: installing ${need[*]}" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null \
        || die "apt-get install ${need[*]} failed"
fi
MPTCPD=/usr/libexec/mptcpd
[ -x "$MPTCPD" ] || MPTCPD=$(command -v mptcpd || true)
if [[ ",$DAEMONS," == *,smapp,* ]]; then
    if [ -z "$SMAPP_DLL" ]; then
        SMAPP_DLL=$ROOT/artifacts/smapp/smapp.dll
        ./smapp --help >/dev/null || die "building Smapp failed (./smapp --help)"
    fi
    [ -f "$SMAPP_DLL" ] || die "no Smapp at $SMAPP_DLL"
    SMAPP_DLL=$(cd "$(dirname "$SMAPP_DLL")" && pwd)/$(basename "$SMAPP_DLL")
fi

[ -n "$OUT" ] || OUT=$ROOT/bench/results/idle-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT/logs" "$OUT/build/plugins"
OUT=$(cd "$OUT" && pwd)
chmod 755 "$OUT/build" "$OUT/build/plugins"
if [[ ",$DAEMONS," == *,mptcpd,* ]]; then
    # shellcheck disable=SC2046
    gcc -O2 -Wall -shared -fPIC -o "$OUT/build/plugins/bench_join.so" bench/mptcpd-plugin/bench_join.c \
        $(pkg-config --cflags --libs mptcpd ell)
fi

PREFIX="id$$"
CLI="$PREFIX-cli"
TESTBED=$ROOT/kernel-pm/testbed.sh
PM_PID=""
TB_UP=0
CLK_TCK=$(getconf CLK_TCK)

stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$PM_PID"
    [ "$TB_UP" = 1 ] && "$TESTBED" down "$PREFIX" >/dev/null 2>&1
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ready() {
    kill -0 "$PM_PID" 2>/dev/null || return 1
    local inodes
    inodes=$(find "/proc/$PM_PID/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | sed 's/socket:\[\(.*\)\]/\1/' | paste -sd' ')
    [ "$(ip netns exec "$CLI" awk -v list="$inodes" '
        BEGIN { n = split(list, a, " "); for (i = 1; i <= n; i++) s[a[i]] = 1 }
        NR > 1 && ($10 in s) && $2 == 16 && $4 != "00000000" { v++ } END { print v + 0 }' /proc/net/netlink)" -gt 0 ]
}

ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# Per thread: "tid comm switches", one line each.
switches() {
    local t
    for t in /proc/"$1"/task/*; do
        awk -v tid="${t##*/}" '$1 == "Name:" { n = substr($0, 7); gsub(/[ \t]/, "_", n) }
            /^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print tid, n, s + 0 }' "$t/status" 2>/dev/null || true
    done
}
# Per thread "tid run-ns": a thread that ends in the window takes its run time with it, so the window's CPU time is the
# growth summed over the threads alive at its end (one born in the window counts from 0).
runtime_ns() { local t; for t in /proc/"$1"/task/*; do [ -r "$t/schedstat" ] && echo "${t##*/} $(cut -d' ' -f1 "$t/schedstat")"; done 2>/dev/null; }

CSV=$OUT/idle.csv
echo "daemon,seconds,cpu_ticks,cpu_pct_of_core,runtime_ms,wakeups,wakeups_per_s,threads,rss_kib,note" >"$CSV"

echo "idle: daemons $DAEMONS, settle $SETTLE s, window $SECS s; namespaces $PREFIX-*; output $OUT" >&2
"$TESTBED" up two-path "$PREFIX" >"$OUT/logs/testbed" 2>&1 || { cat "$OUT/logs/testbed" >&2; die "testbed up failed"; }
TB_UP=1

IFS=, read -r -a LIST <<<"$DAEMONS"
for d in "${LIST[@]}"; do
    log=$OUT/logs/$d
    case "$d" in
        smapp)
            DOTNET_CLI_TELEMETRY_OPTOUT=1 dotnet "$SMAPP_DLL" run --netns "$CLI" --policy fullmesh --log-level warning >"$log.log" 2>&1 </dev/null &
            PM_PID=$! ;;
        mptcpd)
            ip netns exec "$CLI" "$MPTCPD" --plugin-dir="$OUT/build/plugins" --load-plugins=bench_join --path-manager=bench_join \
                --log=stderr >"$log.log" 2>&1 </dev/null &
            PM_PID=$! ;;
    esac
    ok=0
    for ((i = 0; i < 600; i++)); do ready && { ok=1; break; }; sleep 0.1; done
    if [ "$ok" != 1 ]; then
        echo "$d,$SECS,,,,,,,,not ready after 60 s" >>"$CSV"
        cat "$log.log" >&2
        stop_pid "$PM_PID"; PM_PID=""
        continue
    fi
    sleep "$SETTLE"
    c0=$(ticks "$PM_PID"); runtime_ns "$PM_PID" >"$log.run0"; switches "$PM_PID" >"$log.switches0"
    sleep "$SECS"
    c1=$(ticks "$PM_PID"); runtime_ns "$PM_PID" >"$log.run1"; switches "$PM_PID" >"$log.switches1"
    r0=0 r1=$(awk 'NR == FNR { r0[$1] = $2; next } { s += $2 - (($1 in r0) ? r0[$1] : 0) } END { printf "%.0f", s }' "$log.run0" "$log.run1")
    threads=$(find "/proc/$PM_PID/task" -mindepth 1 -maxdepth 1 | wc -l)
    rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$PM_PID/status")
    note=""
    kill -0 "$PM_PID" 2>/dev/null || note="exited"
    stop_pid "$PM_PID"; PM_PID=""
    # Wake-ups: per thread, the growth of its switch count (a thread born in the window counts from 0).
    awk 'NR == FNR { s0[$1] = $3; next } { d = $3 - (($1 in s0) ? s0[$1] : 0); print $1, $2, d }' \
        "$log.switches0" "$log.switches1" | sort -k3,3nr >"$log.wakeups"
    wake=$(awk '{ s += $3 } END { print s + 0 }' "$log.wakeups")
    awk -v d="$d" -v secs="$SECS" -v hz="$CLK_TCK" -v c0="$c0" -v c1="$c1" -v r0="$r0" -v r1="$r1" -v w="$wake" \
        -v th="$threads" -v rss="$rss" -v note="$note" 'BEGIN {
        printf "%s,%d,%d,%.2f,%.1f,%d,%.1f,%d,%d,%s\n", d, secs, c1 - c0, 100 * (c1 - c0) / (hz * secs),
            (r1 - r0) / 1e6, w, w / secs, th, rss, note }' >>"$CSV"
done

{
    echo "# Idle cost, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Host: $(nproc) cores, Linux $(uname -r). Each daemon alone in a two-path client namespace (userspace PM), no connections;"
    echo "settle $SETTLE s after it is up, then a $SECS s window."
    echo
    echo "| daemon | CPU, % of a core (ticks) | CPU time in the window, ms (schedstat) | wake-ups/s (all threads) | threads | VmRSS, MiB |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    awk -F, 'NR > 1 { if ($10 != "" && $3 == "") { printf "| %s | %s |\n", $1, $10; next }
        printf "| %s | %s | %s | %s | %s | %.1f |%s\n", $1, $4, $5, $7, $8, $9 / 1024, ($10 != "" ? " " $10 : "") }' "$CSV"
    for d in "${LIST[@]}"; do
        [ -s "$OUT/logs/$d.wakeups" ] || continue
        echo
        echo "$d, threads that woke up in the window (tid name wake-ups):"
        echo
        awk '$3 > 0 { printf "    %s %s %d\n", $1, $2, $3 }' "$OUT/logs/$d.wakeups" | head -12
    done
} >"$OUT/summary.md"
cat "$OUT/summary.md"
echo "idle: CSV $CSV" >&2
