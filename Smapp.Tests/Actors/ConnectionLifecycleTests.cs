using Akka.Actor;
using Smapp.Actors.Configuration;
using Smapp.Actors.Connections;
using Smapp.Policy;
using Xunit.Abstractions;

namespace Smapp.Tests.Actors;

/// <summary>One connection actor per token, one subflow actor per subflow; routing by token.</summary>
public class ConnectionLifecycleTests(ITestOutputHelper output) : ControllerTestKit(output)
{
    private const uint Token = 0x0a0b0c0d;

    [Fact]
    public async Task A_connection_actor_is_created_on_created_and_stopped_on_closed()
    {
        await StartSupervisorAsync(PolicySelector.Defaults("passive"), false, Eth0);
        Assert.Empty((await SupervisorStateAsync()).Tokens);

        Supervisor.Tell(Created(Token));
        Assert.Equal([Token], (await SupervisorStateAsync()).Tokens);
        var state = await StateAsync(Token);
        Assert.Equal(Token, state.Token);
        Assert.Equal(Side.Client, state.Side);
        Assert.Equal("192.0.2.1:40000", state.Local);
        Assert.Equal("203.0.113.1:443", state.Remote);
        Assert.Equal("passive", state.Policy);
        Assert.False(state.Established);
        Assert.False(state.TakenOver);
        var initial = Assert.Single(state.Subflows);
        Assert.True(initial.Initial);

        var connection = await IdentifyAsync(ConnectionPath(Token));
        Assert.NotNull(connection);
        Watch(connection);

        Supervisor.Tell(Established(Token));
        Assert.True((await StateAsync(Token)).Established);

        Supervisor.Tell(Closed(Token));
        await ExpectTerminatedAsync(connection);

        // The supervisor hears of the stop through its own watch, which may land just after ours.
        await AwaitAssertAsync(async () => Assert.Empty((await SupervisorStateAsync()).Tokens), TimeSpan.FromSeconds(3));

        var probe = CreateTestProbe();
        Supervisor.Tell(new ConnectionSupervisor.ToConnection(Token, ConnectionProtocol.GetState.Instance), probe);
        var failure = await probe.ExpectMsgAsync<Status.Failure>();
        Assert.IsType<KeyNotFoundException>(failure.Cause);
    }

    [Fact]
    public async Task A_server_side_created_event_makes_a_server_side_connection_with_the_rule_chosen_policy()
    {
        var selector = PolicySelector.Defaults("fullmesh", new PolicyRule("servers", Side.Server, null, null, null, "server-guard"));
        await StartSupervisorAsync(selector, false, Eth0);
        Supervisor.Tell(Created(Token, localPort: 443, server: true, remote: System.Net.IPAddress.Parse("203.0.113.9"), remotePort: 50000));
        var state = await StateAsync(Token);
        Assert.Equal(Side.Server, state.Side);
        Assert.Equal("server-guard", state.Policy);
        Assert.Equal("servers", state.Rule);
    }

    /// <summary>fullmesh, also watching RTOs: subflow actors are then made for every subflow up front.</summary>
    private sealed class WatchingFullmesh : SubflowPolicy
    {
        private readonly FullmeshPolicy _inner = new();

        public override string Name => "watching-fullmesh";

        public override PolicyEvents Subscriptions => _inner.Subscriptions | PolicyEvents.SubflowTimeout;

        public override void OnEstablished(IConnectionContext ctx) => _inner.OnEstablished(ctx);

        public override void OnLocalAddressRemoved(IConnectionContext ctx, LocalAddress address) => _inner.OnLocalAddressRemoved(ctx, address);

        public override void OnSubflowClosed(IConnectionContext ctx, Subflow subflow, CloseReason reason) => _inner.OnSubflowClosed(ctx, subflow, reason);

        public override void OnSubflowTimeout(IConnectionContext ctx, Subflow subflow, TimeSpan rto)
        {
        }
    }

    [Fact]
    public async Task A_subflow_whose_local_address_goes_away_is_destroyed_and_leaves_the_table()
    {
        await StartSupervisorAsync(PolicySelector.Of("watching-fullmesh", () => new WatchingFullmesh()), false, Eth0, Wlan0);
        Supervisor.Tell(Created(Token));
        Supervisor.Tell(Established(Token));
        var (create, connection) = await ExpectCommandAsync<Smapp.Actors.Gateway.GatewayProtocol.CreateSubflow>();
        Reply(connection, create);
        Supervisor.Tell(SubEstablished(Token, Local2, 50001));

        var state = await StateAsync(Token);
        Assert.Equal(2, state.Subflows.Count);
        Assert.Equal([SubflowPhase.Established, SubflowPhase.Established], state.Subflows.Select(s => s.Phase));
        Assert.Equal("198.51.100.1:50001", state.Subflows[1].Local);

        // The local address goes away: fullmesh closes the subflow, and once the kernel says it closed it is gone.
        Supervisor.Tell(new Smapp.Actors.Local.LocalAddressesProtocol.Removed(Wlan0, [Eth0]));
        var (destroy, _) = await ExpectCommandAsync<Smapp.Actors.Gateway.GatewayProtocol.DestroySubflow>();
        Assert.Equal(Local2, destroy.Local.Address);
        Assert.Equal((ushort)50001, destroy.Local.Port);
        Supervisor.Tell(SubClosed(Token, Local2, 50001, 0));
        Assert.Single((await StateAsync(Token)).Subflows);
    }

    [Fact]
    public async Task Subflows_are_table_entries_not_actors_even_with_a_reopen_timer_running()
    {
        await StartSupervisorAsync(PolicySelector.Defaults("fullmesh"), false, Eth0, Wlan0);
        Supervisor.Tell(Created(Token));
        Supervisor.Tell(Established(Token));
        var (create, connection) = await ExpectCommandAsync<Smapp.Actors.Gateway.GatewayProtocol.CreateSubflow>();
        Reply(connection, create);
        Supervisor.Tell(SubEstablished(Token, Local2, 50001));
        Assert.Equal(2, (await StateAsync(Token)).Subflows.Count);

        // A reset: fullmesh re-opens it after a backoff; the timer is the connection's, no actor is made for it.
        Supervisor.Tell(SubClosed(Token, Local2, 50001, 104));
        Assert.Single((await StateAsync(Token)).Subflows, s => s.Phase == SubflowPhase.Pending);
        var probe = CreateTestProbe();
        Sys.ActorSelection(ConnectionPath(Token) / "*").Tell(new Identify("children"), probe);
        Assert.Null((await probe.ExpectMsgAsync<ActorIdentity>()).Subject);
        Assert.NotNull(await IdentifyAsync(ConnectionPath(Token)));

        Advance(TimeSpan.FromSeconds(1));
        var (again, _) = await ExpectCommandAsync<Smapp.Actors.Gateway.GatewayProtocol.CreateSubflow>();
        Assert.Equal(Local2, again.Local.Address);
    }

    [Fact]
    public async Task A_policy_timer_fires_on_virtual_time_until_the_policy_cancels_it()
    {
        var observer = CreateTestProbe();
        var ticks = 0;
        var selector = PolicySelector.Of("timed", () => new RecordingPolicy(observer, (callback, ctx, _) =>
        {
            if (callback == "established")
            {
                ctx.StartTimer("probe", TimeSpan.FromMilliseconds(500), repeat: true);
            }
            else if (callback == "timer" && ++ticks == 2)
            {
                ctx.CancelTimer("probe");
            }
        }));
        await StartSupervisorAsync(selector, false, Eth0);
        Supervisor.Tell(Created(Token));
        Supervisor.Tell(Established(Token));
        await observer.FishForMessageAsync<Called>(c => c.Callback == "established");
        await StateAsync(Token);

        Advance(499);
        await observer.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(20));
        Advance(1);
        Assert.Equal("probe", (await observer.ExpectMsgAsync<Called>(c => c.Callback == "timer")).Argument);
        Advance(500);
        await observer.ExpectMsgAsync<Called>(c => c.Callback == "timer");
        await StateAsync(Token);

        Advance(TimeSpan.FromSeconds(5));
        await observer.ExpectNoMsgAsync(Quiet);
    }

    [Fact]
    public async Task Two_thousand_connections_each_get_exactly_their_own_events()
    {
        const int count = 2_000;
        var observer = CreateTestProbe();
        await StartSupervisorAsync(PolicySelector.Of("recording", () => new RecordingPolicy(observer)), false, Eth0);

        static uint TokenOf(int i) => 0x10000000u + (uint)(i * 7919);
        static ushort PortOf(int i) => (ushort)(20000 + i);
        for (var i = 0; i < count; i++)
        {
            Supervisor.Tell(Created(TokenOf(i), PortOf(i)));
        }

        for (var i = count - 1; i >= 0; i--)
        {
            Supervisor.Tell(Established(TokenOf(i), PortOf(i)));
        }

        var calls = (await observer.ReceiveNAsync(2 * count, TimeSpan.FromSeconds(30)).ToListAsync()).Cast<Called>().ToList();
        await observer.ExpectNoMsgAsync(Quiet);

        var byToken = calls.GroupBy(c => c.Token).ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal(count, byToken.Count);
        for (var i = 0; i < count; i++)
        {
            var mine = byToken[TokenOf(i)];
            Assert.Equal(["created", "established"], mine.Select(c => c.Callback));
            Assert.All(mine, c => Assert.Equal(PortOf(i), c.Connection.Local.Port));
        }

        var tokens = (await SupervisorStateAsync()).Tokens;
        Assert.Equal(count, tokens.Count);
        Assert.Equal(Enumerable.Range(0, count).Select(TokenOf).Order(), tokens.Order());
    }

    [Fact]
    public async Task A_token_seen_again_on_created_replaces_the_old_connection_and_leaves_the_others_alone()
    {
        const uint other = 0x0e0e0e0e;
        var observer = CreateTestProbe();
        await StartSupervisorAsync(PolicySelector.Of("recording", () => new RecordingPolicy(observer)), false, Eth0);
        Supervisor.Tell(Created(other, 39999));
        await observer.ExpectMsgAsync<Called>(c => c.Callback == "created" && c.Token == other);
        Supervisor.Tell(Created(Token, 40000));
        await observer.ExpectMsgAsync<Called>(c => c.Callback == "created" && c.Token == Token);
        var first = await IdentifyAsync(ConnectionPath(Token));
        Watch(first!);

        Supervisor.Tell(Created(Token, 40001));
        await ExpectTerminatedAsync(first!);
        var again = await observer.ExpectMsgAsync<Called>(c => c.Callback == "created");
        Assert.Equal((ushort)40001, again.Connection.Local.Port);
        Assert.Equal("192.0.2.1:40001", (await StateAsync(Token)).Local);

        // The supervisor itself did not fail: no new subscription, and the other connection is still there.
        Assert.Equal([Token, other], (await SupervisorStateAsync()).Tokens.Order());
        Assert.Equal("192.0.2.1:39999", (await StateAsync(other)).Local);
        await LocalAddresses.ExpectNoMsgAsync(Quiet);
    }

    [Fact]
    public async Task Events_for_unknown_connections_ask_the_kernel_once_for_all_of_them()
    {
        await StartSupervisorAsync(PolicySelector.Defaults("passive"), false, Eth0);
        Supervisor.Tell(SubEstablished(Token, Local2, 50001));
        Supervisor.Tell(SubClosed(Token, Local2, 50001, 104));
        Supervisor.Tell(SubEstablished(Token + 1, Local2, 50002));
        var ask = await Gateway.ExpectMsgAsync<Smapp.Actors.Gateway.GatewayProtocol.DumpConnections>();
        Assert.Null(ask.Token); // one dump serves every connection we do not know
        await Gateway.ExpectNoMsgAsync(Quiet);
        Assert.Empty((await SupervisorStateAsync()).Tokens);
    }
}
