#!/usr/bin/env bash
# Captures the nfnetlink_queue fixtures (nfq-*.hex) from the running kernel: the queue bind request as smapp sends
# it and the kernel's ACK, a verdict for an id no packet has and the kernel's ENOENT, one real NFQNL_MSG_PACKET (a
# ping forwarded by the router, metadata only), its verdict, and the unbind request and ACK.
# Run as root from the repository root after a build:  Smapp.Tests/Fixtures/capture-nfqueue.sh
# It brings up its own two-path testbed (namespaces fq<pid>-*) and removes it at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=Smapp.Tests/Fixtures
smapp="dotnet Smapp.Host/bin/Debug/net10.0/smapp.dll"
p="fq$$"
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; kernel-pm/testbed.sh down "$p" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT

kernel-pm/testbed.sh up two-path "$p" > /dev/null
ip netns exec "$p-rtr" iptables -w -t mangle -A FORWARD -i wifi -j NFQUEUE --queue-num 9 --queue-bypass
SMAPP_NETLINK_TRACE=1 $smapp delayline --netns "$p-rtr" --queue 9 --delay 1 --timeout 4 2> "$tmp/trace" > /dev/null & pid=$!
for _ in $(seq 100); do
    ip netns exec "$p-rtr" awk '$1 == 9 { f = 1 } END { exit !f }' /proc/net/netfilter/nfnetlink_queue && break
    sleep 0.1
done
sleep 0.5
ip netns exec "$p-cli" ping -c 1 -W 2 -I 192.0.2.1 203.0.113.1 > /dev/null
wait "$pid" || true
pid=""

python3 - "$tmp/trace" "$out" <<'PY'
import os, sys
trace, out = sys.argv[1], sys.argv[2]
lines = [l.split(" ", 2) for l in open(trace).read().splitlines() if l.startswith(("nl> proto=12 ", "nl< proto=12 "))]
msgs = [(d, h) for d, _, h in lines]
def mtype(h): return int(h[10:12] + h[8:10], 16)
def seq(h): return h[16:24]
def save(name, desc, hexes):
    with open(os.path.join(out, name + ".hex"), "w") as f:
        f.write("# " + desc + "\n")
        for h in hexes:
            f.write(h + "\n")
def first(pred):
    return next(i for i, m in enumerate(msgs) if pred(m))
bind = first(lambda m: m[0] == "nl>" and mtype(m[1]) == 0x0302)
save("nfq-config-bind-request", "NFQNL_MSG_CONFIG as smapp sends it: NFQNL_CFG_CMD_BIND queue 9, NFQNL_COPY_META, maxlen 65536, flags FAIL_OPEN|GSO", [msgs[bind][1]])
ack = first(lambda m: m[0] == "nl<" and mtype(m[1]) == 2 and seq(m[1]) == seq(msgs[bind][1]))
save("nfq-config-ack", "The kernel's ACK (NLMSG_ERROR, errno 0, capped) of the bind", [msgs[ack][1]])
probe = first(lambda m: m[0] == "nl>" and mtype(m[1]) == 0x0301)
save("nfq-verdict-id0", "NFQNL_MSG_VERDICT NF_ACCEPT for id 0 (no packet has it: the delay line's warm-up), as smapp sends it", [msgs[probe][1]])
enoent = first(lambda m: m[0] == "nl<" and mtype(m[1]) == 2 and seq(m[1]) == seq(msgs[probe][1]))
save("nfq-verdict-enoent", "The kernel's refusal of that verdict: NLMSG_ERROR -ENOENT", [msgs[enoent][1]])
packet = first(lambda m: m[0] == "nl<" and mtype(m[1]) == 0x0300)
save("nfq-packet", "NFQNL_MSG_PACKET: an ICMP echo request 192.0.2.1 -> 203.0.113.1 forwarded by the router in from wifi (queue 9, hook FORWARD, metadata only)", [msgs[packet][1]])
verdict = first(lambda m: m[0] == "nl>" and mtype(m[1]) in (0x0301, 0x0303) and m[1][-8:] != "00000000")
save("nfq-verdict", "The delay line's NF_ACCEPT for that packet", [msgs[verdict][1]])
unbind = [i for i, m in enumerate(msgs) if m[0] == "nl>" and mtype(m[1]) == 0x0302][-1]
save("nfq-config-unbind-request", "NFQNL_MSG_CONFIG NFQNL_CFG_CMD_UNBIND queue 9", [msgs[unbind][1]])
print("fixtures:", sorted(f for f in os.listdir(out) if f.startswith("nfq-")))
PY
