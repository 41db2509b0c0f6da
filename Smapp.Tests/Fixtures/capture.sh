#!/usr/bin/env bash
# Captures the golden netlink fixtures in this folder from the running kernel: real mptcp_pm events from both
# ends of a connection, command replies (an ACK with extended-ack text, GET_ADDR, GET_LIMITS), the nlctrl
# family reply, rtnetlink address/link messages and sock_diag dump replies.
# Run as root from the repository root after a build:  Smapp.Tests/Fixtures/capture.sh
# It brings up its own two-path testbed (namespaces fx<pid>-*) and removes it at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=Smapp.Tests/Fixtures
smapp="dotnet Smapp.Host/bin/Debug/net10.0/smapp.dll"
p="fx$$"
tmp=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; kernel-pm/testbed.sh down "$p" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT

kernel-pm/testbed.sh up two-path "$p" --ipv6 > "$tmp/testbed"
cli="$p-cli"; srv="$p-srv"
$smapp monitor --netns "$cli" --json --raw --timeout 14 > "$tmp/cli.mon" 2>/dev/null & pids+=($!)
$smapp monitor --netns "$srv" --json --raw --timeout 14 > "$tmp/srv.mon" 2>/dev/null & pids+=($!)
$smapp traffic server --netns "$srv" > /dev/null 2>&1 & pids+=($!)
sleep 1.5
$smapp traffic client --netns "$cli" --to 203.0.113.1:5201 --hold 7000 > /dev/null & pids+=($!)
sleep 0.7
token=$(grep -m1 '"event":"created"' "$tmp/cli.mon" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["token"])')
export SMAPP_NETLINK_TRACE=1
$smapp ctl subflow add --netns "$cli" --token "$token" --local 198.51.100.1 --local-id 2 --remote 203.0.113.1:5201 2> "$tmp/create.trace" >/dev/null
sleep 0.3
sport=$($smapp ctl list --netns "$cli" --json 2> "$tmp/list.trace" | python3 -c 'import json,sys; d=json.loads(sys.stdin.readline()); print([s["sport"] for s in d["subflows"] if s["saddr"]=="198.51.100.1"][0])')
$smapp ctl subflow backup on --netns "$cli" --token "$token" --local "198.51.100.1:$sport" --remote 203.0.113.1:5201 2> "$tmp/backup.trace" >/dev/null
sleep 0.2
ip -n "$srv" mptcp endpoint add 203.0.113.1 port 5300 signal id 7
sleep 0.3
$smapp ctl endpoint show --netns "$srv" 2> "$tmp/getaddr.trace" >/dev/null
$smapp ctl limits --netns "$srv" 2> "$tmp/limits.trace" >/dev/null
ip -n "$srv" mptcp endpoint del id 7
sleep 0.3
$smapp ctl subflow add --netns "$cli" --token "$token" --local 198.51.100.1 --local-id 2 --remote 203.0.113.1:5999 2>/dev/null >/dev/null || true
sleep 0.3
$smapp ctl subflow del --netns "$cli" --token "$token" --local "198.51.100.1:$sport" --remote 203.0.113.1:5201 2>/dev/null >/dev/null
$smapp ctl subflow add --netns "$cli" --token 1 --local 198.51.100.1 --local-id 2 --remote 203.0.113.1:5201 2> "$tmp/badtoken.trace" >/dev/null || true
unset SMAPP_NETLINK_TRACE
ip -n "$cli" addr add 192.0.2.9/28 dev wifi
ip -n "$cli" addr del 192.0.2.9/28 dev wifi
ip -n "$cli" link set cell down
ip -n "$cli" link set cell up
$smapp traffic client --netns "$cli" --to '[2001:db8:3::1]:5201' --bytes 1000 > /dev/null
wait "${pids[3]}" || true
sleep 1
wait "${pids[0]}" "${pids[1]}" || true

python3 - "$tmp" "$out" <<'PY'
import json, os, sys
tmp, out = sys.argv[1], sys.argv[2]
def events(side):
    lines = open(os.path.join(tmp, side + ".mon")).read().splitlines()
    res = []
    for i, l in enumerate(lines):
        if l.startswith("{") and i + 1 < len(lines) and lines[i + 1].startswith("  raw "):
            res.append((json.loads(l), lines[i + 1][6:]))
    return res
def save(name, desc, hexes):
    with open(os.path.join(out, name + ".hex"), "w") as f:
        f.write("# " + desc + "\n")
        for h in hexes:
            f.write(h + "\n")
seen = set()
for side in ("cli", "srv"):
    for ev, h in events(side):
        name = ev["event"]
        if name in ("addr_added", "addr_removed", "link_up", "link_down"):
            key = f"rtnl-{name}"
        else:
            fam = ev.get("family", "")
            extra = "-v6" if fam == "inet6" else ""
            extra += "-error" if ev.get("error") else ""
            key = f"event-{side}-{name}{extra}"
        if key in seen:
            continue
        seen.add(key)
        save(key, f"{name} as the {'client' if side == 'cli' else 'server'} saw it: " + json.dumps(ev), [h])
def groups(name, proto):
    """Each request sent on the given netlink protocol with the datagrams received until the next request."""
    res = []
    for l in open(os.path.join(tmp, name + ".trace")).read().splitlines():
        if not l.startswith(("nl> ", "nl< ")) or f" proto={proto} " not in l:
            continue
        h = l.split(" ", 2)[2]
        if l.startswith("nl> "):
            res.append((h, []))
        else:
            res[-1][1].append(h)
    return res
create = groups("create", 16)
save("genl-getfamily-request", "nlctrl CTRL_CMD_GETFAMILY request for mptcp_pm", [create[0][0]])
save("genl-getfamily-reply", "nlctrl reply describing mptcp_pm (id, version, ops, multicast groups), then its ACK", create[0][1])
save("cmd-subflow-create", "SUBFLOW_CREATE request as smapp sends it", [create[1][0]])
save("ack-ok", "ACK (errno 0) of SUBFLOW_CREATE: capped, no TLVs", create[1][1])
save("cmd-set-flags", "SET_FLAGS backup request as smapp sends it", [groups("backup", 16)[1][0]])
save("ack-error-invalid-token", "NLMSG_ERROR -EINVAL with extended ack text 'invalid token' (SUBFLOW_CREATE on token 1)", groups("badtoken", 16)[1][1])
save("reply-get-addr", "GET_ADDR dump replies of the in-kernel PM (endpoint 7 signal port 5300), then NLMSG_DONE", groups("getaddr", 16)[1][1])
save("reply-get-limits", "GET_LIMITS reply, then its ACK", groups("limits", 16)[1][1])
diag = groups("list", 4)
save("diag-request-mptcp", "sock_diag request for IPPROTO_MPTCP AF_INET sockets (sdiag_protocol 6 + INET_DIAG_REQ_PROTOCOL 262)", [diag[0][0]])
save("diag-mptcp-ipv4", "sock_diag IPPROTO_MPTCP AF_INET dump replies (one connection with mptcp_info), ending with NLMSG_DONE", diag[0][1])
save("diag-request-tcp", "sock_diag request for TCP AF_INET sockets with INET_DIAG_INFO", [diag[2][0]])
save("diag-tcp-ipv4", "sock_diag TCP AF_INET dump replies: the connection's two MPTCP subflows with INET_DIAG_INFO (tcp_info) and INET_DIAG_ULP_INFO, ending with NLMSG_DONE", diag[2][1])
print("fixtures:", sorted(os.listdir(out)))
PY
