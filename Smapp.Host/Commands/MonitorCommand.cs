using System.CommandLine;
using Smapp.Host.Output;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Route;
using Smapp.Netlink.Wire;

namespace Smapp.Host.Commands;

/// <summary>`smapp monitor`: every mptcp_pm event and local address change, one line each.</summary>
internal static class MonitorCommand
{
    public static Command Build()
    {
        var json = CommonOptions.Json();
        var netns = CommonOptions.Netns();
        var samples = Parse.CountOption("--samples", "Also print each subflow's tcp_info figures every MS milliseconds (one sock_diag dump per tick; at least 1)", min: 1, unit: "milliseconds");
        var raw = new Option<bool>("--raw") { Description = "Also print each netlink message as hex (for bug reports and fixtures)" };
        var count = Parse.CountOption("--count", "Exit after N mptcp events (at least 1)", min: 1, unit: "events");
        var timeout = Parse.SecondsOption("--timeout", "Exit after S seconds (more than 0)");
        var cmd = new Command("monitor", "Print every MPTCP path-manager event and local address change as it happens")
        {
            json, netns, samples, raw, count, timeout,
        };
        cmd.SetAction(r => Run(r.GetValue(json), r.GetValue(samples), r.GetValue(netns), r.GetValue(raw), r.GetValue(count), r.GetValue(timeout)));
        return cmd;
    }

    private static int Run(bool json, int? samplesMs, string? netns, bool raw, int? count, double? timeoutS)
    {
        try
        {
            CommonOptions.EnterNamespace(netns);
        }
        catch (Exception e)
        {
            return CommonOptions.Fail(e.Message);
        }

        MptcpEventSubscription events;
        try
        {
            events = MptcpEventSubscription.Open(nonBlocking: true);
        }
        catch (NetlinkException e)
        {
            return CommonOptions.Fail($"cannot subscribe to mptcp_pm events: {e.Message}" +
                (e.Errno == Netlink.Errno.ENOENT ? " (this kernel has no mptcp_pm generic netlink family: MPTCP is off or too old)" : "") +
                (e.Errno == Netlink.Errno.EPERM ? " (needs CAP_NET_ADMIN: run as root)" : ""));
        }

        using var _ = events;
        using var rtnl = RtnetlinkSubscription.Open(nonBlocking: true);
        using var wakeup = new WakeupFd();
        using var cts = CommonOptions.CancelOnSignals(wakeup);
        using var diag = samplesMs is > 0 ? SockDiagClient.Open() : null;

        var ifNames = new Dictionary<int, string>();
        using (var dumpSocket = NetlinkSocket.Open(Netlink.NetlinkProtocol.Route))
        {
            foreach (var l in RtnetlinkDump.Links(dumpSocket))
            {
                if (l.Name is not null) ifNames[l.IfIndex] = l.Name;
            }
        }

        var sink = new PrintingSink(json, raw, ifNames);
        var poller = new PollSet(events.Socket.Fd, rtnl.Socket.Fd, wakeup.Fd);
        var deadline = timeoutS is { } t ? DateTime.UtcNow.AddSeconds(t) : DateTime.MaxValue;
        var nextSample = samplesMs is > 0 ? DateTime.UtcNow : DateTime.MaxValue;
        Console.Error.WriteLine($"smapp monitor: listening on mptcp_pm_events (family {events.Family.Id}){(netns is null ? "" : $" in {netns}")}; Ctrl+C to stop");

        while (!cts.IsCancellationRequested && (count is null || sink.MptcpEvents < count))
        {
            var now = DateTime.UtcNow;
            if (now >= deadline)
            {
                break;
            }

            if (now >= nextSample)
            {
                var at = DateTimeOffset.UtcNow;
                foreach (var s in diag!.Subflows())
                {
                    Console.WriteLine(json ? EventFormat.Json(s, at) : EventFormat.Human(s, at));
                }

                nextSample = now.AddMilliseconds(samplesMs!.Value);
            }

            var until = new[] { deadline, nextSample }.Min();
            var waitMs = until == DateTime.MaxValue ? -1 : (int)Math.Clamp((until - DateTime.UtcNow).TotalMilliseconds, 0, int.MaxValue);
            poller.Wait(waitMs);
            if (poller.Ready(0))
            {
                while (events.ReceiveOnce(sink, block: false) is ReceiveStatus.Datagram or ReceiveStatus.Overrun or ReceiveStatus.ForeignSender or ReceiveStatus.Truncated) { }
            }

            if (poller.Ready(1))
            {
                while (rtnl.ReceiveOnce(sink, block: false) is ReceiveStatus.Datagram or ReceiveStatus.Overrun or ReceiveStatus.ForeignSender or ReceiveStatus.Truncated) { }
            }

            if (poller.Ready(2))
            {
                wakeup.Drain();
            }
        }

        if (events.Socket.ForeignDatagrams + rtnl.Socket.ForeignDatagrams > 0)
        {
            Console.Error.WriteLine($"smapp monitor: {events.Socket.ForeignDatagrams + rtnl.Socket.ForeignDatagrams} datagrams from non-kernel senders dropped, not shown " +
                $"(mptcp_pm events {events.Socket.ForeignDatagrams}, rtnetlink {rtnl.Socket.ForeignDatagrams}; the last from port id {Math.Max(events.Socket.LastForeignPortId, rtnl.Socket.LastForeignPortId)})");
        }

        if (events.Stats.DecodeErrors + rtnl.Stats.DecodeErrors + events.Stats.Overruns > 0)
        {
            Console.Error.WriteLine($"smapp monitor: {events.Stats.DecodeErrors + rtnl.Stats.DecodeErrors} undecodable messages, {events.Stats.Overruns} overruns (events lost)");
        }

        return 0;
    }

    private sealed class PrintingSink(bool json, bool raw, Dictionary<int, string> ifNames) : INetlinkSink<MptcpEvent>, INetlinkSink<LocalChange>
    {
        public int MptcpEvents { get; private set; }

        public void OnItem(MptcpEvent item, ReadOnlySpan<byte> bytes)
        {
            MptcpEvents++;
            var at = DateTimeOffset.UtcNow;
            Console.WriteLine(json ? EventFormat.Json(item, at) : EventFormat.Human(item, at));
            Raw(bytes);
        }

        public void OnItem(LocalChange item, ReadOnlySpan<byte> bytes)
        {
            var at = DateTimeOffset.UtcNow;
            switch (item)
            {
                case AddressChange { Address: var a }:
                    ifNames.TryGetValue(a.IfIndex, out var name);
                    Console.WriteLine(json ? EventFormat.Json(a, name, at) : EventFormat.Human(a, name, at));
                    break;
                case LinkChange { Link: var l }:
                    if (l.Name is not null) ifNames[l.IfIndex] = l.Name;
                    Console.WriteLine(json ? EventFormat.Json(l, at) : EventFormat.Human(l, at));
                    break;
            }

            Raw(bytes);
        }

        public void OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram)
        {
            Console.Error.WriteLine($"smapp monitor: undecodable message ({error}); datagram {Convert.ToHexString(datagram)}");
        }

        public void OnLost()
        {
            Console.Error.WriteLine("smapp monitor: ENOBUFS: the kernel dropped events for this socket (receive queue overflow)");
            if (json)
            {
                Console.WriteLine(EventFormat.WriteJson(w =>
                {
                    w.WriteString("event", "events_lost");
                    w.WriteString("timestamp", EventFormat.Timestamp(DateTimeOffset.UtcNow));
                }));
            }
        }

        private void Raw(ReadOnlySpan<byte> bytes)
        {
            if (raw)
            {
                Console.WriteLine($"  raw {Convert.ToHexString(bytes)}");
            }
        }
    }
}
