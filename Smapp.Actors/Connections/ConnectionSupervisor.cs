using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Smapp.Actors.Configuration;
using Smapp.Actors.Gateway;
using Smapp.Actors.Local;
using Smapp.Actors.Observing;
using Smapp.Actors.Sampling;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Smapp.Policy;
using static Smapp.Actors.Connections.ConnectionProtocol;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Actors.Connections;

/// <summary>
/// One connection (a <see cref="ConnectionSlot"/> and its <see cref="ConnectionActor"/>) per MPTCP connection, keyed
/// by token: made on CREATED (or found live at start: takeover), stopped on CLOSED. Each failure restarts only the
/// failing connection's actor. It routes the kernel's events, the sampler's batches and the host's local addresses
/// to the connections. On the gateway's event loop it subscribes directly: the gateway then calls it for each
/// event, and it calls the connection's core — no mailbox between the kernel's event and the policy's command.
/// Nothing reached by such a direct call uses the actor context: what needs it (making a connection's actor,
/// watching it) is sent to itself and done in its own turn.
/// </summary>
public sealed partial class ConnectionSupervisor : ReceiveActor, ISlotOwner, IWithTimers
{
    /// <summary>After lost events, at most this many dumps in a row until the kernel and we agree.</summary>
    public const int MaxResyncRounds = 10;

    private const string ResyncTimer = "resync";

    private readonly IActorRef _gateway;
    private readonly IActorRef? _sampler;
    private PolicySelector _selector;
    private readonly SupervisorSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _self;
    private readonly IScheduler _scheduler;
    private readonly Props _props;
    private readonly Dictionary<uint, ConnectionSlot> _byToken = [];
    private readonly Dictionary<IActorRef, ConnectionSlot> _byActor = [];
    private readonly Dictionary<uint, TimeSpan> _sampling = [];
    private readonly HashSet<uint> _lookingUp = [];
    private ImmutableList<LocalAddress> _locals = [];
    private IDirectCommands? _commands;
    private bool _lookupInFlight;
    private long _started;
    private (int Count, TimeSpan Interval) _demand;
    private bool _takeoverDone;
    private List<IActorRef>? _readyWaiters;

    /// <summary>Connections started since the last trim (see <see cref="TrimWhenIdle"/>).</summary>
    private int _startedSinceTrim;
    private bool _trimScheduled;
    private int _trims;

    /// <summary>
    /// Once every connection is gone after a busy spell (at least <see cref="TrimAfter"/> started since the last trim) and none came for
    /// <see cref="TrimDelay"/>: one aggressive, compacting collection, so that the GC gives the memory of the spell back
    /// to the system (an idle daemon's resident memory returns toward its baseline instead of staying at the peak). It
    /// runs on the loop thread while nothing is managed, so it delays no connection.
    /// </summary>
    private sealed record TrimWhenIdle
    {
        public static readonly TrimWhenIdle Instance = new();
    }

    internal const int TrimAfter = 1000;
    internal static readonly TimeSpan TrimDelay = TimeSpan.FromSeconds(5);
    private readonly HashSet<uint> _checkWanted = [];
    private HashSet<uint> _checking = [];
    private bool _checkInFlight;
    private bool _resyncBusy;
    private bool _resyncAgain;
    private int _resyncRound;
    private int _resyncTotal;

    /// <summary>The next reconcile round is due.</summary>
    private sealed record ResyncDue
    {
        public static readonly ResyncDue Instance = new();
    }

    /// <summary>Make the actor of a connection made by a direct call (done in the supervisor's own turn).</summary>
    private sealed record MakeActor(ConnectionSlot Slot);

    public ConnectionSupervisor(IActorRef gateway, IActorRef localAddresses, IActorRef? sampler, PolicySelector selector, SupervisorSettings settings)
    {
        _gateway = gateway;
        _sampler = sampler;
        _selector = selector;
        _settings = settings;
        _self = Self;
        _scheduler = Context.System.Scheduler;
        _props = ConnectionActor.Props(gateway, settings.ConnectionDispatcher, settings.Mailbox);
        Receive<MptcpEvent>(Route);
        Receive<EventsSubscribed>(s =>
        {
            _commands = s.Commands;
            CheckReady();
        });
        Receive<CommandResult>(r =>
        {
            // The answer to a command a direct connection sent before the direct command path was known.
            if (_byToken.TryGetValue(TokenOf(r.Command), out var slot))
            {
                slot.Deliver(r);
            }
        });
        Receive<MakeActor>(m => Attach(m.Slot, null));
        Receive<ConnectionsDumped>(d =>
        {
            HandleDump(d);
            if (d.Purpose == DumpPurpose.Takeover)
            {
                _takeoverDone = true;
                CheckReady();
            }
        });
        Receive<StatusProtocol.AwaitReady>(_ =>
        {
            if (IsReady)
            {
                Sender.Tell(StatusProtocol.Ready.Instance);
            }
            else
            {
                (_readyWaiters ??= []).Add(Sender);
            }
        });
        Receive<EventsLost>(e => OnEventsLost(e.Source));
        Receive<ResyncDue>(_ => RequestResync());
        Receive<CheckConnection>(c =>
        {
            _checkWanted.Add(c.Token);
            if (!_checkInFlight)
            {
                RequestCheck();
            }
        });
        Receive<LocalAddressesProtocol.Snapshot>(s => Broadcast(s.Addresses, null, null));
        Receive<LocalAddressesProtocol.Added>(a => Broadcast(a.All, a.Address, null));
        Receive<LocalAddressesProtocol.Removed>(r => Broadcast(r.All, null, r.Address));
        Receive<SamplerProtocol.SampleBatch>(HandleSamples);
        Receive<Terminated>(t => Forget(t.ActorRef));
        Receive<StatusProtocol.GetStatus>(_ => Sender.Tell(StatusSnapshot()));
        Receive<TrimWhenIdle>(_ => Trim());
        Receive<StatusProtocol.ReplaceSelector>(r =>
        {
            // New connections only: a slot keeps the choice (and the policy instance) it was made with.
            _selector = r.Selector;
            Sender.Tell(new StatusProtocol.SelectorReplaced(r.Selector.DefaultPolicy, r.Selector.Rules.Count));
        });
        Receive<GetState>(_ => Sender.Tell(new ConnectionsState(_byToken.Where(kv => !kv.Value.Ended).Select(kv => kv.Key).ToList(), _sampling.Count)));
        Receive<ToConnection>(m =>
        {
            if (!_byToken.TryGetValue(m.Token, out var slot) || slot.Ended)
            {
                Sender.Tell(new Status.Failure(new KeyNotFoundException($"no connection {m.Token:x8}")));
            }
            else if (slot.Actor is { } actor)
            {
                actor.Forward(m.Message);
            }
            else if (m.Message is GetState && slot.Core is { } core)
            {
                Sender.Tell(core.State(0)); // a connection that never needed its actor has never restarted
            }
            else
            {
                Attach(slot, null);
                slot.Actor!.Forward(m.Message);
            }
        });
        ReceiveAppRequests(); // ConnectionSupervisor.App.cs
        localAddresses.Tell(new LocalAddressesProtocol.Subscribe(Self));
        gateway.Tell(new SubscribeEvents(Self, settings.Direct ? new DirectEvents(this) : null));
        if (settings.Takeover)
        {
            gateway.Tell(new DumpConnections(DumpPurpose.Takeover));
        }
    }

    /// <summary>Sends a message to one connection's actor (replies go to the original sender).</summary>
    public sealed record ToConnection(uint Token, object Message);

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The wait before reconcile round <paramref name="round"/> (1 is the first after the first dump): doubling from 100 ms, at most 2 s.</summary>
    public static TimeSpan ResyncDelay(int round) => TimeSpan.FromMilliseconds(Math.Min(2000, 100 * (1 << Math.Clamp(round - 1, 0, 10))));

    public static Props Props(IActorRef gateway, IActorRef localAddresses, IActorRef? sampler, PolicySelector selector, SupervisorSettings settings)
    {
        var p = Akka.Actor.Props.Create(() => new ConnectionSupervisor(gateway, localAddresses, sampler, selector, settings));
        return settings.ConnectionDispatcher is null ? p : p.WithDispatcher(settings.ConnectionDispatcher);
    }

    protected override void PostStop() =>
        _log.Info("connection supervisor stopped with {Count} connections managed ({Actors} actors)", _byToken.Values.Count(x => !x.Ended), _byActor.Count);

    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(_settings.MaxRestarts, _settings.RestartWindow ?? TimeSpan.FromMinutes(1), _ => Directive.Restart);

    /// <summary>What the gateway calls on the loop thread, in place of sending a message.</summary>
    private sealed class DirectEvents(ConnectionSupervisor supervisor) : IDirectEvents
    {
        public IActorRef Subscriber => supervisor._self;

        public void OnEvent(MptcpEvent ev) => supervisor.Route(ev);

        public void OnEventsLost(string source) => supervisor.OnEventsLost(source);
    }

    /// <summary>Subscribed to the gateway (direct: its command path known) and the start-up takeover done.</summary>
    private bool IsReady => (_takeoverDone || !_settings.Takeover) && (_commands is not null || !_settings.Direct);

    private void CheckReady()
    {
        if (IsReady && _readyWaiters is { } waiters)
        {
            _readyWaiters = null;
            foreach (var w in waiters)
            {
                w.Tell(StatusProtocol.Ready.Instance);
            }
        }
    }

    /// <summary>
    /// Every live connection as `smapp status` shows it, copied in this turn (on the loop thread, which owns the
    /// cores). By message a core belongs to its actor's turn: such a connection shows its policy without subflows.
    /// </summary>
    private StatusProtocol.ConnectionsStatus StatusSnapshot()
    {
        var list = new List<StatusProtocol.ConnectionStatus>(_byToken.Count);
        foreach (var (token, slot) in _byToken)
        {
            if (slot.Ended)
            {
                continue;
            }

            list.Add(slot.Direct && slot.Core is { } core
                ? core.Status(slot.Rebuilding)
                : new StatusProtocol.ConnectionStatus(token, Side.Client, null, null, slot.Choice.Name, slot.Choice.Rule, slot.FromKernel, false, slot.Rebuilding, [], []));
        }

        var actors = 0;
        foreach (var slot in _byToken.Values)
        {
            actors += slot.Actor is null ? 0 : 1;
        }

        return new StatusProtocol.ConnectionsStatus(_scheduler.Now, list, _locals, _selector.DefaultPolicy, _selector.Rules.Count, _byToken.Count, actors, _trims);
    }

    // --- events --------------------------------------------------------------------------------------------

    private void Route(MptcpEvent ev)
    {
        if (ev.Token is not { } token)
        {
            return; // listener events
        }

        if (_byToken.TryGetValue(token, out var slot))
        {
            if (ev.Type == MptcpEventType.Created && (slot.Ended || !slot.FromKernel))
            {
                // A token seen again on CREATED: the old connection's CLOSED was lost (or it has just ended). CREATED
                // for a connection a sock_diag dump found first is the dump racing with the event: that one is
                // delivered.
                Retire(slot);
                Start(token, new FromEvent(ev), SideOf(ev));
                return;
            }

            slot.Deliver(ev);
            return;
        }

        switch (ev.Type)
        {
            case MptcpEventType.Created or MptcpEventType.Established when ev.SourceAddress is not null:
                Start(token, new FromEvent(ev), SideOf(ev));
                break;
            case MptcpEventType.Closed:
                break;
            default:
                // An event for a connection we never saw start (Smapp started late, or events were lost): ask the
                // kernel. One dump at a time serves every such connection: it adopts all it does not know.
                if (_lookingUp.Add(token) && !_lookupInFlight)
                {
                    _lookupInFlight = true;
                    _gateway.Tell(new DumpConnections(DumpPurpose.Lookup), _self);
                }

                break;
        }
    }

    /// <summary>
    /// Events were lost (called directly on the loop thread, or by message). A reconcile is started; one that is running
    /// already runs another round when it is done: what was lost while its dump ran is found by the next.
    /// </summary>
    private void OnEventsLost(string source)
    {
        if (_resyncBusy)
        {
            _resyncAgain = true;
            return;
        }

        _log.Warning("{Source} events were lost: reconciling every connection with sock_diag until the kernel and Smapp agree", source);
        _resyncBusy = true;
        _resyncRound = 0;
        _resyncTotal = 0;
        RequestResync();
    }

    private void RequestResync()
    {
        _resyncRound++;
        _gateway.Tell(new DumpConnections(DumpPurpose.Resync) { RequestedAt = System.Diagnostics.Stopwatch.GetTimestamp() }, _self);
    }

    /// <summary>A dump answered: another round follows (after a backoff) while the last changed anything or more was lost meanwhile.</summary>
    private void ResyncDone(int changes)
    {
        _resyncTotal += changes;
        var again = _resyncAgain;
        _resyncAgain = false;
        if ((changes > 0 || again) && _resyncRound < MaxResyncRounds)
        {
            Timers.StartSingleTimer(ResyncTimer, ResyncDue.Instance, ResyncDelay(_resyncRound));
            return;
        }

        _resyncBusy = false;
        if (changes > 0 || again)
        {
            _log.Warning("reconcile stopped after {Rounds} rounds with the kernel still changing ({Changes} changes in the last, {Total} in all)", _resyncRound, changes, _resyncTotal);
        }
        else
        {
            _log.Info("reconciled with the kernel in {Rounds} rounds: {Total} changes; {Count} connections managed",
                _resyncRound, _resyncTotal, _byToken.Values.Count(x => !x.Ended));
        }
    }

    private void RequestCheck()
    {
        _checkInFlight = true;
        _checking = [.. _checkWanted];
        _checkWanted.Clear();
        _gateway.Tell(new DumpConnections(DumpPurpose.Check) { RequestedAt = System.Diagnostics.Stopwatch.GetTimestamp() }, _self);
    }

    /// <summary>The kernel's view for the connections that asked for it; nothing is adopted.</summary>
    private void HandleCheck(ConnectionsDumped d)
    {
        _checkInFlight = false;
        if (d.Error is null)
        {
            var judged = d.RequestedAt == 0 ? long.MaxValue : d.RequestedAt;
            foreach (var token in _checking)
            {
                if (_byToken.TryGetValue(token, out var slot) && !slot.Ended)
                {
                    var conn = d.Connections.FirstOrDefault(c => c.Info.Token == token);
                    if (conn is not null || slot.Since < judged)
                    {
                        slot.Reconcile(new Resync(conn, d.Subflows.Where(x => x.Token == token).ToList(), judged));
                    }
                }
            }
        }

        _checking = [];
        if (_checkWanted.Count > 0)
        {
            RequestCheck();
        }
    }

    private static uint TokenOf(PmCommand c) => c switch
    {
        CreateSubflow x => x.Token,
        DestroySubflow x => x.Token,
        SetBackup x => x.Token,
        Announce x => x.Token,
        Remove x => x.Token,
        _ => 0,
    };

    private static Side SideOf(MptcpEvent ev) => ev.ServerSide == true ? Side.Server : Side.Client;

    // --- connections ---------------------------------------------------------------------------------------

    private void Start(uint token, ConnectionOrigin origin, Side side)
    {
        var (local, remote) = origin switch
        {
            FromEvent { Event: var e } => (new Endpoint(e.SourceAddress!, e.SourcePort ?? 0), new Endpoint(e.DestinationAddress!, e.DestinationPort ?? 0)),
            FromKernel k => (new Endpoint(k.Connection.Id.Source, k.Connection.Id.SourcePort), new Endpoint(k.Connection.Id.Destination, k.Connection.Id.DestinationPort)),
            _ => throw new ArgumentException(nameof(origin)),
        };
        var choice = _selector.Select(side, local, remote);
        var slot = new ConnectionSlot(token, choice, _gateway, _settings.Direct, _commands, _self, _log, _scheduler, this) { FromKernel = origin is FromKernel, DecisionsAtInfo = _settings.DecisionsAtInfo };
        _byToken[token] = slot;
        _startedSinceTrim++;
        if (choice.NeedsSamples)
        {
            _sampling[token] = choice.SampleInterval ?? _settings.SampleInterval ?? TimeSpan.FromMilliseconds(100);
            UpdateDemand();
        }

        if (!slot.Direct)
        {
            Attach(slot, origin);
            return;
        }

        // Direct: the core starts now, on this call; its actor is made when it first needs one.
        var core = new ConnectionCore(choice, slot);
        slot.Core = core;
        try
        {
            switch (origin)
            {
                case FromEvent { Event: var ev }:
                    core.StartFromEvent(token, ev, _locals);
                    break;
                case FromKernel k:
                    core.Adopt(token, k.Connection, k.Subflows, k.Side, _locals);
                    break;
            }
        }
        catch (Exception e)
        {
            slot.Fail(e);
        }
    }

    void ISlotOwner.ActorNeeded(ConnectionSlot slot) => _self.Tell(new MakeActor(slot), _self);

    void ISlotOwner.EndedWithoutActor(ConnectionSlot slot) => ForgetSlot(slot);

    /// <summary>
    /// Makes the connection's actor (in the supervisor's own turn: it needs the actor context). By message it comes
    /// with the connection's origin, and makes the core from it; direct, the core exists already.
    /// </summary>
    private void Attach(ConnectionSlot slot, ConnectionOrigin? origin)
    {
        if (slot.Actor is not null || !ReferenceEquals(_byToken.GetValueOrDefault(slot.Token), slot))
        {
            return; // made already, or replaced meanwhile
        }

        // A replaced connection's actor keeps its name until it has stopped: its successor takes another one.
        var name = $"c-{slot.Token:x8}";
        if (!Context.Child(name).IsNobody())
        {
            name = $"{name}-{++_started}";
        }

        var actor = Context.ActorOf(_props, name);
        actor.Tell(new Init(slot, origin, _locals));
        Context.Watch(actor);
        _byActor[actor] = slot;
        slot.Attach(actor);
    }

    /// <summary>A connection replaced by a newer one of the same token: its actor stops, and it gets nothing more.</summary>
    private void Retire(ConnectionSlot slot)
    {
        ForgetSlot(slot);
        if (slot.Actor is { } actor)
        {
            _byActor.Remove(actor);
            actor.Tell(PoisonPill.Instance, _self);
        }

        slot.Finished();
    }

    private void Forget(IActorRef actor)
    {
        if (_byActor.Remove(actor, out var slot))
        {
            ForgetSlot(slot);
        }
    }

    private void ForgetSlot(ConnectionSlot slot)
    {
        if (_byToken.TryGetValue(slot.Token, out var current) && ReferenceEquals(current, slot))
        {
            _byToken.Remove(slot.Token);
            if (_sampling.Remove(slot.Token))
            {
                UpdateDemand();
            }

            if (_byToken.Count == 0 && _startedSinceTrim >= TrimAfter && !_trimScheduled)
            {
                _trimScheduled = true;
                _scheduler.ScheduleTellOnce(TrimDelay, _self, TrimWhenIdle.Instance, _self);
            }
        }
    }

    private void Trim()
    {
        _trimScheduled = false;
        if (_byToken.Count != 0)
        {
            return; // busy again: the next time the last connection goes, it is scheduled again
        }

        var before = Environment.WorkingSet;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        _trims++;
        _log.Debug("idle after {0} connections: a compacting collection took {1:0.0} ms; resident {2:0.0} -> {3:0.0} MiB", _startedSinceTrim,
            clock.Elapsed.TotalMilliseconds, before / 1048576.0, Environment.WorkingSet / 1048576.0);
        _startedSinceTrim = 0;
    }

    private void UpdateDemand()
    {
        if (_sampler is null)
        {
            return;
        }

        var demand = (_sampling.Count, _sampling.Count == 0 ? TimeSpan.Zero : _sampling.Values.Min());
        if (demand.Item1 > 0 && _demand.Count > 0 && demand.Item2 == _demand.Interval)
        {
            _demand = demand;
            return;
        }

        _demand = demand;
        _sampler.Tell(new SamplerProtocol.Demand(demand.Item1, demand.Item2), _self);
    }

    // --- the kernel's view ---------------------------------------------------------------------------------

    private void HandleDump(ConnectionsDumped d)
    {
        if (d.Purpose == DumpPurpose.Check)
        {
            HandleCheck(d);
            return;
        }

        if (d.Purpose == DumpPurpose.Lookup)
        {
            _lookupInFlight = false;
        }

        if (d.Error is not null)
        {
            _log.Warning("sock_diag dump failed: {Error}", d.Error);
            _lookingUp.Clear();
            if (d.Purpose == DumpPurpose.Resync)
            {
                ResyncDone(1);
            }

            return;
        }

        // Only what we held before the dump was asked for can be missing from it (0: a dump of unknown age judges all).
        var judged = d.RequestedAt == 0 ? long.MaxValue : d.RequestedAt;
        var changes = 0;
        var subflows = d.Subflows.GroupBy(s => s.Token).ToDictionary(g => g.Key, g => (IReadOnlyList<SubflowDiag>)g.ToList());
        var plan = Reconciliation.Connections(_byToken.Where(kv => !kv.Value.Ended).Select(kv => (kv.Key, kv.Value.Since)), d.Connections, judged);
        if (d.Purpose == DumpPurpose.Resync)
        {
            foreach (var token in plan.Resync)
            {
                var conn = d.Connections.First(c => c.Info.Token == token);
                changes += _byToken[token].Reconcile(new Resync(conn, subflows.GetValueOrDefault(token) ?? [], judged));
            }
        }

        foreach (var conn in plan.Adopt)
        {
            var token = conn.Info.Token;
            _lookingUp.Remove(token);
            var server = d.Listeners.Any(l => l.Id.SourcePort == conn.Id.SourcePort &&
                (l.Id.Source.Equals(conn.Id.Source) || l.Id.Source.Equals(System.Net.IPAddress.Any) || l.Id.Source.Equals(System.Net.IPAddress.IPv6Any)));
            var side = server ? Side.Server : Side.Client;
            if (_byToken.TryGetValue(token, out var ended))
            {
                Retire(ended); // an ended connection whose token the kernel has again
            }

            Start(token, new FromKernel(conn, subflows.GetValueOrDefault(token) ?? [], side), side);
            changes++;
        }

        foreach (var conn in d.Connections)
        {
            _lookingUp.Remove(conn.Info.Token);
        }

        if (d.Purpose == DumpPurpose.Resync)
        {
            foreach (var token in plan.Gone)
            {
                changes += _byToken[token].Reconcile(new Resync(null, [], judged));
            }

            _log.Debug("reconcile round {Round}: {Adopted} adopted, {Gone} gone, {Changes} changes in all", _resyncRound, plan.Adopt.Count, plan.Gone.Count, changes);
            ResyncDone(changes);
        }

        if (d.Purpose == DumpPurpose.Lookup)
        {
            // Tokens the kernel no longer has: their connections ended before we could look.
            _lookingUp.Clear();
        }

        if (d.Purpose == DumpPurpose.Takeover)
        {
            _log.Info("start-up takeover: {Count} live MPTCP connections found and adopted", plan.Adopt.Count);
        }
    }

    private void HandleSamples(SamplerProtocol.SampleBatch batch)
    {
        foreach (var token in _sampling.Keys)
        {
            if (batch.ByToken.TryGetValue(token, out var list) && _byToken.TryGetValue(token, out var slot))
            {
                slot.Deliver(new Samples(token, list, batch.At));
            }
        }
    }

    private void Broadcast(ImmutableList<LocalAddress> all, LocalAddress? added, LocalAddress? removed)
    {
        _locals = all;
        var msg = new LocalAddressesChanged(all, added, removed);
        foreach (var slot in _byToken.Values.ToList())
        {
            slot.Deliver(msg);
        }
    }
}
