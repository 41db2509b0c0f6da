namespace Smapp.Policy;

/// <summary>
/// A subflow controller (the paper's term): a plain class that overrides the callbacks it needs and says which
/// events it registers for in <see cref="Subscriptions"/>. Only those events are delivered to it — the paper's
/// "receives only notifications for events it registered to" — and samples are taken only while some policy
/// subscribed to <see cref="PolicyEvents.Sample"/> or <see cref="PolicyEvents.SubflowTimeout"/>.
/// One instance manages one connection.
/// </summary>
public abstract class SubflowPolicy
{
    /// <summary>The name rules and logs use (fullmesh, ndiffports, …).</summary>
    public abstract string Name { get; }

    /// <summary>The events this policy registers for; a callback whose event is not here is never called.</summary>
    public abstract PolicyEvents Subscriptions { get; }

    /// <summary>
    /// How often this policy wants samples (when it overrides OnSample or OnSubflowTimeout); null: the configured
    /// smapp.sampler.interval. The sampler runs at the shortest interval any live connection asks for.
    /// </summary>
    public virtual TimeSpan? SampleInterval => null;

    public virtual void OnCreated(IConnectionContext ctx) { }

    /// <summary>The connection is fully established (or was found live at start-up: Connection.TakenOver).</summary>
    public virtual void OnEstablished(IConnectionContext ctx) { }

    public virtual void OnClosed(IConnectionContext ctx) { }

    public virtual void OnAnnounced(IConnectionContext ctx, RemoteAddress address) { }

    public virtual void OnRemoved(IConnectionContext ctx, RemoteAddress address) { }

    public virtual void OnSubflowEstablished(IConnectionContext ctx, Subflow subflow) { }

    public virtual void OnSubflowClosed(IConnectionContext ctx, Subflow subflow, CloseReason reason) { }

    public virtual void OnSubflowPriority(IConnectionContext ctx, Subflow subflow) { }

    /// <summary>The paper's timeout event: a subflow's RTO grew since the previous sample.</summary>
    public virtual void OnSubflowTimeout(IConnectionContext ctx, Subflow subflow, TimeSpan rto) { }

    /// <summary>A periodic sample of every established subflow of the connection (Subflow.LastSample is set).</summary>
    public virtual void OnSample(IConnectionContext ctx) { }

    public virtual void OnLocalAddressAdded(IConnectionContext ctx, LocalAddress address) { }

    public virtual void OnLocalAddressRemoved(IConnectionContext ctx, LocalAddress address) { }

    public virtual void OnTimer(IConnectionContext ctx, string key) { }

    public virtual void OnCommandResult(IConnectionContext ctx, CommandOutcome outcome) { }

    /// <summary>
    /// The application says (through Smapp.Client) that a block of <paramref name="bytes"/> starts now and is due at
    /// <paramref name="deadline"/>. Return what the policy does with it (for the application's answer), or null
    /// when the policy has no use for it: the default. Called whatever the subscriptions.
    /// </summary>
    public virtual string? OnBlock(IConnectionContext ctx, long bytes, DateTimeOffset deadline) => null;
}

/// <summary>The events a policy can register for, one per callback.</summary>
[Flags]
public enum PolicyEvents
{
    None = 0,
    Created = 1 << 0,
    Established = 1 << 1,
    Closed = 1 << 2,
    Announced = 1 << 3,
    Removed = 1 << 4,
    SubflowEstablished = 1 << 5,
    SubflowClosed = 1 << 6,
    SubflowPriority = 1 << 7,
    SubflowTimeout = 1 << 8,
    Sample = 1 << 9,
    LocalAddressAdded = 1 << 10,
    LocalAddressRemoved = 1 << 11,
    Timer = 1 << 12,
    CommandResult = 1 << 13,
}

public static class PolicyRegistration
{
    /// <summary>Whether a policy that registered for <paramref name="e"/> needs periodic samples.</summary>
    public static bool NeedsSamples(PolicyEvents e) => (e & (PolicyEvents.Sample | PolicyEvents.SubflowTimeout)) != 0;
}
