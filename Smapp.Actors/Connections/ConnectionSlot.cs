using Akka.Actor;
using Akka.Event;
using Smapp.Actors.Configuration;
using Smapp.Actors.Gateway;
using static Smapp.Actors.Connections.ConnectionProtocol;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Actors.Connections;

/// <summary>What a slot asks of the supervisor that holds it (direct mode).</summary>
internal interface ISlotOwner
{
    /// <summary>The slot needs its actor (a timer, a failure): make it in the supervisor's next turn.</summary>
    void ActorNeeded(ConnectionSlot slot);

    /// <summary>The connection ended before it ever needed an actor: forget it now.</summary>
    void EndedWithoutActor(ConnectionSlot slot);
}

/// <summary>
/// One connection's place in its supervisor: its <see cref="ConnectionCore"/> (the logic), its actor (timers,
/// restart, state queries) and the core's way out to the kernel. It works in one of two modes, fixed at creation.
/// <list type="bullet">
/// <item><b>Direct</b> (production: the gateway, the supervisor and the connections share the event loop). Kernel
/// events, command answers, samples and address changes reach the core by a plain call on the loop thread
/// (<see cref="Deliver"/>), and the core's commands are written to the kernel at once: the reaction to an event has
/// no mailbox in it. The connection's actor is made only when the connection first needs one — a timer, a failure,
/// a question to the actor — so the many connections that open, join and close without either cost no actor. A
/// policy that throws is caught here; the actor then restarts and rebuilds the core from the kernel while whatever
/// arrives meanwhile is held, and replayed in order.</item>
/// <item><b>By message</b> (when no shared loop is known, as in the actor tests): everything goes through the
/// connection actor's mailbox, which owns the core.</item>
/// </list>
/// Only the loop thread (direct) or the actor (by message) ever touches the core.
/// </summary>
internal sealed class ConnectionSlot : IConnectionHost, ICommandReplies
{
    private const string ReopenTimerPrefix = "reopen:";
    private const string PolicyTimerPrefix = "policy:";

    private readonly IActorRef _gateway;
    private readonly IDirectCommands? _commands;
    private readonly IActorRef _supervisor;
    private readonly ISlotOwner? _owner;
    private bool _actorAsked;
    private readonly IScheduler _scheduler;
    private List<object>? _held;
    private List<object>? _early;

    /// <param name="direct">Direct mode (see the class).</param>
    /// <param name="commands">The gateway's direct command path, once the supervisor knows it (direct mode).</param>
    /// <param name="supervisor">Where answers to commands sent by message go in direct mode, before the direct path is known.</param>
    public ConnectionSlot(uint token, PolicyChoice choice, IActorRef gateway, bool direct, IDirectCommands? commands, IActorRef supervisor, ILoggingAdapter log, IScheduler scheduler, ISlotOwner? owner = null)
    {
        _owner = owner;
        Token = token;
        Choice = choice;
        Direct = direct;
        _gateway = gateway;
        _commands = direct ? commands : null;
        _supervisor = supervisor;
        Log = log;
        _scheduler = scheduler;
    }

    public uint Token { get; }

    /// <summary>The policy the connection has (an application may replace it: then a restart rebuilds with the new one).</summary>
    public PolicyChoice Choice { get; set; }

    /// <summary>Events reach the core by a direct call, and commands go straight to the kernel.</summary>
    public bool Direct { get; }

    /// <summary>The connection's actor; in direct mode it is made after the batch of events that created the connection.</summary>
    public IActorRef? Actor { get; private set; }

    public ConnectionCore? Core { get; set; }

    /// <summary>The core failed and is being rebuilt from the kernel: what arrives is held.</summary>
    public bool Rebuilding { get; set; }

    /// <summary>The connection is over (closed, or gone from the kernel).</summary>
    public bool Ended { get; private set; }

    /// <summary>How the connection was learned of (CREATED, or a dump), for a connection replaced on token reuse.</summary>
    public bool FromKernel { get; init; }

    public int Held => _held?.Count ?? 0;

    /// <summary>When the connection was learned of (a <see cref="System.Diagnostics.Stopwatch"/> timestamp).</summary>
    public long Since { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>
    /// Reconciles the connection with the kernel's view: on a direct core at once, returning how many things changed;
    /// otherwise through its actor (counted as 0: the supervisor cannot see the answer).
    /// </summary>
    public int Reconcile(Resync resync)
    {
        if (Ended)
        {
            return 0;
        }

        if (!Direct || Rebuilding || Core is null)
        {
            Deliver(resync);
            return resync.Connection is null ? 1 : 0;
        }

        try
        {
            return Core.OnResync(resync.Connection, resync.Subflows, resync.JudgedBefore);
        }
        catch (Exception e)
        {
            Fail(e);
            return 1;
        }
    }

    /// <summary>The one way in for everything meant for the core.</summary>
    public void Deliver(object message)
    {
        if (Ended)
        {
            return;
        }

        if (!Direct)
        {
            Actor!.Tell(message, ActorRefs.NoSender);
            return;
        }

        if (Rebuilding || Core is null)
        {
            (_held ??= []).Add(message);
            return;
        }

        try
        {
            ConnectionDispatch.Apply(Core, message);
        }
        catch (Exception e)
        {
            Fail(e);
        }
    }

    /// <summary>The core threw (direct mode): hold what comes next and let the actor restart and rebuild it.</summary>
    public void Fail(Exception e)
    {
        Rebuilding = true;
        ToActor(new Failed(e));
    }

    /// <summary>A rebuilt core takes over; what was held meanwhile reaches it, in order.</summary>
    public void Rebuilt(ConnectionCore core)
    {
        Core = core;
        Rebuilding = false;
        var held = _held;
        _held = null;
        foreach (var m in held ?? [])
        {
            Deliver(m);
        }
    }

    /// <summary>The actor exists: what was meant for it before gets to it now.</summary>
    public void Attach(IActorRef actor)
    {
        Actor = actor;
        var early = _early;
        _early = null;
        foreach (var m in early ?? [])
        {
            actor.Tell(m, ActorRefs.NoSender);
        }
    }

    /// <summary>
    /// By message, the core runs inside its actor's turn: its timer requests are applied at once by the actor (so a
    /// timer starts at the virtual or real time of the event that asked for it, not one message later).
    /// </summary>
    public Action<object>? OwnTimers { get; set; }

    private void ToActor(object message)
    {
        if (!Direct && OwnTimers is { } own && message is StartTimer or CancelTimer)
        {
            own(message);
            return;
        }

        if (Actor is null)
        {
            (_early ??= []).Add(message);
            if (!_actorAsked && _owner is not null)
            {
                _actorAsked = true;
                _owner.ActorNeeded(this);
            }
        }
        else
        {
            Actor.Tell(message, ActorRefs.NoSender);
        }
    }

    // --- IConnectionHost -----------------------------------------------------------------------------------

    public ILoggingAdapter Log { get; }

    public bool DecisionsAtInfo { get; init; } = true;

    public DateTimeOffset Now => _scheduler.Now;

    public void Send(PmCommand command)
    {
        if (_commands is not null)
        {
            _commands.Send(command, this);
        }
        else
        {
            _gateway.Tell(command, Direct ? _supervisor : Actor);
        }
    }

    public void StartReopenTimer(int subflowId, TimeSpan delay) =>
        ToActor(new StartTimer(ReopenTimerPrefix + subflowId, new ReopenDue(subflowId), delay, false));

    public void CancelReopenTimer(int subflowId) => ToActor(new CancelTimer(ReopenTimerPrefix + subflowId));

    public void StartPolicyTimer(string key, TimeSpan delay, bool repeat) =>
        ToActor(new StartTimer(PolicyTimerPrefix + key, new PolicyTimer(key), delay, repeat));

    public void CancelPolicyTimer(string key) => ToActor(new CancelTimer(PolicyTimerPrefix + key));

    public void RequestCheck() => _supervisor.Tell(new CheckConnection(Token), ActorRefs.NoSender);

    public void Finished()
    {
        Ended = true;
        if (Actor is null && !_actorAsked && _owner is not null)
        {
            _early = null;
            _owner.EndedWithoutActor(this);
            return;
        }

        ToActor(Finish.Instance);
    }

    // --- ICommandReplies (direct mode) ---------------------------------------------------------------------

    public void OnResult(CommandResult result) => Deliver(result);
}

/// <summary>What each message meant for a connection's core does to it.</summary>
internal static class ConnectionDispatch
{
    /// <summary>Applies <paramref name="message"/> to <paramref name="core"/>; false if it is not a core message.</summary>
    public static bool Apply(ConnectionCore core, object message)
    {
        switch (message)
        {
            case Smapp.Netlink.Mptcp.MptcpEvent e: core.OnEvent(e); return true;
            case CommandResult r: core.OnResult(r); return true;
            case ReopenDue d: core.OnReopenDue(d.SubflowId); return true;
            case PolicyTimer t: core.OnPolicyTimer(t.Key); return true;
            case Samples s: core.OnSamples(s.Subflows, s.At); return true;
            case LocalAddressesChanged c: core.OnLocalAddresses(c.All); return true;
            case Resync r: core.OnResync(r.Connection, r.Subflows, r.JudgedBefore); return true;
            default: return false;
        }
    }
}
