using Akka.Actor;
using Smapp.Policy;

namespace Smapp.Tests.Actors;

/// <summary>A copy of a subflow's view at the time of a callback (the live object keeps changing).</summary>
public sealed record SubflowView(int Id, Endpoint Local, Endpoint Remote, SubflowPhase Phase, bool Initial, int Failures, SubflowSample? LastSample)
{
    public static SubflowView Of(Subflow s) => new(s.Id, s.Local, s.Remote, s.Phase, s.Initial, s.Failures, s.LastSample);
}

/// <summary>One policy callback, as the recording policy reports it to the test.</summary>
public sealed record Called(string Callback, ConnectionInfo Connection, object? Argument, IReadOnlyList<SubflowView> Subflows, IReadOnlyList<LocalAddress> Locals)
{
    public uint Token => Connection.Token;
}

/// <summary>
/// Overrides the connection and subflow callbacks (not the sampling ones): tells <paramref name="observer"/> about
/// every call, then runs the optional script, which may issue commands or throw.
/// </summary>
public class RecordingPolicy(IActorRef observer, Action<string, IConnectionContext, object?>? script = null) : SubflowPolicy
{
    public override string Name => "recording";

    /// <summary>Every callback it overrides: all but the sampling ones.</summary>
    public override PolicyEvents Subscriptions =>
        PolicyEvents.Created | PolicyEvents.Established | PolicyEvents.Closed | PolicyEvents.Announced | PolicyEvents.Removed |
        PolicyEvents.SubflowEstablished | PolicyEvents.SubflowClosed | PolicyEvents.LocalAddressAdded | PolicyEvents.LocalAddressRemoved |
        PolicyEvents.CommandResult | PolicyEvents.Timer;

    protected void Record(string callback, IConnectionContext ctx, object? argument = null)
    {
        observer.Tell(new Called(callback, ctx.Connection, argument, ctx.Subflows.OrderBy(s => s.Id).Select(SubflowView.Of).ToList(), ctx.LocalAddresses.ToList()));
        script?.Invoke(callback, ctx, argument);
    }

    public override void OnCreated(IConnectionContext ctx) => Record("created", ctx);

    public override void OnEstablished(IConnectionContext ctx) => Record("established", ctx);

    public override void OnClosed(IConnectionContext ctx) => Record("closed", ctx);

    public override void OnAnnounced(IConnectionContext ctx, RemoteAddress address) => Record("announced", ctx, address);

    public override void OnRemoved(IConnectionContext ctx, RemoteAddress address) => Record("removed", ctx, address);

    public override void OnSubflowEstablished(IConnectionContext ctx, Subflow subflow) => Record("subflow_established", ctx, SubflowView.Of(subflow));

    public override void OnSubflowClosed(IConnectionContext ctx, Subflow subflow, CloseReason reason) => Record("subflow_closed", ctx, reason);

    public override void OnLocalAddressAdded(IConnectionContext ctx, LocalAddress address) => Record("local_added", ctx, address);

    public override void OnLocalAddressRemoved(IConnectionContext ctx, LocalAddress address) => Record("local_removed", ctx, address);

    public override void OnCommandResult(IConnectionContext ctx, CommandOutcome outcome) => Record("command_result", ctx, outcome);

    public override void OnTimer(IConnectionContext ctx, string key) => Record("timer", ctx, key);
}

/// <summary>The recording policy that also wants samples and RTO timeouts, every 100 ms.</summary>
public sealed class SamplingRecordingPolicy(IActorRef observer) : RecordingPolicy(observer)
{
    public override string Name => "sampling-recording";

    public override PolicyEvents Subscriptions => base.Subscriptions | PolicyEvents.Sample | PolicyEvents.SubflowTimeout;

    public override void OnSample(IConnectionContext ctx) => Record("sample", ctx);

    public override void OnSubflowTimeout(IConnectionContext ctx, Subflow subflow, TimeSpan rto) => Record("timeout", ctx, rto);
}
