using System.Collections.Immutable;
using System.Net;
using Akka.Actor;
using Akka.Event;
using Smapp.Actors.Configuration;
using Smapp.Actors.Gateway;
using Smapp.Policy;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using static Smapp.Actors.Connections.ConnectionProtocol;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Actors.Connections;

/// <summary>
/// One MPTCP connection: its state (subflows, the peer's addresses, the local ids it has used) and the policy
/// instance that decides for it. Kernel events become policy callbacks (only those the policy overrides); the
/// policy's commands go to the gateway and their outcomes come back to the policy. A failure in the policy
/// restarts this actor alone, and its state is rebuilt from the kernel (sock_diag) before anything else runs.
/// </summary>
public sealed partial class ConnectionActor : UntypedActor, IWithTimers, IWithUnboundedStash
{
    /// <summary>TCP_ESTABLISHED: a subflow in any other state is connecting or already closing.</summary>
    private const byte TcpEstablished = 1;

    private readonly IActorRef _gateway;
    private readonly PolicyChoice _choice;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly List<Subflow> _subflows = new(2);
    private readonly List<RemoteAddress> _remotes = new(1);
    private readonly PolicyContext _ctx;

    // Created on first use: most connections never need them, and thousands of connections add up.
    private Dictionary<int, IActorRef>? _children;
    private List<(IPAddress Address, ushort Port, byte Id)>? _localIds;
    private Dictionary<long, (PmCommand Command, int? SubflowId)>? _pending;
    private ImmutableList<LocalAddress> _locals = [];
    private SubflowPolicy _policy;
    private ConnectionInfo _info = null!;
    private uint _token;
    private Side _side;
    private bool _started;
    private bool _established;
    private int _nextSubflowId;
    private long _nextCorrelation;
    private int _restarts;

    /// <summary>
    /// The actor is made with what every connection of its policy shares (so that one <see cref="Akka.Actor.Props"/>
    /// serves them all); what is its own arrives in <see cref="Init"/>, its first message.
    /// </summary>
    public ConnectionActor(IActorRef gateway, PolicyChoice choice)
    {
        _gateway = gateway;
        _choice = choice;
        _policy = choice.Create();
        _ctx = new PolicyContext(this);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public IStash Stash { get; set; } = null!;

    /// <summary>Props shared by every connection of one policy choice; send each actor an <see cref="Init"/> first.</summary>
    public static Props Props(IActorRef gateway, PolicyChoice choice, string? dispatcher, string? mailbox = null)
    {
        var props = Akka.Actor.Props.Create(() => new ConnectionActor(gateway, choice));
        props = dispatcher is null ? props : props.WithDispatcher(dispatcher);
        return mailbox is null ? props : props.WithMailbox(mailbox);
    }

    private PolicyEvents Events => _choice.Events;

    private bool Wants(PolicyEvents e) => (Events & e) != 0;

    private void Start(Init init)
    {
        _started = true;
        _token = init.Token;
        _locals = init.Locals;
        switch (init.Origin)
        {
            case FromEvent { Event: var ev }:
                _side = ev.ServerSide == true ? Side.Server : Side.Client;
                StartFromEvent(ev);
                break;
            case FromKernel k:
                _side = k.Side;
                Adopt(k.Connection, k.Subflows, k.Side);
                break;
        }
    }

    protected override void PreRestart(Exception reason, object message)
    {
        // The new instance starts from the constructor's arguments: hand it what must outlive this one.
        Self.Tell(new Carried(_token, _side, _restarts, _locals, reason.Message));

        // Children (and their timers) stop; the policy instance is dropped with the old state.
        base.PreRestart(reason, message);
    }

    /// <summary>What a restarted instance keeps from the failed one (its own fields start over).</summary>
    private sealed record Carried(uint Token, Side Side, int Restarts, ImmutableList<LocalAddress> Locals, string Reason);

    protected override void PostRestart(Exception reason) => BecomeStacked(Rebuilding);

    // --- behaviours ----------------------------------------------------------------------------------------

    protected override void OnReceive(object message)
    {
        if (!_started)
        {
            if (message is Init init)
            {
                Start(init);
            }
            else
            {
                Stash.Stash();
            }

            return;
        }

        switch (message)
        {
            case MptcpEvent e: HandleEvent(e); break;
            case CommandResult r: HandleResult(r); break;
            case ReopenDue d: HandleReopenDue(d); break;
            case RtoGrew g: HandleRtoGrew(g); break;
            case Samples s: HandleSamples(s); break;
            case PolicyTimer t: if (Wants(PolicyEvents.Timer)) { _policy.OnTimer(_ctx, t.Key); } break;
            case LocalAddressesChanged c: HandleLocalAddresses(c); break;
            case Resync r: HandleResync(r); break;
            case GetState: Sender.Tell(State()); break;
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
            case ConnectionsDumped d:
                var conn = d.Connections.FirstOrDefault(c => c.Info.Token == _token);
                if (conn is null)
                {
                    _log.Info("connection {Token:x8} is gone from the kernel; stopping", _token);
                    Context.Stop(Self);
                    return;
                }

                _policy = _choice.Create();
                _started = true;
                Adopt(conn, d.Subflows.Where(s => s.Token == _token).ToList(), _side);
                UnbecomeStacked();
                Stash.UnstashAll();
                break;
            case Carried c:
                (_token, _side, _restarts, _locals) = (c.Token, c.Side, c.Restarts + 1, c.Locals);
                _log.Warning("connection {Token:x8}: policy {Policy} failed ({Reason}); restarting it with state rebuilt from the kernel", _token, _choice.Name, c.Reason);
                _gateway.Tell(new DumpConnections(0, _token));
                break;
            case GetState:
                Sender.Tell(State());
                break;
            default:
                Stash.Stash();
                break;
        }
    }

    // --- start ---------------------------------------------------------------------------------------------

    private void StartFromEvent(MptcpEvent ev)
    {
        var side = ev.ServerSide == true ? Side.Server : Side.Client;
        _info = new ConnectionInfo(_token, side, EndpointOf(ev.SourceAddress, ev.SourcePort), EndpointOf(ev.DestinationAddress, ev.DestinationPort), false);
        if (ev.SourceAddress is not null)
        {
            AddInitialSubflow(_info.Local, _info.Remote, ev.RemoteId ?? 0);
        }

        HandleEvent(ev);
    }

    /// <summary>Builds the state from the kernel's view, and tells the policy it has an established connection.</summary>
    private void Adopt(ConnectionDiag conn, IReadOnlyList<SubflowDiag> subflows, Side side)
    {
        foreach (var child in _children?.Values ?? Enumerable.Empty<IActorRef>())
        {
            Context.Stop(child);
        }

        _children = null;
        _localIds = null;
        _pending = null;
        _subflows.Clear();
        _remotes.Clear();
        _info = new ConnectionInfo(_token, side, new Endpoint(conn.Id.Source, conn.Id.SourcePort), new Endpoint(conn.Id.Destination, conn.Id.DestinationPort), true);
        _remotes.Add(new RemoteAddress(_info.Remote.Address, _info.Remote.Port, 0));
        foreach (var sf in subflows.Where(s => s.TcpState == TcpEstablished))
        {
            var local = new Endpoint(sf.Id.Source, sf.Id.SourcePort);
            var remote = new Endpoint(sf.Id.Destination, sf.Id.DestinationPort);
            var s = NewSubflow(local, remote, sf.LocalId, sf.BackupLocal, SubflowPhase.Established);
            s.RemoteId = sf.RemoteId;
            s.Initial = sf.LocalId == 0 && sf.RemoteId == 0 && local.Equals(_info.Local);
            s.EstablishedAt = _ctx.Now;
            RememberLocalId(sf.Id.Source, sf.LocalId);
            if (sf.RemoteId != 0 && !_remotes.Any(r => r.Id == sf.RemoteId))
            {
                _remotes.Add(new RemoteAddress(sf.Id.Destination, sf.Id.DestinationPort, sf.RemoteId));
            }
        }

        _established = true;
        _log.Info("connection {Connection} taken over with {Count} subflows; policy {Policy} ({Rule})", _info, subflows.Count, _choice.Name, _choice.Rule);
        if (Wants(PolicyEvents.Established)) { _policy.OnEstablished(_ctx); }
    }

    // --- kernel events -------------------------------------------------------------------------------------

    private void HandleEvent(MptcpEvent ev)
    {
        switch (ev.Type)
        {
            case MptcpEventType.Created when !_established:
                if (Wants(PolicyEvents.Created)) { _policy.OnCreated(_ctx); }
                break;
            case MptcpEventType.Established:
                if (_established)
                {
                    return;
                }

                _established = true;
                if (!_remotes.Any(r => r.Id == 0))
                {
                    _remotes.Add(new RemoteAddress(_info.Remote.Address, _info.Remote.Port, 0));
                }

                _log.Info("connection {Connection} established; policy {Policy} ({Rule})", _info, _choice.Name, _choice.Rule);
                if (Wants(PolicyEvents.Established)) { _policy.OnEstablished(_ctx); }
                break;
            case MptcpEventType.Closed:
                if (Wants(PolicyEvents.Closed)) { _policy.OnClosed(_ctx); }
                Context.Stop(Self);
                break;
            case MptcpEventType.Announced when ev.DestinationAddress is not null && ev.RemoteId is { } id:
                var announced = new RemoteAddress(ev.DestinationAddress, ev.DestinationPort, id);
                _remotes.RemoveAll(r => r.Id == id);
                _remotes.Add(announced);
                if (Wants(PolicyEvents.Announced)) { _policy.OnAnnounced(_ctx, announced); }
                break;
            case MptcpEventType.Removed when ev.RemoteId is { } rid:
                var gone = _remotes.FirstOrDefault(r => r.Id == rid);
                if (gone is not null)
                {
                    _remotes.Remove(gone);
                    if (Wants(PolicyEvents.Removed)) { _policy.OnRemoved(_ctx, gone); }
                }

                break;
            case MptcpEventType.SubEstablished:
                HandleSubEstablished(ev);
                break;
            case MptcpEventType.SubClosed:
                HandleSubClosed(ev);
                break;
            case MptcpEventType.SubPriority:
                if (Find(ev) is { } prio)
                {
                    prio.Backup = ev.Backup ?? prio.Backup;
                    if (Wants(PolicyEvents.SubflowPriority)) { _policy.OnSubflowPriority(_ctx, prio); }
                }

                break;
        }
    }

    private void HandleSubEstablished(MptcpEvent ev)
    {
        var local = EndpointOf(ev.SourceAddress, ev.SourcePort);
        var remote = EndpointOf(ev.DestinationAddress, ev.DestinationPort);
        var s = Find(ev) ?? FindConnecting(local.Address, remote);
        if (s is null)
        {
            s = NewSubflow(local, remote, ev.LocalId ?? 0, ev.Backup ?? false, SubflowPhase.Established);
        }

        s.Local = local with { Address = Intern(local.Address) };
        s.Remote = remote with { Address = Intern(remote.Address) };
        s.Phase = SubflowPhase.Established;
        s.EstablishedAt = _ctx.Now;
        s.Failures = 0;
        s.Backup = ev.Backup ?? s.Backup;
        s.LocalId = ev.LocalId ?? s.LocalId;
        s.RemoteId = ev.RemoteId ?? s.RemoteId;
        if (ev.LocalId is { } lid && ev.SourceAddress is not null)
        {
            RememberLocalId(ev.SourceAddress, lid);
        }

        if (s.Abandoned)
        {
            // Closed by the policy while it was connecting: finish the job now that the kernel knows its port.
            Destroy(s);
            return;
        }

        if (Wants(PolicyEvents.SubflowEstablished)) { _policy.OnSubflowEstablished(_ctx, s); }
    }

    private void HandleSubClosed(MptcpEvent ev)
    {
        var remote = EndpointOf(ev.DestinationAddress, ev.DestinationPort);
        var s = Find(ev) ?? (ev.SourceAddress is null ? null : FindConnecting(ev.SourceAddress, remote));
        if (s is null)
        {
            return;
        }

        Closed(s, new CloseReason(ev.Error ?? 0, ev.ResetReason));
    }

    /// <summary>A subflow closed (kernel event or refused create): tell the policy, then forget it unless re-opened.</summary>
    private void Closed(Subflow s, CloseReason reason)
    {
        s.Phase = SubflowPhase.Closed;
        s.Failures++;
        s.LastClose = reason;
        if (!s.Abandoned)
        {
            if (Wants(PolicyEvents.SubflowClosed)) { _policy.OnSubflowClosed(_ctx, s, reason); }
        }

        if (s.Phase != SubflowPhase.Pending)
        {
            Forget(s);
        }
    }

    private void Forget(Subflow s)
    {
        _subflows.Remove(s);
        if (_children is not null && _children.Remove(s.Id, out var child))
        {
            Context.Stop(child);
        }
    }

    // --- commands and their outcomes -----------------------------------------------------------------------

    private void Send(PmCommand command, int? subflowId)
    {
        (_pending ??= [])[command.Correlation] = (command, subflowId);
        _gateway.Tell(command, Self);
    }

    private long NextCorrelation() => ++_nextCorrelation;

    private void Create(Subflow s)
    {
        s.Phase = SubflowPhase.Connecting;
        s.Local = s.Local with { Port = 0 };
        var local = new MptcpAddress(s.Local.Address, s.LocalId, null, s.Backup ? MptcpAddrFlags.Backup : MptcpAddrFlags.None);
        Send(new CreateSubflow(NextCorrelation(), _token, local, new MptcpAddress(s.Remote.Address, null, s.Remote.Port)), s.Id);
    }

    private void Destroy(Subflow s) =>
        Send(new DestroySubflow(NextCorrelation(), _token, new MptcpAddress(s.Local.Address, null, s.Local.Port), new MptcpAddress(s.Remote.Address, null, s.Remote.Port)), s.Id);

    private void HandleResult(CommandResult r)
    {
        if (_pending is null || !_pending.Remove(r.Command.Correlation, out var p))
        {
            return;
        }

        if (_pending.Count == 0)
        {
            _pending = null;
        }

        var s = p.SubflowId is { } id ? SubflowById(id) : null;
        var outcome = new CommandOutcome(r.Command.Name, r.Errno, r.Message, p.SubflowId);
        if (!r.Success)
        {
            _log.Info("connection {Token:x8}: {Command} refused: {Errno} {Message}", _token, r.Command.Name, Smapp.Netlink.Native.Errno.Name(r.Errno), r.Message);
        }

        if (Wants(PolicyEvents.CommandResult)) { _policy.OnCommandResult(_ctx, outcome); }
        if (s is null || r.Success && r.Command is not SetBackup)
        {
            return;
        }

        switch (r.Command)
        {
            case CreateSubflow when s.Phase == SubflowPhase.Connecting:
                Closed(s, new CloseReason(r.Errno, null, r.Message));
                break;
            case DestroySubflow when r.Errno == Smapp.Netlink.Native.Errno.ESRCH:
                Forget(s);
                break;
            case SetBackup b when r.Success:
                s.Backup = b.Backup;
                break;
        }
    }

    private void HandleReopenDue(ReopenDue d)
    {
        if (SubflowById(d.SubflowId) is not { Phase: SubflowPhase.Pending } s || s.Abandoned)
        {
            return;
        }

        if (!_locals.Any(a => a.Address.Equals(s.Local.Address)))
        {
            _log.Info("connection {Token:x8}: not re-opening subflow {Subflow}: its local address is gone", _token, s);
            Forget(s);
            return;
        }

        Create(s);
    }

    // --- samples and local addresses -----------------------------------------------------------------------

    private void HandleSamples(Samples m)
    {
        foreach (var diag in m.Subflows)
        {
            var s = _subflows.FirstOrDefault(x => x.Local.Port == diag.Id.SourcePort && x.Remote.Port == diag.Id.DestinationPort && Same(x.Local.Address, diag.Id.Source));
            if (s is null)
            {
                continue;
            }

            var i = diag.Info;
            s.LastSample = new SubflowSample(m.At, TimeSpan.FromTicks(i.RtoUs * 10L), i.Backoff, TimeSpan.FromTicks(i.RttUs * 10L), i.SndCwnd,
                i.PacingRate, i.DeliveryRate, i.BytesAcked, i.BytesSent, i.BytesReceived, i.TotalRetrans, i.Unacked);
            if (Wants(PolicyEvents.SubflowTimeout) && s.Phase == SubflowPhase.Established)
            {
                ChildOf(s).Tell(new RtoSample(s.LastSample.Rto, i.Backoff));
            }
        }

        if (Wants(PolicyEvents.Sample)) { _policy.OnSample(_ctx); }
    }

    private void HandleRtoGrew(RtoGrew g)
    {
        if (SubflowById(g.SubflowId) is { Phase: SubflowPhase.Established } s)
        {
            if (Wants(PolicyEvents.SubflowTimeout)) { _policy.OnSubflowTimeout(_ctx, s, g.Rto); }
        }
    }

    private void HandleLocalAddresses(LocalAddressesChanged c)
    {
        var before = _locals;
        _locals = c.All;
        foreach (var gone in before.Where(o => !c.All.Any(n => n.Address.Equals(o.Address))))
        {
            if (Wants(PolicyEvents.LocalAddressRemoved)) { _policy.OnLocalAddressRemoved(_ctx, gone); }

            // Whatever the policy did, nothing waits to re-open from an address that is gone.
            foreach (var s in _subflows.Where(s => s.Phase is SubflowPhase.Pending or SubflowPhase.Closed && s.Local.Address.Equals(gone.Address)).ToList())
            {
                _log.Info("connection {Token:x8}: subflow {Subflow} abandoned: local address {Address} went away", _token, s, gone);
                s.Abandoned = true;
                Forget(s);
            }
        }

        if (!_established)
        {
            return;
        }

        foreach (var added in c.All.Where(n => !before.Any(o => o.Address.Equals(n.Address))))
        {
            if (Wants(PolicyEvents.LocalAddressAdded)) { _policy.OnLocalAddressAdded(_ctx, added); }
        }
    }

    private void HandleResync(Resync r)
    {
        if (r.Connection is null)
        {
            if (Wants(PolicyEvents.Closed)) { _policy.OnClosed(_ctx); }
            Context.Stop(Self);
            return;
        }

        // Subflows the kernel no longer has closed while events were lost.
        var live = r.Subflows.Where(d => d.TcpState == TcpEstablished).ToList();
        foreach (var s in _subflows.Where(s => s.Phase == SubflowPhase.Established).ToList())
        {
            if (!live.Any(d => d.Id.SourcePort == s.Local.Port && d.Id.DestinationPort == s.Remote.Port && Same(d.Id.Source, s.Local.Address)))
            {
                Closed(s, CloseReason.None);
            }
        }

        // Subflows the kernel has that we did not hear of.
        foreach (var d in live)
        {
            if (!_subflows.Any(s => s.Local.Port == d.Id.SourcePort && s.Remote.Port == d.Id.DestinationPort && Same(d.Id.Source, s.Local.Address)))
            {
                var s = NewSubflow(new Endpoint(d.Id.Source, d.Id.SourcePort), new Endpoint(d.Id.Destination, d.Id.DestinationPort), d.LocalId, d.BackupLocal, SubflowPhase.Established);
                s.EstablishedAt = _ctx.Now;
                if (Wants(PolicyEvents.SubflowEstablished)) { _policy.OnSubflowEstablished(_ctx, s); }
            }
        }
    }

    // --- helpers -------------------------------------------------------------------------------------------


    private Subflow NewSubflow(Endpoint local, Endpoint remote, byte localId, bool backup, SubflowPhase phase)
    {
        var s = new Subflow(++_nextSubflowId, local with { Address = Intern(local.Address) }, remote with { Address = Intern(remote.Address) }, localId, backup, phase);
        _subflows.Add(s);
        if (Wants(PolicyEvents.SubflowTimeout))
        {
            ChildOf(s);
        }

        return s;
    }

    /// <summary>
    /// The subflow's actor, created when the subflow first needs one: for its RTO watch (when the policy listens to
    /// timeouts) or for its re-establishment timer. An idle subflow costs no actor.
    /// </summary>
    private IActorRef ChildOf(Subflow s)
    {
        _children ??= [];
        if (!_children.TryGetValue(s.Id, out var child))
        {
            var props = SubflowActor.Props(s.Id).WithDispatcher(Context.Props.Dispatcher);
            child = Context.ActorOf(Context.Props.Mailbox is { } mailbox ? props.WithMailbox(mailbox) : props, $"subflow-{s.Id}");
            _children[s.Id] = child;
        }

        return child;
    }

    private void AddInitialSubflow(Endpoint local, Endpoint remote, byte remoteId)
    {
        var s = NewSubflow(local, remote, 0, false, SubflowPhase.Established);
        s.Initial = true;
        s.RemoteId = remoteId;
        s.EstablishedAt = _ctx.Now;
    }

    private Subflow? SubflowById(int id)
    {
        foreach (var s in _subflows)
        {
            if (s.Id == id)
            {
                return s;
            }
        }

        return null;
    }

    /// <summary>The same address object as one the connection already holds, so that subflows share it.</summary>
    private IPAddress Intern(IPAddress a)
    {
        if (_info is not null)
        {
            if (a.Equals(_info.Local.Address)) return _info.Local.Address;
            if (a.Equals(_info.Remote.Address)) return _info.Remote.Address;
        }

        foreach (var l in _locals)
        {
            if (a.Equals(l.Address)) return l.Address;
        }

        return a;
    }

    /// <summary>The oldest subflow we asked the kernel for (port not known yet) from this address to this endpoint.</summary>
    private Subflow? FindConnecting(IPAddress local, Endpoint remote)
    {
        Subflow? best = null;
        foreach (var x in _subflows)
        {
            if (x.Phase == SubflowPhase.Connecting && x.Local.Port == 0 && Same(x.Local.Address, local) && SameEndpoint(x.Remote, remote) && (best is null || x.Id < best.Id))
            {
                best = x;
            }
        }

        return best;
    }

    /// <summary>The subflow with exactly this event's 4-tuple.</summary>
    private Subflow? Find(MptcpEvent ev)
    {
        if (ev.SourcePort is not { } sp || ev.DestinationPort is not { } dp || ev.SourceAddress is null || ev.DestinationAddress is null)
        {
            return null;
        }

        foreach (var s in _subflows)
        {
            if (s.Local.Port == sp && s.Remote.Port == dp && Same(s.Local.Address, ev.SourceAddress) && Same(s.Remote.Address, ev.DestinationAddress))
            {
                return s;
            }
        }

        return null;
    }

    /// <summary>The local address id to use for <paramref name="address"/>: 0 for the initial subflow's, else a stable one per connection.</summary>
    /// <summary>
    /// The local address id for <paramref name="address"/> (and, for an announcement on its own port,
    /// <paramref name="port"/>): 0 for the initial subflow's address, else one this connection keeps for it. The
    /// kernel pairs an id with one address and port, so announcing the initial address on another port takes a
    /// new id.
    /// </summary>
    private byte LocalIdFor(IPAddress address, ushort port = 0)
    {
        if (port == 0 && Same(address, _info.Local.Address))
        {
            return 0;
        }

        if (KnownLocalId(address, port) is { } id)
        {
            return id;
        }

        for (byte candidate = 1; candidate < 255; candidate++)
        {
            if (_localIds is null || !_localIds.Exists(e => e.Id == candidate))
            {
                RememberLocalId(address, candidate, port);
                return candidate;
            }
        }

        return 255;
    }

    /// <summary>
    /// The id this connection gave <paramref name="address"/> (on <paramref name="port"/>, 0: no port), if any. The
    /// kernel keeps an address's entry (and refuses to reuse its id for another address) even after a subflow on it
    /// closed, so ids are remembered for the connection's life.
    /// </summary>
    internal byte? KnownLocalId(IPAddress address, ushort port = 0)
    {
        if (_localIds is not null)
        {
            foreach (var (a, p, id) in _localIds)
            {
                if (p == port && Same(a, address))
                {
                    return id;
                }
            }
        }

        return null;
    }

    private void RememberLocalId(IPAddress address, byte id, ushort port = 0)
    {
        if (id == 0 || KnownLocalId(address, port) is not null)
        {
            return;
        }

        (_localIds ??= new(1)).Add((Intern(Norm(address)), port, id));
    }

    private static Endpoint EndpointOf(IPAddress? a, ushort? port) => new(a ?? IPAddress.Any, port ?? 0);

    private static IPAddress Norm(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    private static bool Same(IPAddress a, IPAddress b) => Norm(a).Equals(Norm(b));

    private static bool SameEndpoint(Endpoint a, Endpoint b) => a.Port == b.Port && Same(a.Address, b.Address);

    private ConnectionState State() => new(
        _token, _info?.Side ?? _side, _info?.Local.ToString() ?? "", _info?.Remote.ToString() ?? "", _choice.Name, _choice.Rule,
        _info?.TakenOver ?? false, _established,
        _subflows.OrderBy(s => s.Id).Select(s => new SubflowState(s.Id, s.Local.ToString(), s.Remote.ToString(), s.Backup, s.Phase, s.LocalId, s.Initial, s.Failures, s.EstablishedAt, s.LastSample)).ToList(),
        _restarts);
}
