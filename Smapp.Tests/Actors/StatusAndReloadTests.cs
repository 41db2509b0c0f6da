using Akka.Actor;
using Smapp.Actors.Configuration;
using Smapp.Actors.Gateway;
using Smapp.Actors.Observing;
using Smapp.Policy;
using Xunit.Abstractions;

namespace Smapp.Tests.Actors;

/// <summary>The supervisor's side of `smapp status`, of SIGHUP's reload and of systemd's readiness.</summary>
public class StatusAndReloadTests(ITestOutputHelper output) : ControllerTestKit(output)
{
    [Fact]
    public async Task A_new_selector_applies_to_connections_made_after_it_and_the_old_ones_keep_their_policy()
    {
        await StartSupervisorAsync(PolicySelector.Defaults("passive"), false, Eth0);
        Supervisor.Tell(Created(1));
        Assert.Equal("passive", (await StateAsync(1)).Policy);

        var rule = new PolicyRule("bulk", null, new HashSet<ushort> { 5202 }, null, null, "ndiffports");
        var replaced = await Supervisor.Ask<StatusProtocol.SelectorReplaced>(new StatusProtocol.ReplaceSelector(PolicySelector.Defaults("fullmesh", rule)), TimeSpan.FromSeconds(3));
        Assert.Equal(("fullmesh", 1), (replaced.DefaultPolicy, replaced.Rules));

        Supervisor.Tell(Created(2, localPort: 40001));
        Supervisor.Tell(Created(3, localPort: 40002, remotePort: 5202));
        Assert.Equal(("fullmesh", "default"), ((await StateAsync(2)).Policy, (await StateAsync(2)).Rule));
        Assert.Equal(("ndiffports", "bulk"), ((await StateAsync(3)).Policy, (await StateAsync(3)).Rule));
        Assert.Equal("passive", (await StateAsync(1)).Policy);

        var status = await Supervisor.Ask<StatusProtocol.ConnectionsStatus>(StatusProtocol.GetStatus.Instance, TimeSpan.FromSeconds(3));
        Assert.Equal(new uint[] { 1, 2, 3 }, status.Connections.Select(c => c.Token).Order());
        Assert.Equal(("fullmesh", 1), (status.DefaultPolicy, status.Rules));
        Assert.Equal("eth0", Assert.Single(status.Locals).InterfaceName);

        Supervisor.Tell(Closed(2));
        await AwaitAssertAsync(async () =>
        {
            var s = await Supervisor.Ask<StatusProtocol.ConnectionsStatus>(StatusProtocol.GetStatus.Instance, TimeSpan.FromSeconds(3));
            Assert.Equal(new uint[] { 1, 3 }, s.Connections.Select(c => c.Token).Order());
        }, TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task Ready_is_answered_only_once_the_takeover_dump_is_handled()
    {
        await StartSupervisorAsync(PolicySelector.Defaults("passive"), true, Eth0);
        var waiter = CreateTestProbe();
        Supervisor.Tell(StatusProtocol.AwaitReady.Instance, waiter);
        await waiter.ExpectNoMsgAsync(Quiet);

        Supervisor.Tell(new GatewayProtocol.ConnectionsDumped(GatewayProtocol.DumpPurpose.Takeover, [ConnDiag(7, Local1, 40000, Remote1, 443)], [SubDiag(7, Local1, 40000, Remote1, 443)], null), Gateway.Ref);
        await waiter.ExpectMsgAsync<StatusProtocol.Ready>();

        // Later askers are answered at once; the adopted connection is there.
        Supervisor.Tell(StatusProtocol.AwaitReady.Instance, waiter);
        await waiter.ExpectMsgAsync<StatusProtocol.Ready>();
        var status = await Supervisor.Ask<StatusProtocol.ConnectionsStatus>(StatusProtocol.GetStatus.Instance, TimeSpan.FromSeconds(3));
        Assert.Equal(7u, Assert.Single(status.Connections).Token);
        Assert.True(status.Connections[0].TakenOver);
    }
}
