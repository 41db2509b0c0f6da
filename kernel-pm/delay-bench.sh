#!/usr/bin/env bash
# What the testbed's delay (--delay; on this kernel the NFQUEUE delay line) adds, on the two-path topology:
#   1. ping RTT on wifi with --delay wifi=MS (expect 2 x MS + base) and on the undelayed cell path;
#   2. one-way delay and jitter of a paced UDP stream (owd.py): 8 Mbit/s on an unshaped wifi (the delay line
#      alone), and 7 Mbit/s on a wifi shaped to 8 Mbit/s (with tbf), each with and without the delay;
#   3. TCP throughput (iperf3) on that shaped wifi, with and without the delay;
#   4. the ceiling: TCP (iperf3, 1 and 4 flows) on an unshaped wifi with the delay and without, with the veth
#      offloads on (GSO packets) and off (MTU-sized packets, as the shaped links have).
# Each delay line's --stats line (packets, deepest queue, verdict errors, ENOBUFS, lateness) is printed when its
# testbed goes down. Needs root, iperf3 and ping (apt-get install iperf3 iputils-ping).
#   sudo kernel-pm/delay-bench.sh [MS] [SECONDS] [SECTIONS]     (defaults: 20 ms, 10 s, 1234)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tb="$here/testbed.sh"
ms=${1:-20}
secs=${2:-10}
sections=${3:-1234}
want() { [[ "$sections" == *"$1"* ]]; }
P="db$$"
for c in iperf3 ping python3; do command -v "$c" >/dev/null || { echo "delay-bench: needs $c" >&2; exit 1; }; done
trap '"$tb" down "$P" >/dev/null 2>&1 || true' EXIT

up() { "$tb" up two-path "$P" "$@" > /dev/null; }
down() { "$tb" down "$P" 2>&1 | sed 's/^testbed: /    /'; }
ping_rtt() { ip netns exec "$P-cli" ping -q -n -c "$2" -i 0.01 -I "$1" 203.0.113.1 | tail -1; }
tcp() {
    ip netns exec "$P-srv" iperf3 -s -1 -p 5201 > /dev/null 2>&1 &
    local srv=$!
    sleep 0.5
    ip netns exec "$P-cli" iperf3 -c 203.0.113.1 -B 192.0.2.1 -t "$secs" -f m "$@" | grep receiver | tail -1 | sed 's/^/    /'
    wait "$srv" || true
}
offloads_off() { local a; for a in "cli wifi" "rtr wifi" "rtr srv" "srv srv"; do set -- $a; ip netns exec "$P-$1" ethtool -K "$2" tso off gso off gro off > /dev/null 2>&1 || true; done; }

echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
if want 1; then
echo "== 1. ping RTT, --delay wifi=$ms (500 pings, 10 ms apart)"
up --delay "wifi=$ms"
echo "  wifi: $(ping_rtt 192.0.2.1 500)"
echo "  cell: $(ping_rtt 198.51.100.1 500)"
down
fi

if want 2; then
echo "== 2. one-way delay and jitter of paced UDP (1200-byte packets, ${secs} s)"
owd() { "$here/owd.py" --send-ns "$P-cli" --from 192.0.2.1 --recv-ns "$P-srv" --to 203.0.113.1 --rate "$1" --seconds "$secs"; }
up
echo "  unshaped, no delay, 8 Mbit/s:        $(owd 8)"
down
up --delay "wifi=$ms"
echo "  unshaped, delay $ms ms, 8 Mbit/s:     $(owd 8)"
down
up --rate wifi=8mbit
echo "  wifi=8mbit, no delay, 7 Mbit/s:      $(owd 7)"
down
up --rate wifi=8mbit --delay "wifi=$ms"
echo "  wifi=8mbit, delay $ms ms, 7 Mbit/s:   $(owd 7)"
down
fi

if want 3; then
echo "== 3. TCP (iperf3, ${secs} s), wifi shaped to 8mbit"
up --rate wifi=8mbit
echo "  no delay:"; tcp
down
up --rate wifi=8mbit --delay "wifi=$ms"
echo "  delay $ms ms:"; tcp
down
fi

if want 4; then
echo "== 4. ceiling: TCP on an unshaped wifi"
for off in on off; do
    up
    [ "$off" = off ] && offloads_off
    echo "  offloads $off, no delay: 1 flow / 4 flows"; tcp; tcp -P 4
    down
    up --delay "wifi=$ms"
    [ "$off" = off ] && offloads_off
    echo "  offloads $off, delay $ms ms: 1 flow / 4 flows"; tcp; tcp -P 4
    down
done
fi
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
