using System.Collections.Immutable;
using Akka.Event;
using Smapp.Actors.Configuration;
using Smapp.Actors.Connections;
using Smapp.Netlink.Mptcp;
using Smapp.Policy;
using Smapp.Tests.Actors;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Tests.Connections;

/// <summary>A connection's core with no actor: events in, policy callbacks, commands and timer requests out.</summary>
public class ConnectionCoreTests
{
    private const uint Token = 0x5eed0001;

    private sealed class Host : IConnectionHost
    {
        public List<PmCommand> Sent { get; } = [];

        public List<string> Timers { get; } = [];

        public bool Ended { get; private set; }

        public DateTimeOffset Now { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public ILoggingAdapter Log => NoLogger.Instance;

        public bool DecisionsAtInfo => false;

        public void Send(PmCommand command) => Sent.Add(command);

        public void StartReopenTimer(int subflowId, TimeSpan delay) => Timers.Add($"reopen {subflowId} in {delay.TotalMilliseconds} ms");

        public void CancelReopenTimer(int subflowId) => Timers.Add($"cancel reopen {subflowId}");

        public void StartPolicyTimer(string key, TimeSpan delay, bool repeat) => Timers.Add($"policy {key}");

        public void CancelPolicyTimer(string key) => Timers.Add($"cancel policy {key}");

        public void Finished() => Ended = true;
    }

    private static readonly ImmutableList<LocalAddress> Locals = [ControllerTestKit.Eth0, ControllerTestKit.Wlan0];

    private static (ConnectionCore Core, Host Host) Established(string policy = "fullmesh")
    {
        var host = new Host();
        var choice = PolicySelector.Defaults(policy).Select(Side.Client, new Endpoint(ControllerTestKit.Local1, 40000), new Endpoint(ControllerTestKit.Remote1, 443));
        var core = new ConnectionCore(choice, host);
        core.StartFromEvent(Token, ControllerTestKit.Created(Token), Locals);
        core.OnEvent(ControllerTestKit.Established(Token));
        return (core, host);
    }

    [Fact]
    public void Established_runs_the_policy_and_its_create_goes_out_with_the_next_local_id()
    {
        var (core, host) = Established();
        var create = Assert.IsType<CreateSubflow>(Assert.Single(host.Sent));
        Assert.Equal((Token, ControllerTestKit.Local2, (byte?)1, ControllerTestKit.Remote1, (ushort?)443),
            (create.Token, create.Local.Address, create.Local.Id, create.Remote.Address, create.Remote.Port));
        Assert.Equal(1, core.PendingCommandCount);
        Assert.Equal(2, core.State(0).Subflows.Count);
    }

    [Fact]
    public void A_refused_create_closes_the_subflow_and_fullmesh_asks_for_a_reopen_timer()
    {
        var (core, host) = Established();
        var create = (CreateSubflow)host.Sent[0];
        core.OnResult(new CommandResult(create, 104, "connection reset"));
        Assert.Equal(0, core.PendingCommandCount);
        var s = Assert.Single(core.State(0).Subflows, x => !x.Initial);
        Assert.Equal(SubflowPhase.Pending, s.Phase);
        Assert.Equal([$"reopen {s.Id} in 1000 ms"], host.Timers);

        core.OnReopenDue(s.Id);
        Assert.IsType<CreateSubflow>(host.Sent[^1]);
        Assert.Equal(SubflowPhase.Connecting, Assert.Single(core.State(0).Subflows, x => !x.Initial).Phase);
    }

    [Fact]
    public void An_answer_to_a_command_it_never_sent_changes_nothing()
    {
        var (core, host) = Established();
        var stranger = new CreateSubflow(999, Token, new MptcpAddress(ControllerTestKit.Local2, 1), new MptcpAddress(ControllerTestKit.Remote1, null, 443));
        core.OnResult(new CommandResult(stranger, 22, "no"));
        Assert.Equal(1, core.PendingCommandCount);
        Assert.Single(host.Sent);
    }

    [Fact]
    public void Closed_ends_the_connection()
    {
        var (core, host) = Established();
        core.OnEvent(ControllerTestKit.Closed(Token));
        Assert.True(host.Ended);
    }

    [Fact]
    public void A_throwing_policy_throws_out_of_the_core_for_its_host_to_restart()
    {
        var host = new Host();
        var choice = PolicySelector.Of("thrower", () => new Thrower()).Select(Side.Client, default, default);
        var core = new ConnectionCore(choice, host);
        core.StartFromEvent(Token, ControllerTestKit.Created(Token), Locals);
        Assert.Throws<InvalidOperationException>(() => core.OnEvent(ControllerTestKit.Established(Token)));
    }

    private sealed class Thrower : SubflowPolicy
    {
        public override string Name => "thrower";

        public override PolicyEvents Subscriptions => PolicyEvents.Established;

        public override void OnEstablished(IConnectionContext ctx) => throw new InvalidOperationException("policy bug");
    }

    [Fact]
    public void A_replaced_policy_s_timers_are_cancelled_and_the_new_one_acts_on_the_established_connection()
    {
        var (core, host) = Established("streaming");
        Assert.Contains("policy period", host.Timers);
        Assert.Empty(host.Sent); // streaming opens nothing at establishment
        var ndiffports = PolicySelector.Defaults().Custom("ndiffports", new Dictionary<string, string> { ["subflows"] = "3" }, "app (uid 0)");

        core.ReplacePolicy(ndiffports);

        Assert.Contains("cancel policy period", host.Timers);
        Assert.Contains("cancel policy check", host.Timers);
        Assert.Equal(2, host.Sent.OfType<CreateSubflow>().Count()); // 3 of 3 with the initial one
        Assert.All(host.Sent.OfType<CreateSubflow>(), c => Assert.Equal(ControllerTestKit.Local1, c.Local.Address));
        var status = core.Status(false);
        Assert.Equal(("ndiffports", "app (uid 0)"), (status.Policy, status.Rule));
        Assert.Contains(status.Decisions, d => d.What == "policy" && d.Why == "streaming replaced by ndiffports (app (uid 0))");

        // A timer of the old policy that was already due reaches the new one, which did not subscribe: nothing happens.
        core.OnPolicyTimer("period");
        Assert.Equal(2, host.Sent.Count);
        Assert.True(core.Matches(new Endpoint(ControllerTestKit.Local1, 40000), new Endpoint(ControllerTestKit.Remote1, 443)));
        Assert.False(core.Matches(new Endpoint(ControllerTestKit.Local1, 40001), new Endpoint(ControllerTestKit.Remote1, 443)));
    }
}
