using System.Diagnostics;
using System.Net;
using Smapp.Tests.Support;
using Xunit.Abstractions;

namespace Smapp.Tests.Kernel;

/// <summary>
/// Lost events, provoked for real: `smapp run` is stopped (SIGSTOP) while the kernel keeps sending, so that its
/// sockets overflow (ENOBUFS), then continued. The kernel's own view (sock_diag, /proc/net/netlink) is the judge.
/// CI runs them small; the full-size runs (README, "Faults") set the SMAPP_FAULT_* variables.
/// </summary>
public class LostEventsKernelTests(ITestOutputHelper output)
{
    private const int Port = 5201;
    private const int NetlinkGeneric = 16;
    private const int NetlinkRoute = 0;

    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    private static void Tune(Testbed bed)
    {
        bed.Exec(bed.ClientNs, "sysctl", "-qw", "net.ipv4.tcp_max_tw_buckets=0", "net.ipv4.ip_local_port_range=1024 65535");
        bed.Exec(bed.ServerNs, "sysctl", "-qw", "net.core.somaxconn=65535", "net.ipv4.tcp_max_syn_backlog=65535");
    }

    private static NsProcess Sink(Testbed bed, int seconds)
    {
        var sink = new NsProcess(bed.ServerNs, FaultTools.Tool("sink"), "-p", Port.ToString(), "-s", seconds.ToString());
        sink.WaitFor("listening", TimeSpan.FromSeconds(15));
        return sink;
    }

    private static NsProcess Load(Testbed bed, int rate, int seconds, int holdMs) =>
        new(bed.ClientNs, FaultTools.Tool("loadgen"), "-a", bed.ServerAddress.ToString(), "-p", Port.ToString(), "-r", rate.ToString(), "-s", seconds.ToString(), "-H", holdMs.ToString());

    private Dictionary<string, long> Finish(NsProcess load, int seconds, int holdMs)
    {
        var code = load.WaitForExit(TimeSpan.FromSeconds(seconds + holdMs / 1000.0 + 120));
        Assert.True(code == 0, $"{load.Name} exited {code}:\n{load.Output}");
        output.WriteLine($"{load.Name}: {load.LastLine}");
        var r = FaultTools.KeyValues(load.LastLine);
        Assert.True(r.ContainsKey("joined"), $"no result line from {load.Name}:\n{load.Output}");
        return r;
    }

    /// <summary>How many MPTCP connections the kernel has in the client namespace (by token).</summary>
    private static int KernelConnections(Testbed bed) => FaultTools.SubflowsByToken(bed.ClientNs).Count;

    [Fact]
    public void Events_lost_while_the_daemon_is_stopped_are_recovered_every_open_connection_joins_and_none_is_left_behind()
    {
        // CI: 150 conn/s for 6 s, stopped 2 s, each connection held 5 s (longer than the stop: it is still open when the
        // daemon comes back). Full size: SMAPP_FAULT_RATE=1200 SMAPP_FAULT_SECONDS=30 SMAPP_FAULT_STOP_MS=10000
        // SMAPP_FAULT_HOLD_MS=13000 SMAPP_FAULT_BUFFER=8MiB.
        var rate = FaultTools.Size("SMAPP_FAULT_RATE", 150);
        var seconds = FaultTools.Size("SMAPP_FAULT_SECONDS", 6);
        var stopMs = FaultTools.Size("SMAPP_FAULT_STOP_MS", 2000);
        var holdMs = FaultTools.Size("SMAPP_FAULT_HOLD_MS", 5000);
        var buffer = Environment.GetEnvironmentVariable("SMAPP_FAULT_BUFFER") is { Length: > 0 } b ? b : "64KiB";
        using var bed = Testbed.Up("two-path");
        Tune(bed);
        using var sink = Sink(bed, seconds + holdMs / 1000 + 300);

        // A small event socket buffer (the smallest allowed) so that a short stop overflows it; the full-size run uses
        // the default (SMAPP_FAULT_BUFFER=8MiB).
        using var smapp = new SmappProcess("--netns", bed.ClientNs, "--policy", "fullmesh", "--log-level", "info",
            "--set", $"smapp.gateway.receive-buffer={buffer}", "--set", "smapp.decision-log=debug");
        smapp.WaitFor("start-up takeover");
        var dropsBefore = FaultTools.NetlinkDrops(bed.ClientNs, smapp.Pid, NetlinkGeneric);

        using var load = Load(bed, rate, seconds, holdMs);
        Assert.True(Eventually.Holds(() => KernelConnections(bed) >= Math.Min(20, rate), TimeSpan.FromSeconds(30)), "the load generator opened no connection");

        // Stopped: at least the fault's duration, and until the kernel has dropped events on the daemon's socket.
        smapp.Signal("STOP");
        var stopped = Stopwatch.StartNew();
        long dropsStopped;
        using (var shortLived = Load(bed, Math.Max(20, rate / 2), 1, 100))
        {
            // Connections that open and close while the daemon is stopped: none may be left managed afterwards.
            Finish(shortLived, 1, 100);
            Assert.True(Eventually.Holds(() => stopped.ElapsedMilliseconds >= stopMs && FaultTools.NetlinkDrops(bed.ClientNs, smapp.Pid, NetlinkGeneric) > dropsBefore,
                TimeSpan.FromMilliseconds(stopMs) + Generous), "the kernel dropped no event while the daemon was stopped: no overflow was provoked");
            dropsStopped = FaultTools.NetlinkDrops(bed.ClientNs, smapp.Pid, NetlinkGeneric) - dropsBefore;
        }

        var stoppedFor = stopped.Elapsed;
        smapp.Signal("CONT");
        Assert.False(load.HasExited, "the load ended while the daemon was stopped: the stop must fall inside the load");

        var r = Finish(load, seconds, holdMs);
        var dropsAll = FaultTools.NetlinkDrops(bed.ClientNs, smapp.Pid, NetlinkGeneric) - dropsBefore;
        output.WriteLine($"stopped {stoppedFor.TotalSeconds:0.0} s; events dropped by the kernel: {dropsStopped} while stopped, {dropsAll} in all");
        output.WriteLine($"daemon: {smapp.Count("ENOBUFS on mptcp_pm_events")} ENOBUFS, {smapp.Count("reconciled with the kernel in")} reconciles ended in agreement, " +
            $"{smapp.Count("reconcile stopped after")} gave up");
        Assert.Contains("ENOBUFS on mptcp_pm_events", smapp.Output);

        // The reconcile ran its rounds to an end: agreement, or (under load that never lets the kernel stand still)
        // its bound.
        Assert.True(smapp.Count("reconciled with the kernel in") + smapp.Count("reconcile stopped after") > 0, smapp.Tail());

        // Every connection held while the daemon was away got its second subflow; nothing failed.
        Assert.True(r["connected"] > 0);
        Assert.Equal(0, r["failed"]);
        Assert.True(r["joined"] == r["connected"], $"{r["connected"] - r["joined"]} of {r["connected"]} connections never got their second subflow\n{smapp.Tail()}");

        // Later connections are managed as usual.
        using (var later = Load(bed, 50, 1, 1000))
        {
            var l = Finish(later, 1, 1000);
            Assert.True(l["connected"] > 0);
            Assert.True(l["joined"] == l["connected"], $"after the stop: {l["connected"] - l["joined"]} of {l["connected"]} did not join");
        }

        // Everything closed: the daemon holds nothing (no actor left for a connection that closed meanwhile).
        Assert.True(Eventually.Holds(() => KernelConnections(bed) == 0, Generous), "connections left in the kernel");
        smapp.Signal("TERM");
        Assert.Equal(0, smapp.WaitForExit(Generous));
        Assert.Contains("connection supervisor stopped with 0 connections managed (0 actors)", smapp.Output);
    }

    [Fact]
    public void Address_changes_lost_while_the_daemon_is_stopped_are_recovered_the_removed_address_is_left_and_the_new_one_used()
    {
        var held = FaultTools.Size("SMAPP_FAULT_HELD", 10);
        var flood = FaultTools.Size("SMAPP_FAULT_RTNL_FLOOD", 1500);
        using var bed = Testbed.Up("two-path");
        var newAddress = IPAddress.Parse("198.51.100.3");
        using var smapp = new SmappProcess("--netns", bed.ClientNs, "--policy", "fullmesh", "--log-level", "info");
        smapp.WaitFor("start-up takeover");
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, Port);
        var sockets = Enumerable.Range(0, held).Select(_ => Mptcp.Connect(bed.ClientNs, bed.ServerAddress, Port)).ToList();
        try
        {
            Assert.True(Eventually.Holds(() =>
            {
                var k = FaultTools.SubflowsByToken(bed.ClientNs);
                return k.Count == held && k.Values.All(l => l.Count(s => s.TcpState == 1) == 2);
            }, Generous), "the held connections never all had their two subflows");

            // A link of its own for the flood of address changes (down: none of them is ever usable).
            bed.Ip(bed.ClientNs, "link", "add", "flood0", "type", "veth", "peer", "name", "flood1");
            var batch = Path.GetTempFileName();
            try
            {
                File.WriteAllLines(batch, Enumerable.Range(0, flood).SelectMany(_ => new[] { "addr add 192.0.2.200/32 dev flood0", "addr del 192.0.2.200/32 dev flood0" }));
                var dropsBefore = FaultTools.NetlinkDrops(bed.ClientNs, smapp.Pid, NetlinkRoute);
                smapp.Signal("STOP");

                // While it is stopped: another cellular address comes, the first goes (the new one is promoted to primary, so
                // the link keeps its routes), and the flood overflows its socket.
                bed.Exec(bed.ClientNs, "sysctl", "-qw", "net.ipv4.conf.cell.promote_secondaries=1");
                bed.Ip(bed.ClientNs, "addr", "add", "198.51.100.3/28", "dev", "cell");
                bed.Ip(bed.ClientNs, "rule", "add", "from", "198.51.100.3", "table", "102", "priority", "101");
                bed.Ip(bed.ClientNs, "addr", "del", "198.51.100.1/28", "dev", "cell");
                bed.Ip(bed.ClientNs, "-batch", batch);
                var drops = FaultTools.NetlinkDrops(bed.ClientNs, smapp.Pid, NetlinkRoute) - dropsBefore;
                output.WriteLine($"rtnetlink messages dropped by the kernel while stopped: {drops}");
                Assert.True(drops > 0, "no rtnetlink message was dropped: no overflow was provoked");
                smapp.Signal("CONT");
            }
            finally
            {
                File.Delete(batch);
            }

            // The kernel's view: no connection keeps a subflow on the removed address, each has one from the new one.
            Dictionary<uint, List<Smapp.Netlink.Diag.SubflowDiag>> last = [];
            var ok = Eventually.Holds(() =>
            {
                last = FaultTools.SubflowsByToken(bed.ClientNs);
                return last.Count == held && last.Values.All(l =>
                    !l.Any(s => FaultTools.Held(s) && FaultTools.From(s, bed.ClientAddress2)) &&
                    l.Count(s => s.TcpState == 1 && FaultTools.From(s, newAddress)) == 1);
            }, Generous);
            Assert.True(ok, "after the stop: " + string.Join("; ", last.Select(kv => $"{kv.Key:x8}: " +
                string.Join(", ", kv.Value.Select(s => $"{s.Id.Source}:{s.Id.SourcePort} state {s.TcpState}")))) + "\n" + smapp.Tail());
            Assert.Contains("ENOBUFS on rtnetlink", smapp.Output);
            Assert.Contains("local address 198.51.100.1", smapp.Output[smapp.Output.LastIndexOf("ENOBUFS on rtnetlink", StringComparison.Ordinal)..]);
            Assert.Contains("local address 198.51.100.3", smapp.Output[smapp.Output.LastIndexOf("ENOBUFS on rtnetlink", StringComparison.Ordinal)..]);
            Assert.DoesNotContain("192.0.2.200 is usable", smapp.Output);
        }
        finally
        {
            foreach (var s in sockets)
            {
                s.Dispose();
            }
        }

        smapp.Signal("TERM");
        Assert.Equal(0, smapp.WaitForExit(Generous));
    }

    [Fact]
    public void An_address_flapping_under_held_connections_never_puts_a_connection_over_its_cap_and_each_ends_with_both_paths()
    {
        // CI: 10 connections, 20 flaps, max-subflows = 2 (the two paths: any stale subflow shows as a third).
        // Full size: SMAPP_FAULT_HELD=200 SMAPP_FAULT_FLAPS=300.
        var held = FaultTools.Size("SMAPP_FAULT_HELD", 10);
        var flaps = FaultTools.Size("SMAPP_FAULT_FLAPS", 20);
        const int cap = 2;
        using var bed = Testbed.Up("two-path");
        using var smapp = new SmappProcess("--netns", bed.ClientNs, "--policy", "fullmesh", "--log-level", "info",
            "--set", $"smapp.policies.fullmesh.max-subflows={cap}");
        smapp.WaitFor("start-up takeover");
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, Port);
        var sockets = Enumerable.Range(0, held).Select(_ => Mptcp.Connect(bed.ClientNs, bed.ServerAddress, Port)).ToList();
        try
        {
            bool AllJoined(Dictionary<uint, List<Smapp.Netlink.Diag.SubflowDiag>> k) =>
                k.Count == held && k.Values.All(l => l.Count(s => s.TcpState == 1) == cap);
            Assert.True(Eventually.Holds(() => AllJoined(FaultTools.SubflowsByToken(bed.ClientNs)), Generous), "the held connections never all had their two subflows");

            // The kernel's view, sampled as fast as it can be while the address flaps: the most subflows any connection held.
            var most = 0;
            var samples = 0;
            var worst = "";
            using var stop = new CancellationTokenSource();
            var watcher = new Thread(() =>
            {
                while (!stop.IsCancellationRequested)
                {
                    foreach (var (token, list) in FaultTools.SubflowsByToken(bed.ClientNs))
                    {
                        var n = list.Count(FaultTools.Held);
                        if (n > most)
                        {
                            most = n;
                            worst = $"{token:x8}: " + string.Join(", ", list.Select(s => $"{s.Id.Source}:{s.Id.SourcePort} state {s.TcpState}"));
                        }
                    }

                    samples++;
                }
            }) { IsBackground = true };
            watcher.Start();
            var flapping = Stopwatch.StartNew();
            for (var i = 0; i < flaps; i++)
            {
                bed.Set("cell", "--addr-del");
                bed.Set("cell", "--addr-add");
            }

            var flapTime = flapping.Elapsed;

            // After the flapping: every connection is back to both paths...
            Dictionary<uint, List<Smapp.Netlink.Diag.SubflowDiag>> last = [];
            var back = Eventually.Holds(() => AllJoined(last = FaultTools.SubflowsByToken(bed.ClientNs)), Generous);
            stop.Cancel();
            watcher.Join();
            output.WriteLine($"{flaps} flaps in {flapTime.TotalSeconds:0.0} s under {held} connections; {samples} kernel samples; most subflows held by one connection: {most} (cap {cap})");
            Assert.True(back, "after the flapping: " + string.Join("; ", last.Select(kv => $"{kv.Key:x8}: {kv.Value.Count(s => s.TcpState == 1)} up")) + "\n" + smapp.Tail());

            // ...and none ever held more than its policy allows.
            Assert.True(samples > flaps, $"only {samples} samples of the kernel's view");
            Assert.True(most <= cap, $"a connection held {most} subflows (cap {cap}): {worst}");
        }
        finally
        {
            foreach (var s in sockets)
            {
                s.Dispose();
            }
        }

        smapp.Signal("TERM");
        Assert.Equal(0, smapp.WaitForExit(Generous));
    }
}
