#!/usr/bin/env python3
"""One-way delay and jitter of a paced UDP stream between two network namespaces of this host.

Both ends share the host's clock, so each packet's one-way delay is exact: the sender writes its send time
(CLOCK_REALTIME, ns) into the packet, the receiver takes the kernel's receive timestamp (SO_TIMESTAMPNS).

    owd.py --send-ns NS --from ADDR --recv-ns NS --to ADDR [--port 6100] [--rate 8] [--size 1200] [--seconds 10]

--rate is in Mbit/s of UDP payload. Prints one JSON object: packets sent and received, lost, the one-way delay's
min / mean / p50 / p99 / max in ms, its jitter as the standard deviation and as RFC 3550's mean |D(i-1, i)| (what
iperf3 reports, but over the whole run instead of a smoothed last value), reordered packets and the receive rate.
Run as root (ip netns exec). Every loop is bounded by --seconds plus a few seconds.
"""
import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import time

SO_TIMESTAMPNS = 35
HDR = struct.Struct("!IQ")  # sequence, send time (ns)


def send(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((args.from_addr, 0))
    s.connect((args.to, args.port))
    interval = args.size * 8 / (args.rate * 1e6)
    count = int(args.seconds / interval)
    pad = b"\0" * (args.size - HDR.size)
    start = time.monotonic()
    for i in range(count):
        due = start + i * interval
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        s.send(HDR.pack(i, time.time_ns()) + pad)
    print(json.dumps({"sent": count}))


def recv(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind((args.to, args.port))
    s.settimeout(args.seconds + 10)
    rows = []
    deadline = time.monotonic() + args.seconds + 15
    while time.monotonic() < deadline:
        try:
            data, anc, _, _ = s.recvmsg(65536, 64)
        except socket.timeout:
            break
        s.settimeout(2.0)  # after the first packet: the stream is over when it pauses for 2 s
        rx = None
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", value[:16])
                rx = sec * 1_000_000_000 + nsec
        if rx is None:
            rx = time.time_ns()
        seq, tx = HDR.unpack_from(data)
        rows.append((seq, tx, rx, len(data)))
    json.dump(rows, sys.stdout)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("role", nargs="?", default="run", choices=["run", "send", "recv"])
    p.add_argument("--send-ns")
    p.add_argument("--recv-ns")
    p.add_argument("--from", dest="from_addr", required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--port", type=int, default=6100)
    p.add_argument("--rate", type=float, default=8.0)
    p.add_argument("--size", type=int, default=1200)
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args()
    if args.role == "send":
        return send(args)
    if args.role == "recv":
        return recv(args)

    me = os.path.abspath(__file__)
    common = ["--from", args.from_addr, "--to", args.to, "--port", str(args.port), "--rate", str(args.rate),
              "--size", str(args.size), "--seconds", str(args.seconds)]
    receiver = subprocess.Popen(["ip", "netns", "exec", args.recv_ns, sys.executable, me, "recv", *common],
                                stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    sender = subprocess.run(["ip", "netns", "exec", args.send_ns, sys.executable, me, "send", *common],
                            stdout=subprocess.PIPE, text=True, check=True, timeout=args.seconds + 30)
    out, _ = receiver.communicate(timeout=args.seconds + 30)
    sent = json.loads(sender.stdout)["sent"]
    rows = json.loads(out)
    if not rows:
        print(json.dumps({"sent": sent, "received": 0}))
        return 1
    owd = [(rx - tx) / 1e6 for _, tx, rx, _ in rows]
    srt = sorted(owd)
    n = len(owd)
    mean = sum(owd) / n
    std = (sum((d - mean) ** 2 for d in owd) / n) ** 0.5
    ipdv = [abs(owd[i] - owd[i - 1]) for i in range(1, n)]
    seqs = [r[0] for r in rows]
    reordered = sum(1 for i in range(1, n) if seqs[i] < seqs[i - 1])
    span = (rows[-1][2] - rows[0][2]) / 1e9
    rate = sum(r[3] for r in rows[1:]) * 8 / span / 1e6 if span > 0 else 0
    print(json.dumps({
        "sent": sent, "received": n, "lost": sent - len(set(seqs)), "reordered": reordered,
        "owd_ms": {"min": round(srt[0], 3), "mean": round(mean, 3), "p50": round(srt[n // 2], 3),
                   "p99": round(srt[min(n - 1, int(n * 0.99))], 3), "max": round(srt[-1], 3)},
        "jitter_ms": {"stdev": round(std, 3), "rfc3550_mean": round(sum(ipdv) / len(ipdv), 3) if ipdv else 0},
        "receive_mbps": round(rate, 2),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
