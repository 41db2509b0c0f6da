using System.Collections.Immutable;
using System.Net;
using Akka.Event;
using Smapp.Actors.Configuration;
using Smapp.Actors.Observing;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Smapp.Policy;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Actors.Connections;

/// <summary>
/// What a <see cref="ConnectionCore"/> needs from whoever hosts it: the way to the kernel, timers, a clock, a log,
/// and an end. The connection actor is the host in production; a test may be one.
/// </summary>
internal interface IConnectionHost
{
    DateTimeOffset Now { get; }

    ILoggingAdapter Log { get; }

    /// <summary>Whether the policy's decisions are logged at Info (else Debug).</summary>
    bool DecisionsAtInfo { get; }

    /// <summary>Sends a command to the kernel; its <see cref="CommandResult"/> comes back to <see cref="ConnectionCore.OnResult"/>.</summary>
    void Send(PmCommand command);

    /// <summary>After <paramref name="delay"/>, <see cref="ConnectionCore.OnReopenDue"/> for this subflow (replaces an earlier one).</summary>
    void StartReopenTimer(int subflowId, TimeSpan delay);

    void CancelReopenTimer(int subflowId);

    /// <summary>After <paramref name="delay"/> (and every delay if repeating), <see cref="ConnectionCore.OnPolicyTimer"/>.</summary>
    void StartPolicyTimer(string key, TimeSpan delay, bool repeat);

    void CancelPolicyTimer(string key);

    /// <summary>The connection is over (closed, or gone from the kernel): the host stops.</summary>
    void Finished();

    /// <summary>
    /// The core needs the kernel's view of this connection (a subflow it gave up on is being opened and its port is
    /// unknown): a <see cref="ConnectionCore.OnResync"/> follows.
    /// </summary>
    void RequestCheck()
    {
    }
}

/// <summary>
/// One MPTCP connection's logic, with no actor in it: its state (the subflow table, the peer's addresses, the local
/// ids it used, the commands in flight) and the policy instance that decides for it. Kernel events become policy
/// callbacks (only those the policy registered for); the policy's commands go out through the host, and their
/// outcomes come back to the policy with the handle the command returned. It is the policy's
/// <see cref="IConnectionContext"/>.
/// </summary>
internal sealed class ConnectionCore : IConnectionContext
{
    private PolicyChoice _choice;
    private readonly IConnectionHost _host;
    private readonly SubflowTable _subflows = new();
    private readonly List<RemoteAddress> _remotes = new(1);
    private LocalIdAllocator _ids;
    private PendingCommands _pending;
    private ImmutableList<LocalAddress> _locals = [];
    private SubflowPolicy _policy;
    private ConnectionInfo _info = null!;
    private DecisionRing? _decisions;
    private HashSet<string>? _policyTimers;
    private DateTimeOffset? _frozenNow;

    public ConnectionCore(PolicyChoice choice, IConnectionHost host)
    {
        _choice = choice;
        _host = host;
        _policy = choice.Create();
    }

    public uint Token { get; private set; }

    public Side Side { get; private set; }

    public bool Established { get; private set; }

    /// <summary>The connection, once started (null before).</summary>
    public ConnectionInfo? Info => _info;

    public ImmutableList<LocalAddress> Locals => _locals;

    private bool Wants(PolicyEvents e) => (_choice.Events & e) != 0;

    // --- start ---------------------------------------------------------------------------------------------

    /// <summary>Learned from a kernel event (CREATED, or ESTABLISHED for a connection that started unseen).</summary>
    public void StartFromEvent(uint token, MptcpEvent ev, ImmutableList<LocalAddress> locals)
    {
        Token = token;
        _locals = locals;
        Side = ev.ServerSide == true ? Side.Server : Side.Client;
        _info = new ConnectionInfo(token, Side, EndpointOf(ev.SourceAddress, ev.SourcePort), EndpointOf(ev.DestinationAddress, ev.DestinationPort), false);
        _ids.Initial = _info.Local.Address;
        if (ev.SourceAddress is not null)
        {
            var s = _subflows.Add(Intern(_info.Local), Intern(_info.Remote), 0, false, SubflowPhase.Established);
            s.Initial = true;
            s.RemoteId = ev.RemoteId ?? 0;
            s.EstablishedAt = Now;
        }

        OnEvent(ev);
    }

    /// <summary>
    /// Builds the state from the kernel's view (takeover, lost events, restart) and tells the policy it has an
    /// established connection. Whatever the connection held before is dropped.
    /// </summary>
    public void Adopt(uint token, ConnectionDiag conn, IReadOnlyList<SubflowDiag> subflows, Side side, ImmutableList<LocalAddress> locals)
    {
        Token = token;
        Side = side;
        _locals = locals;
        foreach (var s in _subflows.All)
        {
            if (s.Phase == SubflowPhase.Pending)
            {
                _host.CancelReopenTimer(s.Id);
            }
        }

        _subflows.Clear();
        _ids.Clear();
        _pending.Clear();
        _remotes.Clear();
        _info = new ConnectionInfo(token, side, new Endpoint(conn.Id.Source, conn.Id.SourcePort), new Endpoint(conn.Id.Destination, conn.Id.DestinationPort), true);
        _ids.Initial = _info.Local.Address;
        _remotes.Add(new RemoteAddress(_info.Remote.Address, _info.Remote.Port, 0));
        foreach (var sf in subflows.Where(s => s.TcpState == Reconciliation.TcpEstablished))
        {
            var local = new Endpoint(sf.Id.Source, sf.Id.SourcePort);
            var s = _subflows.Add(Intern(local), Intern(new Endpoint(sf.Id.Destination, sf.Id.DestinationPort)), sf.LocalId, sf.BackupLocal, SubflowPhase.Established);
            s.RemoteId = sf.RemoteId;
            s.Initial = sf.LocalId == 0 && sf.RemoteId == 0 && local.Equals(_info.Local);
            s.EstablishedAt = Now;
            _ids.Remember(sf.Id.Source, sf.LocalId);
            if (sf.RemoteId != 0 && !_remotes.Any(r => r.Id == sf.RemoteId))
            {
                _remotes.Add(new RemoteAddress(sf.Id.Destination, sf.Id.DestinationPort, sf.RemoteId));
            }
        }

        Established = true;
        if (Wants(PolicyEvents.Established)) { _policy.OnEstablished(this); }
        _host.Log.Debug("connection {Connection} taken over with {Count} subflows; policy {Policy} ({Rule})", _info, subflows.Count, _choice.Name, _choice.Rule);
    }

    // --- kernel events -------------------------------------------------------------------------------------

    private void BecomeEstablished()
    {
        Established = true;
        if (!_remotes.Any(r => r.Id == 0))
        {
            _remotes.Add(new RemoteAddress(_info.Remote.Address, _info.Remote.Port, 0));
        }

        // The policy first: this is the reaction the daemon is measured on; the log line can wait.
        if (Wants(PolicyEvents.Established)) { _policy.OnEstablished(this); }
        _host.Log.Debug("connection {Connection} established; policy {Policy} ({Rule})", _info, _choice.Name, _choice.Rule);
    }

    public void OnEvent(MptcpEvent ev)
    {
        switch (ev.Type)
        {
            case MptcpEventType.Created when !Established:
                if (Wants(PolicyEvents.Created)) { _policy.OnCreated(this); }
                break;
            case MptcpEventType.Established when !Established:
                BecomeEstablished();
                break;
            case MptcpEventType.Closed:
                End();
                break;
            case MptcpEventType.Announced when ev.DestinationAddress is not null && ev.RemoteId is { } id:
                var announced = new RemoteAddress(ev.DestinationAddress, ev.DestinationPort, id);
                _remotes.RemoveAll(r => r.Id == id);
                _remotes.Add(announced);
                if (Wants(PolicyEvents.Announced)) { _policy.OnAnnounced(this, announced); }
                break;
            case MptcpEventType.Removed when ev.RemoteId is { } rid:
                var gone = _remotes.FirstOrDefault(r => r.Id == rid);
                if (gone is not null)
                {
                    _remotes.Remove(gone);
                    if (Wants(PolicyEvents.Removed)) { _policy.OnRemoved(this, gone); }
                }

                break;
            case MptcpEventType.SubEstablished:
                OnSubEstablished(ev);
                break;
            case MptcpEventType.SubClosed:
                if (_subflows.Match(ev.SourceAddress, ev.SourcePort, ev.DestinationAddress, ev.DestinationPort) is { } closed)
                {
                    Closed(closed, new CloseReason((Errno)(ev.Error ?? 0), ev.ResetReason));
                }

                break;
            case MptcpEventType.SubPriority:
                if (_subflows.Find(ev.SourceAddress, ev.SourcePort, ev.DestinationAddress, ev.DestinationPort) is { } prio)
                {
                    prio.Backup = ev.Backup ?? prio.Backup;
                    if (Wants(PolicyEvents.SubflowPriority)) { _policy.OnSubflowPriority(this, prio); }
                }

                break;
        }
    }

    private void OnSubEstablished(MptcpEvent ev)
    {
        var local = Intern(EndpointOf(ev.SourceAddress, ev.SourcePort));
        var remote = Intern(EndpointOf(ev.DestinationAddress, ev.DestinationPort));
        var s = _subflows.Match(ev.SourceAddress, ev.SourcePort, ev.DestinationAddress, ev.DestinationPort)
            ?? _subflows.Add(local, remote, ev.LocalId ?? 0, ev.Backup ?? false, SubflowPhase.Established);
        SubflowTable.Established(s, local, remote, ev.LocalId, ev.RemoteId, ev.Backup, Now);
        if (ev.LocalId is { } lid && ev.SourceAddress is not null)
        {
            _ids.Remember(ev.SourceAddress, lid);
        }

        if (s.Abandoned)
        {
            // Closed by the policy while it was connecting: finish the job now that the kernel knows its port.
            Destroy(s);
            return;
        }

        if (Wants(PolicyEvents.SubflowEstablished)) { _policy.OnSubflowEstablished(this, s); }
    }

    /// <summary>A subflow closed (kernel event, refused create, lost while events were lost): tell the policy, then settle it.</summary>
    private void Closed(Subflow s, CloseReason reason)
    {
        if (SubflowTable.Closed(s, reason) && Wants(PolicyEvents.SubflowClosed))
        {
            _policy.OnSubflowClosed(this, s, reason);
        }

        // A closed subflow has no reopen timer running (only a pending one has): nothing to cancel when it leaves.
        _subflows.Settle(s);
    }

    private void End()
    {
        if (Wants(PolicyEvents.Closed)) { _policy.OnClosed(this); }
        _host.Finished();
    }

    // --- commands and their outcomes -----------------------------------------------------------------------

    private CommandHandle Send(CommandKind kind, int? subflowId, Func<long, PmCommand> command)
    {
        var handle = _pending.Add(kind, subflowId);
        _host.Send(command(handle.Id));
        return handle;
    }

    private void Create(Subflow s)
    {
        SubflowTable.Connecting(s);
        var local = new MptcpAddress(s.Local.Address, s.LocalId, null, s.Backup ? MptcpAddrFlags.Backup : MptcpAddrFlags.None);
        var remote = new MptcpAddress(s.Remote.Address, null, s.Remote.Port);
        s.LastCommand = Send(CommandKind.OpenSubflow, s.Id, id => new CreateSubflow(id, Token, local, remote));
    }

    private CommandHandle Destroy(Subflow s)
    {
        var local = new MptcpAddress(s.Local.Address, null, s.Local.Port);
        var remote = new MptcpAddress(s.Remote.Address, null, s.Remote.Port);
        var handle = Send(CommandKind.CloseSubflow, s.Id, id => new DestroySubflow(id, Token, local, remote));
        s.LastCommand = handle;
        return handle;
    }

    public void OnResult(CommandResult r)
    {
        if (!_pending.TryComplete(r.Command.Correlation, out var handle, out var subflowId))
        {
            return;
        }

        var s = subflowId is { } id ? _subflows.ById(id) : null;
        var errno = (Errno)r.Errno;
        if (!r.Success)
        {
            _host.Log.Debug("connection {Token:x8}: {Command} refused: {Errno} {Message}", Token, r.Command.Name, errno, r.Message);
        }

        if (Wants(PolicyEvents.CommandResult)) { _policy.OnCommandResult(this, new CommandOutcome(handle, errno, r.Message, subflowId)); }
        if (s is not null && r.Success && r.Command is DestroySubflow && s.Abandoned)
        {
            // The kernel closed it inside the command: it holds it no more (its SUB_CLOSED, if one comes, finds nothing).
            _subflows.Forget(s);
            return;
        }

        if (s is null || r.Success && r.Command is not SetBackup)
        {
            return;
        }

        switch (r.Command)
        {
            case CreateSubflow when s.Phase == SubflowPhase.Connecting:
                Closed(s, new CloseReason(errno, null, r.Message));
                break;
            case DestroySubflow when errno == Errno.ESRCH:
                _subflows.Forget(s);
                break;
            case SetBackup b when r.Success:
                s.Backup = b.Backup;
                break;
        }
    }

    // --- timers, samples, local addresses, reconciliation --------------------------------------------------

    public void OnReopenDue(int subflowId)
    {
        if (_subflows.ById(subflowId) is not { Phase: SubflowPhase.Pending } s || s.Abandoned)
        {
            return;
        }

        if (!_locals.Any(a => AddressForm.Same(a.Address, s.Local.Address)))
        {
            _host.Log.Debug("connection {Token:x8}: not re-opening subflow {Subflow}: its local address is gone", Token, s);
            _subflows.Forget(s);
            return;
        }

        Create(s);
    }

    public void OnPolicyTimer(string key)
    {
        if (Wants(PolicyEvents.Timer)) { _policy.OnTimer(this, key); }
    }

    public void OnSamples(IReadOnlyList<SubflowDiag> subflows, DateTimeOffset at)
    {
        List<(Subflow, TimeSpan)>? grew = null;
        foreach (var diag in subflows)
        {
            if (_subflows.FindByPorts(diag.Id.Source, diag.Id.SourcePort, diag.Id.DestinationPort) is not { } s)
            {
                continue;
            }

            var sample = SubflowSamples.From(diag.Info, at);
            if (s.Phase == SubflowPhase.Established && SubflowSamples.RtoGrew(s.LastSample, sample))
            {
                (grew ??= []).Add((s, sample.Rto));
            }

            s.LastSample = sample;
        }

        if (Wants(PolicyEvents.Sample)) { _policy.OnSample(this); }
        if (grew is not null && Wants(PolicyEvents.SubflowTimeout))
        {
            foreach (var (s, rto) in grew)
            {
                if (s.Phase == SubflowPhase.Established)
                {
                    _policy.OnSubflowTimeout(this, s, rto);
                }
            }
        }
    }

    public void OnLocalAddresses(ImmutableList<LocalAddress> all)
    {
        var before = _locals;
        _locals = all;
        foreach (var gone in before.Where(o => !all.Any(n => n.Address.Equals(o.Address))))
        {
            if (Wants(PolicyEvents.LocalAddressRemoved)) { _policy.OnLocalAddressRemoved(this, gone); }

            // Whatever the policy did, nothing waits to re-open from an address that is gone.
            foreach (var s in _subflows.WaitingOn(gone.Address))
            {
                _host.Log.Debug("connection {Token:x8}: subflow {Subflow} abandoned: local address {Address} went away", Token, s, gone);
                var pending = s.Phase == SubflowPhase.Pending;
                s.Abandoned = true;
                _subflows.Forget(s);
                if (pending)
                {
                    _host.CancelReopenTimer(s.Id);
                }
            }
        }

        if (!Established)
        {
            return;
        }

        foreach (var added in all.Where(n => !before.Any(o => o.Address.Equals(n.Address))))
        {
            if (Wants(PolicyEvents.LocalAddressAdded)) { _policy.OnLocalAddressAdded(this, added); }
        }
    }

    /// <summary>
    /// The kernel's view after events were lost (or when asked for): null when the connection is gone. The kernel is the
    /// truth: a subflow it does not have is closed, one it has up is up, one it has and we never heard of is adopted as
    /// established. Only what existed before <paramref name="judgedBefore"/> (when the dump was asked for) can be found
    /// missing. Returns how many things changed (0: we agreed already).
    /// </summary>
    public int OnResync(ConnectionDiag? connection, IReadOnlyList<SubflowDiag> subflows, long judgedBefore = long.MaxValue)
    {
        if (connection is null)
        {
            End();
            return 1;
        }

        var plan = Reconciliation.Subflows(_subflows.All, subflows, judgedBefore);
        var lostEstablished = Reconciliation.EstablishedUnseen(Established, connection);
        if (plan.Changes == 0 && !lostEstablished)
        {
            return 0;
        }

        _host.Log.Debug("connection {Token:x8} reconciled: {Vanished} vanished, {Promoted} up unseen, {Learned} ports learned, {Unknown} adopted",
            Token, plan.Vanished.Count, plan.Promoted.Count, plan.PortsLearned.Count, plan.Unknown.Count);
        foreach (var s in plan.Vanished)
        {
            Closed(s, CloseReason.None);
        }

        foreach (var (s, row) in plan.PortsLearned)
        {
            SubflowTable.PortLearned(s, row.Id.SourcePort);
            if (s.Abandoned)
            {
                Destroy(s); // given up on while connecting: now that its port is known it can go
            }
        }

        foreach (var (s, row) in plan.Promoted)
        {
            SubflowTable.Established(s, Intern(new Endpoint(row.Id.Source, row.Id.SourcePort)), Intern(new Endpoint(row.Id.Destination, row.Id.DestinationPort)),
                row.LocalId, row.RemoteId, row.BackupLocal, Now);
            _ids.Remember(row.Id.Source, row.LocalId);
            if (s.Abandoned)
            {
                Destroy(s);
            }
            else if (Wants(PolicyEvents.SubflowEstablished))
            {
                _policy.OnSubflowEstablished(this, s);
            }
        }

        foreach (var d in plan.Unknown)
        {
            var s = _subflows.Add(Intern(new Endpoint(d.Id.Source, d.Id.SourcePort)), Intern(new Endpoint(d.Id.Destination, d.Id.DestinationPort)), d.LocalId, d.BackupLocal, SubflowPhase.Established);
            s.EstablishedAt = Now;
            s.RemoteId = d.RemoteId;
            _ids.Remember(d.Id.Source, d.LocalId);
            if (Wants(PolicyEvents.SubflowEstablished)) { _policy.OnSubflowEstablished(this, s); }
        }

        // Its ESTABLISHED event was among those lost: the policy is told now, as the event would have told it (last,
        // so that it acts on subflows that agree with the kernel).
        if (lostEstablished)
        {
            _host.Log.Debug("connection {Token:x8} reconciled: established unseen", Token);
            BecomeEstablished();
        }

        return plan.Changes + (lostEstablished ? 1 : 0);
    }

    // --- the application API --------------------------------------------------------------------------------

    /// <summary>
    /// An application asked for another policy: the old instance's timers are cancelled, the new instance takes
    /// over the connection's state as it is (subflows, addresses, ids) and, if the connection is established, is
    /// told so, to act on the subflows there are. The subflows the old policy opened stay; the new one decides.
    /// </summary>
    public void ReplacePolicy(PolicyChoice choice)
    {
        foreach (var key in _policyTimers ?? [])
        {
            _host.CancelPolicyTimer(key);
        }

        _policyTimers = null;
        var old = _choice.Name;
        _choice = choice;
        _policy = choice.Create();
        ((IConnectionContext)this).Log("policy", $"{old} replaced by {choice.Name} ({choice.Rule})");
        if (Established && Wants(PolicyEvents.Established))
        {
            _policy.OnEstablished(this);
        }
    }

    /// <summary>An application's block notice, for the policy (null: the policy has no use for it).</summary>
    public string? OnBlock(long bytes, TimeSpan within)
    {
        // One reading of the clock for the whole call: the deadline and the policy's "now" agree exactly.
        var now = _host.Now;
        _frozenNow = now;
        string? used;
        try
        {
            used = _policy.OnBlock(this, bytes, now + within);
        }
        finally
        {
            _frozenNow = null;
        }

        if (used is null)
        {
            ((IConnectionContext)this).Log("block", $"{bytes} bytes due in {within.TotalMilliseconds:0} ms: recorded only, policy {_choice.Name} does not use block notices");
        }

        return used;
    }

    /// <summary>Whether <paramref name="local"/> → <paramref name="remote"/> is this connection's initial pair or one of its subflows.</summary>
    public bool Matches(Endpoint local, Endpoint remote)
    {
        if (_info is not null && Same(_info.Local, local) && Same(_info.Remote, remote))
        {
            return true;
        }

        foreach (var s in _subflows.All)
        {
            if (Same(s.Local, local) && Same(s.Remote, remote))
            {
                return true;
            }
        }

        return false;

        static bool Same(Endpoint a, Endpoint b) => a.Port == b.Port && AddressForm.Same(a.Address, b.Address);
    }

    // --- the policy's context ------------------------------------------------------------------------------

    ConnectionInfo IConnectionContext.Connection => _info;

    IReadOnlyCollection<Subflow> IConnectionContext.Subflows => _subflows.All;

    IReadOnlyCollection<LocalAddress> IConnectionContext.LocalAddresses => _locals;

    IReadOnlyCollection<RemoteAddress> IConnectionContext.RemoteAddresses => _remotes;

    public DateTimeOffset Now => _frozenNow ?? _host.Now;

    Subflow IConnectionContext.OpenSubflow(LocalAddress local, Endpoint remote, bool backup)
    {
        var s = _subflows.Add(new Endpoint(Intern(local.Address), 0), Intern(remote), _ids.IdFor(local.Address), backup, SubflowPhase.Connecting);
        s.OpenedByUs = true;
        Create(s);
        return s;
    }

    void IConnectionContext.Reopen(Subflow subflow, TimeSpan delay)
    {
        if (_subflows.Reopen(subflow))
        {
            _host.StartReopenTimer(subflow.Id, delay);
        }
    }

    CommandHandle? IConnectionContext.CloseSubflow(Subflow subflow)
    {
        var pending = subflow.Phase == SubflowPhase.Pending;
        switch (_subflows.Abandon(subflow))
        {
            case AbandonAction.Destroy:
                return Destroy(subflow);
            case AbandonAction.DestroyWhenEstablished:
                // Its port is unknown until the kernel reports it up, which may be never (a SYN from an address that
                // went away): ask the kernel for it, so that it can be destroyed now.
                _host.RequestCheck();
                return null;
            case AbandonAction.Forgotten:
                if (pending)
                {
                    _host.CancelReopenTimer(subflow.Id);
                }

                return null;
            default:
                return null;
        }
    }

    CommandHandle? IConnectionContext.SetBackup(Subflow subflow, bool backup)
    {
        if (subflow.Phase != SubflowPhase.Established)
        {
            subflow.Backup = backup;
            return null;
        }

        var local = new MptcpAddress(subflow.Local.Address, null, subflow.Local.Port);
        var remote = new MptcpAddress(subflow.Remote.Address, null, subflow.Remote.Port);
        var handle = Send(CommandKind.SetBackup, subflow.Id, id => new SetBackup(id, Token, local, remote, backup));
        subflow.LastCommand = handle;
        return handle;
    }

    CommandHandle IConnectionContext.Announce(LocalAddress address, ushort? port)
    {
        var local = new MptcpAddress(address.Address, _ids.IdFor(address.Address, port ?? 0), port);
        return Send(CommandKind.Announce, null, id => new Announce(id, Token, local));
    }

    CommandHandle? IConnectionContext.Withdraw(LocalAddress address, ushort? port)
    {
        if (_ids.Known(address.Address, port ?? 0) is not { } localId || localId == 0)
        {
            return null;
        }

        return Send(CommandKind.Withdraw, null, id => new Remove(id, Token, localId, address.Address, port));
    }

    void IConnectionContext.StartTimer(string key, TimeSpan delay, bool repeat)
    {
        (_policyTimers ??= []).Add(key);
        _host.StartPolicyTimer(key, delay, repeat);
    }

    void IConnectionContext.CancelTimer(string key)
    {
        _policyTimers?.Remove(key);
        _host.CancelPolicyTimer(key);
    }

    void IConnectionContext.Log(string decision, string reason)
    {
        (_decisions ??= new()).Add(Now, decision, reason);
        if (_host.DecisionsAtInfo)
        {
            _host.Log.Info("connection {Token:x8} [{Policy}] {Decision}: {Reason}", Token, _choice.Name, decision, reason);
        }
        else
        {
            _host.Log.Debug("connection {Token:x8} [{Policy}] {Decision}: {Reason}", Token, _choice.Name, decision, reason);
        }
    }

    // --- helpers -------------------------------------------------------------------------------------------

    /// <summary>The id this connection gave a local address (tests and state).</summary>
    internal byte? KnownLocalId(IPAddress address, ushort port = 0) => _ids.Known(address, port);

    internal int PendingCommandCount => _pending.Count;

    public ConnectionProtocol.ConnectionState State(int restarts) => new(
        Token, _info?.Side ?? Side, _info?.Local.ToString() ?? "", _info?.Remote.ToString() ?? "", _choice.Name, _choice.Rule,
        _info?.TakenOver ?? false, Established,
        _subflows.All.OrderBy(s => s.Id).Select(s => new ConnectionProtocol.SubflowState(s.Id, s.Local.ToString(), s.Remote.ToString(), s.Backup, s.Phase, s.LocalId, s.Initial, s.Failures, s.EstablishedAt, s.LastSample)).ToList(),
        restarts);

    /// <summary>A copy of what `smapp status` shows (taken on the thread that owns the core).</summary>
    public StatusProtocol.ConnectionStatus Status(bool rebuilding)
    {
        var subflows = new StatusProtocol.SubflowStatus[_subflows.Count];
        var i = 0;
        foreach (var s in _subflows.All)
        {
            subflows[i++] = new(s.Id, s.Local, s.Remote, s.Phase, s.Backup, s.Initial, s.OpenedByUs, s.Failures, s.EstablishedAt, s.LastClose?.ToString());
        }

        Array.Sort(subflows, (a, b) => a.Id.CompareTo(b.Id));
        return new(Token, _info?.Side ?? Side, _info?.Local, _info?.Remote, _choice.Name, _choice.Rule, _info?.TakenOver ?? false, Established, rebuilding,
            subflows, _decisions?.ToArray() ?? []);
    }

    private Endpoint Intern(Endpoint e) => e with { Address = Intern(e.Address) };

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

    private static Endpoint EndpointOf(IPAddress? a, ushort? port) => new(a ?? IPAddress.Any, port ?? 0);
}
