using System.Collections.Concurrent;
using System.Net;
using Smapp.Policy;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>Policies written against the API, run by the controller on the real kernel.</summary>
public class PolicyApiKernelTests
{
    /// <summary>On the server: announces the connection's own address on another port, then withdraws it.</summary>
    private sealed class Announcer(ConcurrentQueue<string> log) : SubflowPolicy
    {
        public override string Name => "announcer";

        public override PolicyEvents Subscriptions => PolicyEvents.Established | PolicyEvents.Timer | PolicyEvents.CommandResult;

        public override void OnEstablished(IConnectionContext ctx)
        {
            var own = ctx.LocalAddresses.First(a => AddressForm.Same(a.Address, ctx.Connection.Local.Address));
            ctx.Announce(own, 6000);
            ctx.StartTimer("withdraw", TimeSpan.FromSeconds(1));
        }

        public override void OnTimer(IConnectionContext ctx, string key)
        {
            var own = ctx.LocalAddresses.First();
            ctx.Withdraw(own, 6000);
        }

        public override void OnCommandResult(IConnectionContext ctx, CommandOutcome outcome) => log.Enqueue(outcome.ToString());
    }

    /// <summary>On the client: asks for a subflow the kernel must refuse (an IPv6 source towards an IPv4 peer).</summary>
    private sealed class Refused(ConcurrentQueue<CommandOutcome> outcomes) : SubflowPolicy
    {
        public override string Name => "refused";

        public override PolicyEvents Subscriptions => PolicyEvents.Established | PolicyEvents.CommandResult;

        public override void OnEstablished(IConnectionContext ctx)
        {
            var v6 = ctx.LocalAddresses.First(a => a.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6);
            ctx.OpenSubflow(v6, ctx.Connection.Remote);
        }

        public override void OnCommandResult(IConnectionContext ctx, CommandOutcome outcome) => outcomes.Enqueue(outcome);
    }

    [Fact]
    public void An_announced_port_is_listened_on_so_the_peers_join_succeeds_and_withdrawing_it_closes_the_listener()
    {
        using var bed = Testbed.Up("two-path", "--server-pm", "userspace", "--client-pm", "kernel");
        var log = new ConcurrentQueue<string>();
        using var daemon = Daemon.Start(bed.ServerNs, () => new Announcer(log));
        using var clientEvents = new EventCollector(bed.ClientNs);
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5201);
        using var socket = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5201);
        var token = clientEvents.WaitFor(MptcpEventType.Established).Token;

        var announced = clientEvents.WaitFor(MptcpEventType.Announced, e => e.Token == token, TimeSpan.FromSeconds(30));
        Assert.Equal((ushort)6000, announced.DestinationPort);
        Assert.NotEqual((byte)0, announced.RemoteId);

        // The client's in-kernel path manager joins the announced address and port: the join is accepted.
        var join = clientEvents.WaitFor(MptcpEventType.SubEstablished, e => e.Token == token && e.DestinationPort == 6000, TimeSpan.FromSeconds(30));
        Assert.Equal(bed.ServerAddress, join.DestinationAddress);
        Assert.DoesNotContain(clientEvents.Drain(), e => e.Type == MptcpEventType.SubClosed && e.Error == 111);

        // After a second the policy withdraws it: the peer hears REMOVED and Smapp stops listening on 6000.
        Assert.Equal(announced.RemoteId, clientEvents.WaitFor(MptcpEventType.Removed, e => e.Token == token, TimeSpan.FromSeconds(30)).RemoteId);
        Assert.True(Eventually.Holds(() => !NetworkNamespace.Named(bed.ServerNs).Run(() =>
        {
            using var d = SockDiagClient.Open();
            return d.Connections(SockDiag.ListenState).Any(l => l.Id.SourcePort == 6000);
        })));
        Assert.Contains("ANNOUNCE: ok", log);
        Assert.Contains("REMOVE: ok", log);
    }

    [Fact]
    public void A_command_the_kernel_refuses_reaches_the_policy_with_errno_and_text()
    {
        using var bed = Testbed.Up("two-path", "--ipv6");
        var outcomes = new ConcurrentQueue<CommandOutcome>();
        using var daemon = Daemon.Start(bed.ClientNs, () => new Refused(outcomes));
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5201);
        using var socket = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5201);
        Assert.True(Eventually.Holds(() => !outcomes.IsEmpty));
        var refused = Assert.Single(outcomes);
        Assert.Equal("SUBFLOW_CREATE", refused.Command.Name);
        Assert.Equal(CommandKind.OpenSubflow, refused.Command.Kind);
        Assert.Equal(Smapp.Policy.Errno.EINVAL, refused.Errno);
        Assert.False(string.IsNullOrEmpty(refused.Message));
    }
}
