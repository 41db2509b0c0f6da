using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Smapp.Actors.Configuration;
using Smapp.Netlink.Mptcp;
using Smapp.Policy;
using static Smapp.Actors.Connections.ConnectionProtocol;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Actors.Connections;

/// <summary>
/// One MPTCP connection as an actor: it gives the connection's logic (<see cref="ConnectionCore"/>) isolation,
/// timers and a restart. Its life has three stages, each a behaviour of its own: <see cref="Starting"/> waits for
/// <see cref="Init"/>; <see cref="Running"/> routes every message to the core; after a failure,
/// <see cref="Rebuilding"/> holds everything back until the kernel's view of the connection is in, so that the new
/// policy instance starts from what the kernel has, not from what the failed one believed.
/// </summary>
public sealed class ConnectionActor : UntypedActor, IWithTimers, IWithUnboundedStash, IConnectionHost
{
    private const string ReopenTimerPrefix = "reopen:";
    private const string PolicyTimerPrefix = "policy:";

    private readonly IActorRef _gateway;
    private readonly PolicyChoice _choice;
    private readonly IActorRef _self;
    private readonly IScheduler _scheduler;
    private readonly ConnectionCore _core;
    private int _restarts;

    /// <summary>
    /// The actor is made with what every connection of its policy shares (so that one <see cref="Akka.Actor.Props"/>
    /// serves them all); what is its own arrives in <see cref="Init"/>, its first message.
    /// </summary>
    public ConnectionActor(IActorRef gateway, PolicyChoice choice)
    {
        _gateway = gateway;
        _choice = choice;
        _self = Self;
        _scheduler = Context.System.Scheduler;
        Log = Context.GetLogger();
        _core = new ConnectionCore(choice, this);
        Context.Become(Starting);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public IStash Stash { get; set; } = null!;

    public ILoggingAdapter Log { get; }

    public DateTimeOffset Now => _scheduler.Now;

    /// <summary>Props shared by every connection of one policy choice; send each actor an <see cref="Init"/> first.</summary>
    public static Props Props(IActorRef gateway, PolicyChoice choice, string? dispatcher, string? mailbox = null)
    {
        var props = Akka.Actor.Props.Create(() => new ConnectionActor(gateway, choice));
        props = dispatcher is null ? props : props.WithDispatcher(dispatcher);
        return mailbox is null ? props : props.WithMailbox(mailbox);
    }

    protected override void OnReceive(object message) => Unhandled(message);

    // --- stages --------------------------------------------------------------------------------------------

    /// <summary>Until <see cref="Init"/> says which connection this is, everything waits.</summary>
    private void Starting(object message)
    {
        if (message is not Init init)
        {
            Stash.Stash();
            return;
        }

        switch (init.Origin)
        {
            case FromEvent { Event: var ev }:
                _core.StartFromEvent(init.Token, ev, init.Locals);
                break;
            case FromKernel k:
                _core.Adopt(init.Token, k.Connection, k.Subflows, k.Side, init.Locals, freshPolicy: false);
                break;
        }

        Context.Become(Running);
        Stash.UnstashAll();
    }

    private void Running(object message)
    {
        switch (message)
        {
            case MptcpEvent e: _core.OnEvent(e); break;
            case CommandResult r: _core.OnResult(r); break;
            case ReopenDue d: _core.OnReopenDue(d.SubflowId); break;
            case PolicyTimer t: _core.OnPolicyTimer(t.Key); break;
            case Samples s: _core.OnSamples(s.Subflows, s.At); break;
            case LocalAddressesChanged c: _core.OnLocalAddresses(c.All); break;
            case Resync r: _core.OnResync(r.Connection, r.Subflows); break;
            case GetState: Sender.Tell(_core.State(_restarts)); break;
            case Crash c: throw new InvalidOperationException(c.Why);
            case ConnectionsDumped: break;
            default: Unhandled(message); break;
        }
    }

    /// <summary>After a restart: everything waits until the kernel's view of the connection is back.</summary>
    private void Rebuilding(object message)
    {
        switch (message)
        {
            case Carried c:
                _restarts = c.Restarts + 1;
                Log.Warning("connection {Token:x8}: policy {Policy} failed ({Reason}); restarting it with state rebuilt from the kernel", c.Token, _choice.Name, c.Reason);
                _carried = c;
                _gateway.Tell(new DumpConnections(0, c.Token));
                break;
            case ConnectionsDumped d when _carried is { } carried:
                var conn = d.Connections.FirstOrDefault(x => x.Info.Token == carried.Token);
                if (conn is null)
                {
                    Log.Info("connection {Token:x8} is gone from the kernel; stopping", carried.Token);
                    Context.Stop(Self);
                    return;
                }

                _core.Adopt(carried.Token, conn, d.Subflows.Where(s => s.Token == carried.Token).ToList(), carried.Side, carried.Locals, freshPolicy: false);
                _carried = null;
                Context.Become(Running);
                Stash.UnstashAll();
                break;
            case GetState:
                Sender.Tell(_core.State(_restarts));
                break;
            default:
                Stash.Stash();
                break;
        }
    }

    private Carried? _carried;

    /// <summary>What a restarted instance keeps from the failed one (its own fields start over).</summary>
    private sealed record Carried(uint Token, Side Side, int Restarts, ImmutableList<LocalAddress> Locals, string Reason);

    protected override void PreRestart(Exception reason, object message)
    {
        // The new instance starts from the constructor's arguments: hand it what must outlive this one.
        Self.Tell(new Carried(_core.Token, _core.Side, _restarts, _core.Locals, reason.Message));

        // Timers stop; the policy instance is dropped with the old state.
        base.PreRestart(reason, message);
    }

    protected override void PostRestart(Exception reason) => Context.Become(Rebuilding);

    // --- the core's host -----------------------------------------------------------------------------------

    void IConnectionHost.Send(PmCommand command) => _gateway.Tell(command, _self);

    void IConnectionHost.StartReopenTimer(int subflowId, TimeSpan delay) =>
        Timers.StartSingleTimer(ReopenTimerPrefix + subflowId, new ReopenDue(subflowId), delay);

    void IConnectionHost.CancelReopenTimer(int subflowId)
    {
        if (Timers.IsTimerActive(ReopenTimerPrefix + subflowId))
        {
            Timers.Cancel(ReopenTimerPrefix + subflowId);
        }
    }

    void IConnectionHost.StartPolicyTimer(string key, TimeSpan delay, bool repeat)
    {
        if (repeat)
        {
            Timers.StartPeriodicTimer(PolicyTimerPrefix + key, new PolicyTimer(key), delay);
        }
        else
        {
            Timers.StartSingleTimer(PolicyTimerPrefix + key, new PolicyTimer(key), delay);
        }
    }

    void IConnectionHost.CancelPolicyTimer(string key) => Timers.Cancel(PolicyTimerPrefix + key);

    void IConnectionHost.Finished() => Context.Stop(_self);
}
