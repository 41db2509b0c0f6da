using System.Net;
using Akka.Actor;
using Smapp.Actors.Configuration;
using Smapp.Actors.Connections;
using Smapp.Actors.Local;
using Smapp.Policy;
using Smapp.Netlink.Mptcp;
using Xunit.Abstractions;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Tests.Actors;

/// <summary>Fullmesh driven through the supervisor by kernel events, against a fake gateway, on virtual time.</summary>
public class FullmeshScenarioTests(ITestOutputHelper output) : ControllerTestKit(output)
{
    private const uint Token = 0xfeed0001;

    /// <summary>A client connection established with two IPv4 addresses and one IPv6; returns the connection actor.</summary>
    private async Task<(CreateSubflow Create, IActorRef Connection)> EstablishAsync()
    {
        await StartSupervisorAsync(PolicySelector.Defaults("fullmesh"), false, Eth0, Wlan0, Eth0V6);
        Supervisor.Tell(Created(Token));
        Supervisor.Tell(Established(Token));
        return await ExpectCommandAsync<CreateSubflow>();
    }

    /// <summary>Established, the second subflow up on 198.51.100.1:50001, then closed by the kernel with <paramref name="errno"/>.</summary>
    private async Task<IActorRef> SecondSubflowClosedAsync(byte errno)
    {
        var (create, connection) = await EstablishAsync();
        Reply(connection, create);
        Supervisor.Tell(SubEstablished(Token, Local2, 50001));
        Supervisor.Tell(SubClosed(Token, Local2, 50001, errno));
        var state = await SettleAsync(Token);
        var s = Assert.Single(state.Subflows, x => !x.Initial);
        Assert.Equal(SubflowPhase.Pending, s.Phase);
        Assert.Equal(1, s.Failures);
        return connection;
    }

    [Fact]
    public async Task Fullmesh_sends_subflow_create_for_the_second_local_address_on_established()
    {
        var (create, connection) = await EstablishAsync();

        Assert.Equal(Token, create.Token);
        Assert.Equal(Local2, create.Local.Address);
        Assert.Equal((byte)1, create.Local.Id);
        Assert.Null(create.Local.Port);
        Assert.Equal(MptcpAddrFlags.None, create.Local.Flags);
        Assert.Equal(Remote1, create.Remote.Address);
        Assert.Equal((ushort)443, create.Remote.Port);
        Assert.Equal(ConnectionPath(Token), connection.Path);
        await Gateway.ExpectNoMsgAsync(Quiet); // nothing for the IPv6 address, nothing for the initial pair

        var state = await StateAsync(Token);
        Assert.True(state.Established);
        Assert.Equal([SubflowPhase.Established, SubflowPhase.Connecting], state.Subflows.Select(s => s.Phase));
    }

    [Fact]
    public async Task Fullmesh_opens_toward_an_announced_address_and_closes_it_when_withdrawn()
    {
        var (create, connection) = await EstablishAsync();
        Reply(connection, create);
        Supervisor.Tell(SubEstablished(Token, Local2, 50001));

        var announced = IPAddress.Parse("203.0.113.2");
        Supervisor.Tell(Announced(Token, announced, 5, 8443));
        var opened = new[] { (await ExpectCommandAsync<CreateSubflow>()).Command, (await ExpectCommandAsync<CreateSubflow>()).Command };
        Assert.All(opened, c => Assert.Equal(announced, c.Remote.Address));
        Assert.All(opened, c => Assert.Equal((ushort)8443, c.Remote.Port));
        Assert.Equal([Local1, Local2], opened.Select(c => c.Local.Address).OrderBy(a => a.ToString()));
        foreach (var c in opened)
        {
            Reply(connection, c);
        }

        Supervisor.Tell(SubEstablished(Token, Local1, 50002, 0, announced, 8443, 5));
        Supervisor.Tell(Removed(Token, 5));
        var (destroy, _) = await ExpectCommandAsync<DestroySubflow>();
        Assert.Equal(announced, destroy.Remote.Address);
        Assert.Equal((ushort)50002, destroy.Local.Port);
    }

    [Theory]
    [InlineData(104, 1_000)] // ECONNRESET: short
    [InlineData(111, 1_000)] // ECONNREFUSED: short
    [InlineData(113, 5_000)] // EHOSTUNREACH: long
    [InlineData(110, 5_000)] // ETIMEDOUT: long
    [InlineData(0, 2_000)]   // closed without an error
    public async Task Fullmesh_reopens_a_subflow_exactly_at_the_backoff_delay_for_its_error(byte errno, int delayMs)
    {
        await SecondSubflowClosedAsync(errno);

        Advance(delayMs - 1);
        await Gateway.ExpectNoMsgAsync(Quiet);

        Advance(1);
        var (again, _) = await ExpectCommandAsync<CreateSubflow>();
        Assert.Equal(Local2, again.Local.Address);
        Assert.Null(again.Local.Port);
        Assert.Equal((byte)1, again.Local.Id);
        Assert.Equal(Remote1, again.Remote.Address);
        Assert.Equal((ushort)443, again.Remote.Port);

        var s = Assert.Single((await StateAsync(Token)).Subflows, x => !x.Initial);
        Assert.Equal(SubflowPhase.Connecting, s.Phase);
    }

    [Fact]
    public async Task Fullmesh_waits_longer_after_each_consecutive_failure_and_resets_once_established()
    {
        await SecondSubflowClosedAsync(104);
        Advance(1_000);
        var (again, connection) = await ExpectCommandAsync<CreateSubflow>();
        Reply(connection, again);

        // The re-create fails before the kernel ever reports it established (its port is still unknown).
        Supervisor.Tell(SubClosed(Token, Local2, 50009, 104));
        var state = await SettleAsync(Token);
        Assert.Equal(2, Assert.Single(state.Subflows, x => !x.Initial).Failures);
        Advance(1_999);
        await Gateway.ExpectNoMsgAsync(Quiet);
        Advance(1);
        (again, _) = await ExpectCommandAsync<CreateSubflow>();
        Reply(connection, again);

        // Established again: the count starts over, so the next reset waits the short delay again.
        Supervisor.Tell(SubEstablished(Token, Local2, 50010));
        Supervisor.Tell(SubClosed(Token, Local2, 50010, 104));
        state = await SettleAsync(Token);
        Assert.Equal(1, Assert.Single(state.Subflows, x => !x.Initial).Failures);
        Advance(999);
        await Gateway.ExpectNoMsgAsync(Quiet);
        Advance(1);
        await ExpectCommandAsync<CreateSubflow>();
    }

    [Fact]
    public async Task A_pending_reopen_is_cancelled_when_its_local_address_goes_away()
    {
        await SecondSubflowClosedAsync(104);

        Supervisor.Tell(new LocalAddressesProtocol.Removed(Wlan0, [Eth0, Eth0V6]));
        var state = await SettleAsync(Token);
        Assert.DoesNotContain(state.Subflows, s => s.Local.StartsWith("198.51.100.1", StringComparison.Ordinal));

        Advance(TimeSpan.FromMinutes(5));
        await Gateway.ExpectNoMsgAsync(Quiet);
    }

    [Fact]
    public async Task A_subflow_abandoned_while_connecting_is_destroyed_once_the_kernel_reports_it()
    {
        var (create, connection) = await EstablishAsync();
        Reply(connection, create);

        // The address goes away while the create is in flight: nothing to destroy yet, the kernel has not told the port.
        // The connection asks for the kernel's view of itself, which has the subflow still opening, with its port.
        Supervisor.Tell(new LocalAddressesProtocol.Removed(Wlan0, [Eth0, Eth0V6]));
        var check = await Gateway.FishForMessageAsync<DumpConnections>(d => d.Purpose == DumpPurpose.Check);
        Supervisor.Tell(new ConnectionsDumped(DumpPurpose.Check, [ConnDiag(Token, Local1, 40000, Remote1, 443)],
            [SubDiag(Token, Local1, 40000, Remote1, 443), SubDiag(Token, Local2, 50001, Remote1, 443, localId: 1) with { TcpState = Reconciliation.TcpSynSent }], null) { RequestedAt = check.RequestedAt });

        var (destroy, _) = await ExpectCommandAsync<DestroySubflow>();
        Assert.Equal(Local2, destroy.Local.Address);
        Assert.Equal((ushort)50001, destroy.Local.Port);
        Assert.Equal(Remote1, destroy.Remote.Address);
        Assert.Equal((ushort)443, destroy.Remote.Port);
        Reply(connection, destroy);

        // Once closed it is forgotten and never re-opened.
        Supervisor.Tell(SubClosed(Token, Local2, 50001, 0));
        Assert.Single((await SettleAsync(Token)).Subflows);
        Advance(TimeSpan.FromMinutes(5));
        await Gateway.ExpectNoMsgAsync(Quiet);
    }

    [Fact]
    public async Task A_refused_subflow_create_reaches_the_policy_as_a_command_result_and_a_close()
    {
        var observer = CreateTestProbe();
        var policy = PolicySelector.Of("opener", () => new RecordingPolicy(observer, (callback, ctx, _) =>
        {
            if (callback == "established")
            {
                ctx.OpenSubflow(ctx.LocalAddresses.Single(a => a.Address.Equals(Local2)), ctx.Connection.Remote);
            }
        }));
        await StartSupervisorAsync(policy, false, Eth0, Wlan0);
        Supervisor.Tell(Created(Token));
        Supervisor.Tell(Established(Token));
        await observer.ExpectMsgAsync<Called>(c => c.Callback == "created");
        await observer.ExpectMsgAsync<Called>(c => c.Callback == "established");

        var (create, connection) = await ExpectCommandAsync<CreateSubflow>();
        Reply(connection, create, 22, "Invalid argument: address already in use by a subflow");

        var result = await observer.ExpectMsgAsync<Called>(c => c.Callback == "command_result");
        var outcome = Assert.IsType<CommandOutcome>(result.Argument);
        Assert.Equal("SUBFLOW_CREATE", outcome.Command.Name);
        Assert.Equal(CommandKind.OpenSubflow, outcome.Command.Kind);
        Assert.Equal(Errno.EINVAL, outcome.Errno);
        Assert.False(outcome.Success);
        Assert.Equal("Invalid argument: address already in use by a subflow", outcome.Message);
        var opened = Assert.Single(result.Subflows, s => !s.Initial);
        Assert.Equal(opened.Id, outcome.SubflowId);

        var closed = await observer.ExpectMsgAsync<Called>(c => c.Callback == "subflow_closed");
        var reason = Assert.IsType<CloseReason>(closed.Argument);
        Assert.Equal(Errno.EINVAL, reason.Errno);
        Assert.Equal("Invalid argument: address already in use by a subflow", reason.Message);

        // The recording policy does not re-open it: it is forgotten.
        Assert.Single((await StateAsync(Token)).Subflows);
    }

    [Fact]
    public async Task Fullmesh_retries_a_refused_subflow_create_with_backoff()
    {
        var (create, connection) = await EstablishAsync();
        Reply(connection, create, 22, "Invalid argument");

        var state = await SettleAsync(Token);
        var s = Assert.Single(state.Subflows, x => !x.Initial);
        Assert.Equal(SubflowPhase.Pending, s.Phase);
        Assert.Equal(1, s.Failures);

        Advance(1_999); // EINVAL is neither a reset nor unreachable: 2 s
        await Gateway.ExpectNoMsgAsync(Quiet);
        Advance(1);
        var (again, _) = await ExpectCommandAsync<CreateSubflow>();
        Assert.Equal(create.Local.Address, again.Local.Address);
        Assert.Equal(create.Remote, again.Remote);
        Assert.NotEqual(create.Correlation, again.Correlation);
    }

    [Fact]
    public async Task A_result_for_an_unknown_command_changes_nothing()
    {
        var (create, connection) = await EstablishAsync();
        Reply(connection, create with { Correlation = 999 }, 22, "stale");
        var s = Assert.Single((await SettleAsync(Token)).Subflows, x => !x.Initial);
        Assert.Equal(SubflowPhase.Connecting, s.Phase);
        Advance(TimeSpan.FromMinutes(1));
        await Gateway.ExpectNoMsgAsync(Quiet);
    }
}
