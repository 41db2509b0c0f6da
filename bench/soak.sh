#!/usr/bin/env bash
# Soak: one Smapp daemon (fullmesh, default logging) on the two-path testbed through a long churn and a long hold,
# with its own view sampled over its status socket before, during and after each phase. Run as root from anywhere:
#
#   bench/soak.sh [--churn 100000] [--rate 1000] [--held 10000] [--hold-seconds 60] [--smapp-dll PATH] [--out DIR]
#
# Phases (bench/tools/loadgen in the client namespace, bench/tools/sink on the server, as bench/churn.sh):
#   warm-up  200 connections at 100/s, then the baseline sample
#   churn    --churn connections at --rate per second, each held 200 ms (64 bytes, then counts its subflows)
#   held     --held connections opened at 2,000/s and each held --hold-seconds; sampled while they are all open
#   settle   10 s after the last phase, then the end sample
# Per sample (smapp status --json): connection slots and actors, connections, managed heap, GC heap, resident memory,
# threads, events, commands, resyncs, dropped events. Per phase: started, joined (two established subflows), the
# events the kernel dropped for the daemon (/proc/net/netlink). The daemon's log: lines in all and lines above info.
# Output: DIR/samples.csv, DIR/summary.md (printed), DIR/logs/. Default DIR: bench/results/soak-DATE.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
die() { echo "soak: $*" >&2; exit 1; }
usage() { sed -n '2,16p' "$0" >&2; exit 2; }

CHURN=100000 RATE=1000 HELD=10000 HOLD_S=60 SMAPP_DLL="" OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --churn) CHURN=${2:?}; shift 2 ;;
        --rate) RATE=${2:?}; shift 2 ;;
        --held) HELD=${2:?}; shift 2 ;;
        --hold-seconds) HOLD_S=${2:?}; shift 2 ;;
        --smapp-dll) SMAPP_DLL=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        -h|--help) usage ;;
        *) echo "soak: unknown option $1" >&2; usage ;;
    esac
done
for v in CHURN RATE HELD HOLD_S; do
    [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "--${v,,} must be a positive integer (got '${!v}')"
done
[ "$(id -u)" = 0 ] || die "run as root (network namespaces)"
command -v gcc >/dev/null || die "needs gcc (apt-get install gcc libc6-dev)"
command -v python3 >/dev/null || die "needs python3 (to read smapp status --json)"
if [ -z "$SMAPP_DLL" ]; then
    SMAPP_DLL=$ROOT/artifacts/smapp/smapp.dll
    ./smapp --help >/dev/null || die "building Smapp failed (./smapp --help)"
fi
[ -f "$SMAPP_DLL" ] || die "no Smapp at $SMAPP_DLL"
SMAPP_DLL=$(cd "$(dirname "$SMAPP_DLL")" && pwd)/$(basename "$SMAPP_DLL")

[ -n "$OUT" ] || OUT=$ROOT/bench/results/soak-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT/logs" "$OUT/build"
OUT=$(cd "$OUT" && pwd)
BUILD=$OUT/build
gcc -O2 -Wall -o "$BUILD/loadgen" bench/tools/loadgen.c
gcc -O2 -Wall -o "$BUILD/sink" bench/tools/sink.c

PREFIX="sk$$" CLI="sk$$-cli" SRV="sk$$-srv" PORT=5201 TESTBED=$ROOT/kernel-pm/testbed.sh
PM_PID="" SINK_PID="" LG_PID="" TB_UP=0
SOCK=/run/smapp/soak-$$.sock

stop_pid() {  # SIGTERM a PID this script started, bounded wait, then SIGKILL
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
    stop_pid "$LG_PID" 2; stop_pid "$PM_PID" 10; stop_pid "$SINK_PID" 2
    [ "$TB_UP" = 1 ] && "$TESTBED" down "$PREFIX" >/dev/null 2>&1
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { local t=$1 i; shift; for ((i = 0; i < t * 10; i++)); do "$@" && return 0; sleep 0.1; done; return 1; }
sock_inodes() { find "/proc/$1/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | sed 's/socket:\[\(.*\)\]/\1/' | paste -sd' '; }
drops_of() {  # the Drops column of the daemon's netlink sockets in the client namespace
    ip netns exec "$CLI" awk -v list="$(sock_inodes "$1")" 'BEGIN { n = split(list, a, " "); for (i = 1; i <= n; i++) s[a[i]] = 1 }
        NR > 1 && ($10 in s) { v += $9 } END { print v + 0 }' /proc/net/netlink
}

CSV=$OUT/samples.csv
echo "label,t_s,slots,actors,connections,heap_mib,gc_heap_mib,rss_mib,threads,events,commands_sent,commands_failed,resyncs,dropped_events,log_lines" >"$CSV"
T0=$(date +%s.%N)
sample() {  # sample LABEL: one row from smapp status --json
    local label=$1 json
    json=$(dotnet "$SMAPP_DLL" status --socket "$SOCK" --json 2>"$OUT/logs/status-$label.err") || die "smapp status failed at $label: $(cat "$OUT/logs/status-$label.err")"
    printf '%s' "$json" >"$OUT/logs/status-$label.json"
    python3 - "$label" "$T0" "$(wc -l <"$OUT/logs/smapp.log")" "$OUT/logs/status-$label.json" >>"$CSV" <<'PY'
import json, sys, time
label, t0, lines = sys.argv[1], float(sys.argv[2]), sys.argv[3]
r = json.load(open(sys.argv[4]))
p, g = r["process"], r["gateway"]
mib = lambda b: f"{b / 1048576:.1f}"
print(",".join(str(x) for x in [label, f"{time.time() - t0:.1f}", p["slots"], p["actors"], len(r["connections"]), mib(p["heap_bytes"]),
      mib(p["gc_heap_bytes"]), mib(p["rss_bytes"]), p["threads"], g["events"], g["commands_sent"], g["commands_failed"], g["resyncs"],
      g["dropped_events"], lines]))
PY
    tail -1 "$CSV" | sed 's/^/soak: sample /' >&2
}

PHASES=$OUT/phases.txt
: >"$PHASES"
phase() {  # phase NAME RATE SECONDS HOLD_MS [SAMPLE_AFTER_S]: a loadgen run; with SAMPLE_AFTER_S, a sample mid-run
    local name=$1 rate=$2 secs=$3 hold=$4 mid=${5:-} d0 d1 out
    d0=$(drops_of "$PM_PID")
    ip netns exec "$CLI" "$BUILD/loadgen" -a 203.0.113.1 -p "$PORT" -r "$rate" -s "$secs" -H "$hold" -t 10000 >"$OUT/logs/loadgen-$name.log" 2>&1 </dev/null &
    LG_PID=$!
    if [ -n "$mid" ]; then
        sleep "$mid"
        sample "$name-mid"
    fi
    wait "$LG_PID" || echo "soak: loadgen $name exited $?" >&2
    LG_PID=""
    d1=$(drops_of "$PM_PID")
    out=$(tail -1 "$OUT/logs/loadgen-$name.log")
    echo "$name $out drops=$((d1 - d0))" >>"$PHASES"
    echo "soak: $name: $out drops=$((d1 - d0))" >&2
}

"$TESTBED" up two-path "$PREFIX" >"$OUT/logs/testbed.log" 2>&1 || { cat "$OUT/logs/testbed.log" >&2; die "testbed up failed"; }
TB_UP=1
ip netns exec "$CLI" sysctl -qw net.ipv4.tcp_max_tw_buckets=0 "net.ipv4.ip_local_port_range=1024 65535"
ip netns exec "$SRV" sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true   # loadgen raises its own limit too; 10,000 held connections need as many descriptors
ip netns exec "$SRV" "$BUILD/sink" -p "$PORT" -s $((CHURN / RATE + HOLD_S + 600)) >"$OUT/logs/sink.log" 2>&1 </dev/null &
SINK_PID=$!
wait_for 5 grep -qs listening "$OUT/logs/sink.log" || die "sink did not start"

# The daemon as an operator runs it: default log level, fullmesh; its status socket moved to a path of this run's.
DOTNET_CLI_TELEMETRY_OPTOUT=1 dotnet "$SMAPP_DLL" run --netns "$CLI" --policy fullmesh --set "smapp.status.socket=\"$SOCK\"" \
    >"$OUT/logs/smapp.log" 2>&1 </dev/null &
PM_PID=$!
wait_for 60 test -S "$SOCK" || die "smapp did not open its status socket: $(cat "$OUT/logs/smapp.log")"
sleep 1

phase warmup 100 2 200
sleep 2
sample baseline
churn_secs=$(((CHURN + RATE - 1) / RATE))
phase churn "$RATE" "$churn_secs" 200 $((churn_secs / 2))
sleep 10
sample after-churn
held_secs=$(((HELD + 1999) / 2000))
phase held 2000 "$held_secs" $((HOLD_S * 1000)) $((held_secs + HOLD_S / 2))
sleep 10
sample end

kill -0 "$PM_PID" 2>/dev/null || die "smapp exited during the soak: $(tail -20 "$OUT/logs/smapp.log")"
stop_pid "$PM_PID" 15; PM_PID=""
above=$(grep -cE ' (WRN|ERR|FTL) ' "$OUT/logs/smapp.log" || true)
lines=$(wc -l <"$OUT/logs/smapp.log")

{
    echo "# soak: one Smapp daemon through a churn and a hold"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M') UTC, kernel $(uname -r), $(nproc) cores; \`bench/soak.sh --churn $CHURN --rate $RATE --held $HELD --hold-seconds $HOLD_S\`;"
    echo "smapp run --netns CLIENT --policy fullmesh (default log level). Joined: the connection had two established subflows when it counted them."
    echo
    echo "| phase | started | joined | joined % | failed | events dropped |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    while read -r name rest; do
        declare -A kv=()
        for pair in $rest; do kv[${pair%%=*}]=${pair#*=}; done
        pct=$(awk -v j="${kv[joined]:-0}" -v s="${kv[started]:-0}" 'BEGIN { printf "%.2f", (s > 0 ? 100 * j / s : 0) }')
        echo "| $name | ${kv[started]:-?} | ${kv[joined]:-?} | $pct | ${kv[failed]:-?} | ${kv[drops]:-?} |"
        unset kv
    done <"$PHASES"
    echo
    echo "| sample | t (s) | slots | actors | connections | managed heap (MiB) | GC heap (MiB) | resident (MiB) | threads | events | commands | failed | resyncs | dropped | log lines |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    tail -n +2 "$CSV" | awk -F, '{ printf "| %s |", $1; for (i = 2; i <= NF; i++) printf " %s |", $i; print "" }'
    echo
    echo "Log: $lines lines in all, $above at warning or above (logs/smapp.log)."
} >"$OUT/summary.md"
cat "$OUT/summary.md"
