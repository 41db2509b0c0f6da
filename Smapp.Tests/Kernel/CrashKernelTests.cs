using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.Event;
using Smapp.Actors.Gateway;
using Smapp.Netlink.Diag;
using Smapp.Policy;
using Smapp.Tests.Support;
using Xunit.Abstractions;

namespace Smapp.Tests.Kernel;

/// <summary>
/// Crashes, provoked for real where the kernel allows: `kill -9` of both daemons under load and a restart with
/// takeover, a policy that throws, SIGTERM. A socket failure cannot be provoked on demand in the kernel: the gateway
/// test closes its socket through a test hook and the real recovery path runs from there.
/// </summary>
public class CrashKernelTests(ITestOutputHelper output)
{
    private const int LoadPort = 5201;
    private const int HeldPort = 5202;
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    private static Dictionary<uint, List<SubflowDiag>> Kernel(string ns) => FaultTools.SubflowsByToken(ns);

    private static bool BothPaths(List<SubflowDiag> l) => l.Count(s => s.TcpState == 1) == 2;

    /// <summary>The count in the daemon's "start-up takeover: N live MPTCP connections found and adopted" line.</summary>
    private static int TakenOver(SmappProcess p)
    {
        var m = Regex.Match(p.Output, @"start-up takeover: (\d+) live MPTCP connections");
        Assert.True(m.Success, $"no takeover line:\n{p.Tail()}");
        return int.Parse(m.Groups[1].Value);
    }

    private static List<Socket> Hold(Testbed bed, int n) =>
        Enumerable.Range(0, n).Select(_ => Mptcp.Connect(bed.ClientNs, bed.ServerAddress, HeldPort)).ToList();

    [Fact]
    public void Kill_9_under_load_and_a_restart_take_over_every_live_connection_on_both_sides_and_the_kernel_drops_none()
    {
        var held = FaultTools.Size("SMAPP_FAULT_HELD", 10);
        var rate = FaultTools.Size("SMAPP_FAULT_RATE", 50);
        var seconds = FaultTools.Size("SMAPP_FAULT_SECONDS", 10);
        var holdMs = FaultTools.Size("SMAPP_FAULT_HOLD_MS", 8000);
        using var bed = Testbed.Up("two-path");
        bed.Exec(bed.ClientNs, "sysctl", "-qw", "net.ipv4.tcp_max_tw_buckets=0", "net.ipv4.ip_local_port_range=1024 65535");
        using var sink = new NsProcess(bed.ServerNs, FaultTools.Tool("sink"), "-p", LoadPort.ToString(), "-s", (seconds + holdMs / 1000 + 300).ToString());
        sink.WaitFor("listening", TimeSpan.FromSeconds(15));
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, HeldPort);
        string[] clientArgs = ["--netns", bed.ClientNs, "--policy", "fullmesh", "--log-level", "info"];
        string[] serverArgs = ["--netns", bed.ServerNs, "--switch-pm", "--policy", "fullmesh", "--log-level", "info"];
        var client = new SmappProcess(clientArgs);
        var serverSide = new SmappProcess(serverArgs);
        var sockets = new List<Socket>();
        try
        {
            client.WaitFor("start-up takeover");
            serverSide.WaitFor("start-up takeover");
            sockets = Hold(bed, held);
            Assert.True(Eventually.Holds(() => Kernel(bed.ClientNs).Values.Count(BothPaths) >= held, Generous), "the held connections never all had both paths");
            var heldTokens = Kernel(bed.ClientNs).Keys.ToHashSet();
            var serverTokens = Kernel(bed.ServerNs).Keys.ToHashSet();

            // Steady load, and both daemons killed in the middle of it.
            using var load = new NsProcess(bed.ClientNs, FaultTools.Tool("loadgen"), "-a", bed.ServerAddress.ToString(), "-p", LoadPort.ToString(),
                "-r", rate.ToString(), "-s", seconds.ToString(), "-H", holdMs.ToString());
            Assert.True(Eventually.Holds(() => Kernel(bed.ClientNs).Count >= held + Math.Min(rate, 20), Generous), "the load opened nothing");
            client.Signal("KILL");
            serverSide.Signal("KILL");
            client.WaitForExit(Generous);
            serverSide.WaitForExit(Generous);
            var killed = Stopwatch.StartNew();
            client.Dispose();
            serverSide.Dispose();

            // The kernel keeps every connection without its path manager.
            Assert.True(heldTokens.IsSubsetOf(Kernel(bed.ClientNs).Keys), "the kernel dropped held connections when the daemon died");
            client = new SmappProcess(clientArgs);
            serverSide = new SmappProcess(serverArgs);
            client.WaitFor("start-up takeover");
            serverSide.WaitFor("start-up takeover");
            output.WriteLine($"restarted; takeover after {killed.Elapsed.TotalSeconds:0.0} s: client adopted {TakenOver(client)}, server adopted {TakenOver(serverSide)}");
            Assert.True(TakenOver(client) >= held, $"client side: {TakenOver(client)} adopted, {held} held");
            Assert.True(TakenOver(serverSide) >= held, $"server side: {TakenOver(serverSide)} adopted, {held} held");

            // Every held connection is still there, still on both paths, still carrying data.
            var now = Kernel(bed.ClientNs);
            Assert.True(heldTokens.IsSubsetOf(now.Keys), "held connections were lost across the restart");
            Assert.True(serverTokens.IsSubsetOf(Kernel(bed.ServerNs).Keys), "server-side connections were lost across the restart");
            Assert.All(heldTokens, t => Assert.True(BothPaths(now[t]), $"{t:x8} lost a path"));
            foreach (var s in sockets)
            {
                Assert.Equal(512, s.Send(new byte[512]));
            }

            // The load: every connection got its second subflow, those opened while no daemon ran included (adopted).
            var code = load.WaitForExit(TimeSpan.FromSeconds(seconds + holdMs / 1000.0 + 120));
            Assert.Equal(0, code);
            output.WriteLine($"{load.Name}: {load.LastLine}");
            var r = FaultTools.KeyValues(load.LastLine);
            Assert.True(r["connected"] > 0);
            Assert.True(r["joined"] == r["connected"], $"{r["connected"] - r["joined"]} of {r["connected"]} load connections never joined");

            // And the taken-over connections are managed: their cellular subflow goes with the address, and comes back.
            bed.Set("cell", "--addr-del");
            Assert.True(Eventually.Holds(() => Kernel(bed.ClientNs).Where(kv => heldTokens.Contains(kv.Key))
                .All(kv => !kv.Value.Any(s => FaultTools.Held(s) && FaultTools.From(s, bed.ClientAddress2))), Generous),
                "taken-over connections kept their subflow on the removed address: not managed after the restart");
            bed.Set("cell", "--addr-add");
            Assert.True(Eventually.Holds(() => Kernel(bed.ClientNs).Where(kv => heldTokens.Contains(kv.Key)).All(kv => BothPaths(kv.Value)), Generous),
                "taken-over connections did not get their cellular subflow back");

            client.Signal("TERM");
            serverSide.Signal("TERM");
            Assert.Equal(0, client.WaitForExit(Generous));
            Assert.Equal(0, serverSide.WaitForExit(Generous));
        }
        finally
        {
            foreach (var s in sockets)
            {
                s.Dispose();
            }

            client.Dispose();
            serverSide.Dispose();
        }
    }

    /// <summary>Fullmesh, except that it throws once per connection to <see cref="HeldPort"/> when its second subflow comes up.</summary>
    private sealed class ThrowsOnce(ConcurrentDictionary<uint, int> thrown) : SubflowPolicy
    {
        private readonly FullmeshPolicy _inner = new();

        public override string Name => "throws-once";

        public override PolicyEvents Subscriptions => _inner.Subscriptions;

        public override void OnEstablished(IConnectionContext ctx) => _inner.OnEstablished(ctx);

        public override void OnLocalAddressAdded(IConnectionContext ctx, LocalAddress address) => _inner.OnLocalAddressAdded(ctx, address);

        public override void OnLocalAddressRemoved(IConnectionContext ctx, LocalAddress address) => _inner.OnLocalAddressRemoved(ctx, address);

        public override void OnAnnounced(IConnectionContext ctx, RemoteAddress address) => _inner.OnAnnounced(ctx, address);

        public override void OnRemoved(IConnectionContext ctx, RemoteAddress address) => _inner.OnRemoved(ctx, address);

        public override void OnSubflowClosed(IConnectionContext ctx, Subflow subflow, CloseReason reason) => _inner.OnSubflowClosed(ctx, subflow, reason);

        public override void OnTimer(IConnectionContext ctx, string key) => _inner.OnTimer(ctx, key);

        public override void OnSubflowEstablished(IConnectionContext ctx, Subflow subflow)
        {
            if (ctx.Connection.Remote.Port == HeldPort && thrown.TryAdd(ctx.Connection.Token, 1))
            {
                throw new InvalidOperationException("a policy bug");
            }

            _inner.OnSubflowEstablished(ctx, subflow);
        }
    }

    [Fact]
    public void A_policy_that_throws_restarts_only_its_own_connection_which_keeps_its_subflows_and_stays_managed()
    {
        using var bed = Testbed.Up("two-path");
        var thrown = new ConcurrentDictionary<uint, int>();
        using var daemon = Daemon.Start(bed.ClientNs, () => new ThrowsOnce(thrown));
        using var quiet = new Mptcp.Server(bed.ServerNs, IPAddress.Any, LoadPort);
        using var failing = new Mptcp.Server(bed.ServerNs, IPAddress.Any, HeldPort);
        using var calm = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, LoadPort);
        using var buggy = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, HeldPort);
        Assert.True(Eventually.Holds(() => Kernel(bed.ClientNs).Count == 2 && Kernel(bed.ClientNs).Values.All(BothPaths), Generous), "the two connections never had both paths");
        var a = Assert.Single(thrown.Keys); // the policy did throw, for the connection to the failing port only
        var b = Kernel(bed.ClientNs).Keys.Single(t => t != a);

        // Only its own connection restarted, rebuilt from the kernel with the subflows it had.
        Assert.True(Eventually.Holds(() => daemon.State(a) is { Restarts: 1, TakenOver: true }, Generous), $"{a:x8}: {daemon.State(a)}");
        var rebuilt = daemon.State(a);
        Assert.Equal(2, rebuilt.Subflows.Count(s => s.Phase == SubflowPhase.Established));
        Assert.Equal(0, daemon.State(b).Restarts); // (taken over or not: one opened while the daemon was still subscribing is adopted)
        Assert.Equal(2, daemon.State(b).Subflows.Count(s => s.Phase == SubflowPhase.Established));
        Assert.True(BothPaths(Kernel(bed.ClientNs)[a]), "the failing connection lost a subflow in the kernel");

        // Still managed: the cellular address goes, both connections' cellular subflows go with it; it comes back, so do they.
        bed.Set("cell", "--addr-del");
        Assert.True(Eventually.Holds(() => Kernel(bed.ClientNs).Values.All(l => !l.Any(s => FaultTools.Held(s) && FaultTools.From(s, bed.ClientAddress2))), Generous));
        bed.Set("cell", "--addr-add");
        Assert.True(Eventually.Holds(() => Kernel(bed.ClientNs).Values.All(BothPaths), Generous));
        Assert.Equal(1, daemon.State(a).Restarts);
    }

    /// <summary>Collects the daemon's log lines (Akka's event stream).</summary>
    private sealed class LogCollector : ReceiveActor
    {
        public LogCollector(ConcurrentQueue<string> lines) => Receive<LogEvent>(e => lines.Enqueue(e.Message?.ToString() ?? ""));
    }

    [Fact]
    public void A_failed_gateway_socket_is_reopened_resubscribed_and_followed_by_a_reconcile()
    {
        using var bed = Testbed.Up("two-path");
        using var daemon = Daemon.Start(bed.ClientNs);
        var lines = new ConcurrentQueue<string>();
        var collector = daemon.System.ActorOf(Props.Create(() => new LogCollector(lines)));
        daemon.System.EventStream.Subscribe(collector, typeof(LogEvent));
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, LoadPort);
        using var first = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, LoadPort);
        Assert.True(Eventually.Holds(() => Kernel(bed.ClientNs).Values.Count(BothPaths) == 1, Generous));

        // The event socket fails (through the hook); a connection opens at once, perhaps while no socket listens.
        daemon.Runtime.Gateway.Tell(new NetlinkGateway.FailSocket(NetlinkGateway.EventsSocket));
        using var during = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, LoadPort);
        Assert.True(Eventually.Holds(() => lines.Any(l => l.Contains("socket is open and subscribed again")), Generous), string.Join('\n', lines));
        Assert.True(Eventually.Holds(() => lines.Any(l => l.Contains("reconciled with the kernel in")), Generous), string.Join('\n', lines));

        // Re-subscribed: a connection opened now is heard of and joined, like the one opened across the failure.
        using var after = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, LoadPort);
        Assert.True(Eventually.Holds(() => Kernel(bed.ClientNs).Count == 3 && Kernel(bed.ClientNs).Values.All(BothPaths), Generous),
            "after the socket failure: " + string.Join("; ", Kernel(bed.ClientNs).Select(kv => $"{kv.Key:x8}: {kv.Value.Count(s => s.TcpState == 1)} up")));

        // The rtnetlink socket fails too: re-opened, the addresses dumped again, and changes still heard.
        daemon.Runtime.Gateway.Tell(new NetlinkGateway.FailSocket(NetlinkGateway.RouteSocket));
        Assert.True(Eventually.Holds(() => lines.Count(l => l.Contains("socket is open and subscribed again")) == 2, Generous), string.Join('\n', lines));
        bed.Set("cell", "--addr-del");
        Assert.True(Eventually.Holds(() => Kernel(bed.ClientNs).Values.All(l => !l.Any(s => FaultTools.Held(s) && FaultTools.From(s, bed.ClientAddress2))), Generous),
            "after the rtnetlink socket failed, an address removal was not acted on");

        // The command socket fails last: re-opened (the family resolved again), a reconcile follows, and commands
        // are written again: with the cellular address back, the connections get their subflow from it.
        daemon.Runtime.Gateway.Tell(new NetlinkGateway.FailSocket(NetlinkGateway.CommandsSocket));
        Assert.True(Eventually.Holds(() => lines.Any(l => l.Contains("the commands socket is open and subscribed again")), Generous), string.Join('\n', lines));
        bed.Set("cell", "--addr-add");
        Assert.True(Eventually.Holds(() => Kernel(bed.ClientNs).Values.All(BothPaths), Generous),
            "after the command socket failed: " + string.Join("; ", Kernel(bed.ClientNs).Select(kv => $"{kv.Key:x8}: {kv.Value.Count(s => s.TcpState == 1)} up")));
    }

    [Fact]
    public void Sigterm_with_live_connections_exits_0_promptly_and_undoes_switch_pm()
    {
        using var bed = Testbed.Up("two-path");
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, HeldPort);
        using var smapp = new SmappProcess("--netns", bed.ServerNs, "--switch-pm", "--policy", "fullmesh", "--log-level", "info");
        smapp.WaitFor("start-up takeover");
        Assert.Equal("userspace", bed.Exec(bed.ServerNs, "cat", "/proc/sys/net/mptcp/path_manager").Trim());
        var sockets = Hold(bed, 5);
        try
        {
            Assert.True(Eventually.Holds(() => Kernel(bed.ServerNs).Count == 5, Generous));
            var sw = Stopwatch.StartNew();
            smapp.Signal("TERM");
            var code = smapp.WaitForExit(TimeSpan.FromSeconds(30));
            output.WriteLine($"SIGTERM to exit: {sw.Elapsed.TotalMilliseconds:0} ms, code {code}");
            Assert.Equal(0, code);
            Assert.Contains("smapp stopped", smapp.Output);
            Assert.Equal("kernel", bed.Exec(bed.ServerNs, "cat", "/proc/sys/net/mptcp/path_manager").Trim());
            Assert.Equal(5, Kernel(bed.ServerNs).Count); // the connections outlive their path manager
        }
        finally
        {
            foreach (var s in sockets)
            {
                s.Dispose();
            }
        }
    }
}
