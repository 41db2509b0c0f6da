using Akka.Actor;
using System.Net;
using Smapp.Actors.Configuration;
using Smapp.Actors.Connections;
using Smapp.Actors.Local;
using Smapp.Policy;
using Xunit.Abstractions;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Tests.Actors;

/// <summary>Supervision (a failing policy restarts only its connection, rebuilt from the kernel) and start-up takeover.</summary>
public class RestartAndTakeoverTests(ITestOutputHelper output) : ControllerTestKit(output)
{
    private const uint A = 0xaaaa0001;
    private const uint B = 0xbbbb0002;
    private static readonly IPAddress Peer2 = IPAddress.Parse("203.0.113.2");

    /// <summary>A recording policy that throws from OnAnnounced on connection <see cref="A"/>.</summary>
    private PolicySelector ThrowingOnAnnouncedForA(Akka.TestKit.TestProbe observer) =>
        PolicySelector.Of("fragile", () => new RecordingPolicy(observer, (callback, ctx, _) =>
        {
            if (callback == "announced" && ctx.Connection.Token == A)
            {
                throw new InvalidOperationException("policy bug");
            }
        }));

    private async Task<Called> ExpectCallAsync(Akka.TestKit.TestProbe observer, uint token, string callback) =>
        await observer.FishForMessageAsync<Called>(c => c.Token == token && c.Callback == callback);

    /// <summary>Answers the restarted connection's DumpConnections with its connection and initial subflow.</summary>
    private async Task AnswerRebuildAsync(uint token, ushort localPort, params Smapp.Netlink.Diag.SubflowDiag[] more)
    {
        var dump = await Gateway.FishForMessageAsync<DumpConnections>(d => d.Token == token);
        Assert.Equal(ConnectionPath(token), Gateway.LastSender.Path);
        Gateway.LastSender.Tell(new ConnectionsDumped(dump.Purpose,
            [ConnDiag(token, Local1, localPort, Remote1, 443)],
            [SubDiag(token, Local1, localPort, Remote1, 443), .. more],
            null));
    }

    [Fact]
    public async Task A_throwing_policy_restarts_only_its_own_connection_which_is_rebuilt_from_the_kernel()
    {
        var observer = CreateTestProbe();
        await StartSupervisorAsync(ThrowingOnAnnouncedForA(observer), false, Eth0, Wlan0);
        foreach (var (token, port) in new[] { (A, (ushort)40001), (B, (ushort)40002) })
        {
            Supervisor.Tell(Created(token, port));
            Supervisor.Tell(Established(token, port));
            var established = await ExpectCallAsync(observer, token, "established");
            Assert.False(established.Connection.TakenOver);
        }

        Supervisor.Tell(Announced(A, Peer2, 3));
        await ExpectCallAsync(observer, A, "announced");

        // While it waits for the kernel's view, events are kept for later.
        Supervisor.Tell(SubEstablished(A, Local2, 50001));
        await AnswerRebuildAsync(A, 40001);

        var rebuilt = await ExpectCallAsync(observer, A, "established");
        Assert.True(rebuilt.Connection.TakenOver);
        Assert.Equal(Side.Client, rebuilt.Connection.Side);
        var initial = Assert.Single(rebuilt.Subflows);
        Assert.True(initial.Initial);
        Assert.Equal(new Endpoint(Local1, 40001), initial.Local);

        var late = await ExpectCallAsync(observer, A, "subflow_established");
        Assert.Equal(new Endpoint(Local2, 50001), Assert.IsType<SubflowView>(late.Argument).Local);

        // The other connection never noticed.
        Supervisor.Tell(Announced(B, Peer2, 3));
        var announced = await ExpectCallAsync(observer, B, "announced");
        Assert.Equal(Peer2, Assert.IsType<RemoteAddress>(announced.Argument).Address);
        Assert.Equal(0, (await StateAsync(B)).Restarts);
        Assert.False((await StateAsync(B)).TakenOver);

        var a = await StateAsync(A);
        Assert.Equal(1, a.Restarts);
        Assert.True(a.TakenOver);
        Assert.Equal(2, a.Subflows.Count);
        Assert.Equal([A, B], (await SupervisorStateAsync()).Tokens.Order());
    }

    [Fact]
    public async Task A_restarted_connection_that_the_kernel_no_longer_has_stops()
    {
        var observer = CreateTestProbe();
        await StartSupervisorAsync(ThrowingOnAnnouncedForA(observer), false, Eth0);
        Supervisor.Tell(Created(A));
        Supervisor.Tell(Established(A));
        await ExpectCallAsync(observer, A, "established");
        var connection = await IdentifyAsync(ConnectionPath(A));
        Watch(connection!);

        Supervisor.Tell(Announced(A, Peer2, 3));
        var dump = await Gateway.FishForMessageAsync<DumpConnections>(d => d.Token == A);
        Gateway.LastSender.Tell(new ConnectionsDumped(dump.Purpose, [], [], null));

        await ExpectTerminatedAsync(connection!);
        await AwaitAssertAsync(async () => Assert.Empty((await SupervisorStateAsync()).Tokens), TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task A_restarted_connection_counts_every_restart_and_keeps_its_side()
    {
        var observer = CreateTestProbe();
        await StartSupervisorAsync(PolicySelector.Of("recording", () => new RecordingPolicy(observer)), false, Eth0);
        Supervisor.Tell(Created(A, 443, server: true, remote: Peer2, remotePort: 50000));
        Supervisor.Tell(Established(A, 443, server: true, remote: Peer2, remotePort: 50000));
        Assert.Equal(Side.Server, (await ExpectCallAsync(observer, A, "established")).Connection.Side);

        for (var i = 1; i <= 2; i++)
        {
            Supervisor.Tell(new ConnectionSupervisor.ToConnection(A, new ConnectionProtocol.Crash($"crash {i}")));
            var dump = await Gateway.FishForMessageAsync<DumpConnections>(d => d.Token == A);
            Gateway.LastSender.Tell(new ConnectionsDumped(dump.Purpose,
                [ConnDiag(A, Local1, 443, Peer2, 50000)], [SubDiag(A, Local1, 443, Peer2, 50000)], null));
            var rebuilt = await ExpectCallAsync(observer, A, "established");
            Assert.True(rebuilt.Connection.TakenOver);
            Assert.Equal(Side.Server, rebuilt.Connection.Side);

            var state = await StateAsync(A);
            Assert.Equal(i, state.Restarts);
            Assert.Equal(Side.Server, state.Side);
        }
    }

    [Fact]
    public async Task A_restarted_connection_sees_the_local_addresses_of_now_not_of_its_creation()
    {
        var observer = CreateTestProbe();
        await StartSupervisorAsync(PolicySelector.Of("recording", () => new RecordingPolicy(observer)), false, Eth0);
        Supervisor.Tell(Created(A));
        Supervisor.Tell(Established(A));
        Assert.Equal([Eth0], (await ExpectCallAsync(observer, A, "established")).Locals);

        Supervisor.Tell(new LocalAddressesProtocol.Added(Wlan0, [Eth0, Wlan0]));
        await ExpectCallAsync(observer, A, "local_added");

        Supervisor.Tell(new ConnectionSupervisor.ToConnection(A, new ConnectionProtocol.Crash("crash")));
        await AnswerRebuildAsync(A, 40000);
        var rebuilt = await ExpectCallAsync(observer, A, "established");
        Assert.Equal([Eth0, Wlan0], rebuilt.Locals);
    }

    [Fact]
    public async Task Takeover_adopts_every_live_connection_with_its_subflows_and_tells_servers_apart_by_listener()
    {
        var observer = CreateTestProbe();
        await StartSupervisorAsync(PolicySelector.Of("recording", () => new RecordingPolicy(observer)), true, Eth0, Wlan0);

        const uint fallback = 0xcccc0003;
        Supervisor.Tell(new ConnectionsDumped(DumpPurpose.Takeover,
            [
                ConnDiag(A, Local1, 40000, Remote1, 443),
                ConnDiag(B, Local1, 8443, Peer2, 50000),
                ConnDiag(fallback, Local1, 40005, Remote1, 443, flags: 1),
                ConnDiag(0, Local1, 40006, Remote1, 443),
            ],
            [
                SubDiag(A, Local1, 40000, Remote1, 443),
                SubDiag(A, Local2, 40001, Remote1, 443, localId: 1),
                SubDiag(B, Local1, 8443, Peer2, 50000),
                SubDiag(B, Local1, 8443, Peer2, 50001, remoteId: 2),
                SubDiag(B, Local1, 8443, IPAddress.Parse("203.0.113.3"), 50002, remoteId: 3),
            ],
            null)
        {
            Listeners = [Listener(IPAddress.Any, 8443)],
        });

        var calls = new[] { await observer.ExpectMsgAsync<Called>(), await observer.ExpectMsgAsync<Called>() }.ToDictionary(c => c.Token);
        await observer.ExpectNoMsgAsync(Quiet);
        Assert.Equal([A, B], calls.Keys.Order());
        Assert.All(calls.Values, c => Assert.Equal("established", c.Callback));
        Assert.All(calls.Values, c => Assert.True(c.Connection.TakenOver));

        var a = calls[A];
        Assert.Equal(Side.Client, a.Connection.Side);
        Assert.Equal(new Endpoint(Local1, 40000), a.Connection.Local);
        Assert.Equal(new Endpoint(Remote1, 443), a.Connection.Remote);
        Assert.Equal([(Local1, (ushort)40000, true), (Local2, (ushort)40001, false)], a.Subflows.Select(s => (s.Local.Address, s.Local.Port, s.Initial)));
        Assert.All(a.Subflows, s => Assert.Equal(SubflowPhase.Established, s.Phase));
        Assert.Equal([Eth0, Wlan0], a.Locals);

        var b = calls[B];
        Assert.Equal(Side.Server, b.Connection.Side);
        Assert.Equal(3, b.Subflows.Count);
        Assert.Equal([50000, 50001, 50002], b.Subflows.Select(s => (int)s.Remote.Port));

        Assert.Equal([A, B], (await SupervisorStateAsync()).Tokens.Order());
        var stateB = await StateAsync(B);
        Assert.True(stateB.TakenOver);
        Assert.True(stateB.Established);
        Assert.Equal(Side.Server, stateB.Side);
    }

    [Fact]
    public async Task Takeover_with_server_guard_refuses_the_extra_subflows_of_a_taken_over_server_connection()
    {
        var selector = PolicySelector.Defaults("fullmesh", new PolicyRule("servers", Side.Server, null, null, null, "server-guard"));
        await StartSupervisorAsync(selector, true, Eth0);
        Supervisor.Tell(new ConnectionsDumped(DumpPurpose.Takeover,
            [ConnDiag(B, Local1, 8443, Peer2, 50000)],
            [
                SubDiag(B, Local1, 8443, Peer2, 50000),
                SubDiag(B, Local1, 8443, IPAddress.Parse("203.0.113.3"), 50001, remoteId: 2),
                SubDiag(B, Local1, 8443, IPAddress.Parse("203.0.113.4"), 50002, remoteId: 3),
            ],
            null)
        {
            Listeners = [Listener(Local1, 8443)],
        });

        // server-guard allows 2 subflows by default: the third, the youngest in dump order, is destroyed.
        var (destroy, _) = await ExpectCommandAsync<DestroySubflow>();
        Assert.Equal(IPAddress.Parse("203.0.113.4"), destroy.Remote.Address);
        Assert.Equal((ushort)50002, destroy.Remote.Port);
        await Gateway.ExpectNoMsgAsync(Quiet);
        Assert.Equal("server-guard", (await StateAsync(B)).Policy);
    }
}
