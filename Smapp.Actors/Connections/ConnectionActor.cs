using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Smapp.Policy;
using static Smapp.Actors.Connections.ConnectionProtocol;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Actors.Connections;

/// <summary>
/// One MPTCP connection as an actor: it gives the connection's logic (<see cref="ConnectionCore"/>, held in its
/// <see cref="ConnectionSlot"/>) its timers, its restart and its state queries. Its life has three stages, each a
/// behaviour of its own: <see cref="Starting"/> waits for <see cref="Init"/>; <see cref="Running"/> serves the core;
/// after a failure, <see cref="Rebuilding"/> holds everything back until the kernel's view of the connection is in,
/// so that the new policy instance starts from what the kernel has, not from what the failed one believed. In the
/// slot's direct mode the kernel's events never pass through this mailbox (see <see cref="ConnectionSlot"/>).
/// </summary>
public sealed class ConnectionActor : UntypedActor, IWithTimers, IWithUnboundedStash
{
    private readonly IActorRef _gateway;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private ConnectionSlot _slot = null!;
    private bool _hasSlot;
    private Carried? _carried;
    private int _restarts;

    /// <summary>
    /// The actor is made with what every connection shares (so that one <see cref="Akka.Actor.Props"/> serves them
    /// all); what is its own arrives in <see cref="Init"/>, its first message.
    /// </summary>
    public ConnectionActor(IActorRef gateway)
    {
        _gateway = gateway;
        Context.Become(Starting);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public IStash Stash { get; set; } = null!;

    /// <summary>Props shared by every connection; send each actor an <see cref="Init"/> first.</summary>
    public static Props Props(IActorRef gateway, string? dispatcher, string? mailbox = null)
    {
        var props = Akka.Actor.Props.Create(() => new ConnectionActor(gateway));
        props = dispatcher is null ? props : props.WithDispatcher(dispatcher);
        return mailbox is null ? props : props.WithMailbox(mailbox);
    }

    protected override void OnReceive(object message) => Unhandled(message);

    private ConnectionCore Core => _slot.Core!;

    // --- stages --------------------------------------------------------------------------------------------

    /// <summary>Until <see cref="Init"/> says which connection this is, everything waits.</summary>
    private void Starting(object message)
    {
        if (message is not Init init)
        {
            Stash.Stash();
            return;
        }

        _slot = init.Slot;
        _hasSlot = true;
        _slot.OwnTimers = ApplyTimer;
        if (_slot.Core is null)
        {
            // By message: the actor makes and starts the core itself.
            var core = new ConnectionCore(_slot.Choice, _slot);
            _slot.Core = core;
            switch (init.Origin)
            {
                case FromEvent { Event: var ev }:
                    core.StartFromEvent(_slot.Token, ev, init.Locals);
                    break;
                case FromKernel k:
                    core.Adopt(_slot.Token, k.Connection, k.Subflows, k.Side, init.Locals);
                    break;
            }
        }

        Context.Become(Running);
        Stash.UnstashAll();
    }

    private void Running(object message)
    {
        switch (message)
        {
            case StartTimer or CancelTimer: ApplyTimer(message); break;
            case ReopenDue or PolicyTimer when _slot.Direct: _slot.Deliver(message); break;
            case GetState: Sender.Tell(Core.State(_restarts)); break;
            case Finish: Context.Stop(Self); break;
            case Failed f: throw new PolicyFailedException(f.Reason);
            case Crash c: throw new InvalidOperationException(c.Why);
            case ConnectionsDumped: break;
            default:
                if (!ConnectionDispatch.Apply(Core, message))
                {
                    Unhandled(message);
                }

                break;
        }
    }

    private void ApplyTimer(object request)
    {
        switch (request)
        {
            case StartTimer t when t.Repeat: Timers.StartPeriodicTimer(t.Key, t.Message, t.Delay); break;
            case StartTimer t: Timers.StartSingleTimer(t.Key, t.Message, t.Delay); break;
            case CancelTimer c: Timers.Cancel(c.Key); break;
        }
    }

    /// <summary>After a restart: everything waits until the kernel's view of the connection is back.</summary>
    private void Rebuilding(object message)
    {
        if (!_hasSlot && message is not Carried)
        {
            Stash.Stash(); // the restarted instance has not got its slot back yet
            return;
        }

        switch (message)
        {
            case Carried c:
                _slot = c.Slot;
                _hasSlot = true;
                _slot.OwnTimers = ApplyTimer;
                _restarts = c.Restarts + 1;
                _carried = c;
                _log.Warning("connection {Token:x8}: policy {Policy} failed ({Reason}); restarting it with state rebuilt from the kernel", _slot.Token, _slot.Choice.Name, c.Reason);
                _gateway.Tell(new DumpConnections(DumpPurpose.Rebuild, _slot.Token));
                break;
            case ConnectionsDumped d when _carried is { } carried:
                var conn = d.Connections.FirstOrDefault(x => x.Info.Token == _slot.Token);
                if (conn is null)
                {
                    _log.Debug("connection {Token:x8} is gone from the kernel; stopping", _slot.Token);
                    Context.Stop(Self);
                    return;
                }

                var core = new ConnectionCore(_slot.Choice, _slot);
                core.Adopt(_slot.Token, conn, d.Subflows.Where(s => s.Token == _slot.Token).ToList(), carried.Side, carried.Locals);
                _carried = null;
                Context.Become(Running);
                if (_slot.Direct)
                {
                    _slot.Rebuilt(core);
                }
                else
                {
                    _slot.Core = core;
                }

                Stash.UnstashAll();
                break;
            case GetState:
                Sender.Tell(Core.State(_restarts));
                break;
            case Failed:
                break; // the failure that caused this restart, or one of the old core's: the new core is coming
            default:
                Stash.Stash();
                break;
        }
    }

    /// <summary>What a restarted instance keeps from the failed one (its own fields start over).</summary>
    private sealed record Carried(ConnectionSlot Slot, Side Side, int Restarts, ImmutableList<LocalAddress> Locals, string Reason);

    protected override void PreRestart(Exception reason, object message)
    {
        // The new instance starts from the constructor's arguments: hand it what must outlive this one.
        _slot.Rebuilding = true;
        Self.Tell(new Carried(_slot, Core.Side, _restarts, Core.Locals, (reason as PolicyFailedException)?.InnerException?.Message ?? reason.Message));

        // Timers stop; the policy instance is dropped with the old state.
        base.PreRestart(reason, message);
    }

    protected override void PostRestart(Exception reason) => Context.Become(Rebuilding);
}

/// <summary>A policy threw while the loop thread called it directly; the connection's actor fails with it.</summary>
public sealed class PolicyFailedException(Exception inner) : Exception($"policy failed: {inner.Message}", inner);
