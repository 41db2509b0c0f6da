using Akka.Actor;
using Akka.Event;
using Smapp.Actors.Configuration;
using Smapp.Actors.EventLoop;
using Smapp.Netlink;
using Smapp.Netlink.Generic;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Route;
using Smapp.Netlink.Wire;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Actors.Gateway;

/// <summary>
/// The only owner of the kernel sockets: the mptcp_pm event group, a command socket (its <see cref="CommandChannel"/>),
/// rtnetlink, and (through a worker thread) sock_diag. It runs on the netlink event loop, whose thread lives in the
/// managed namespace: when a socket is readable, the loop tells the gateway, which drains it, decodes, and hands each
/// event to its subscribers — a subscriber on the same loop by a direct call, others by message. Commands are written
/// at once and each kernel answer goes back to its asker. A malformed message is counted and logged, never thrown.
/// </summary>
public sealed class NetlinkGateway : ReceiveActor, IWithTimers, INetlinkSink<MptcpEvent>, INetlinkSink<LocalChange>
{
    private const string SweepTimer = "sweep";
    private const int DrainBudget = 512;

    private readonly GatewaySettings _settings;
    private readonly NetworkNamespace _ns;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly List<IActorRef> _eventSubscribers = [];
    private readonly List<IDirectEvents> _directSubscribers = [];
    private readonly List<IActorRef> _localSubscribers = [];
    private readonly AnnounceListeners _listeners = new();
    private readonly IActorRef _self;
    private NetlinkEventLoop _loop = null!;
    private MptcpEventSubscription _events = null!;
    private NetlinkSocket _commandSocket = null!;
    private CommandChannel _commands = null!;
    private RtnetlinkSubscription _rtnl = null!;
    private GenlFamily _family = null!;
    private DiagWorker _diag = null!;
    private long _eventsDelivered;
    private long _decodeErrors;
    private readonly GatewayCounters _counters;
    private bool _routeLost;
    private bool _eventsDown;
    private bool _routeDown;
    private int _reopenAttempts;
    private long _pastOverruns;

    /// <summary>Names of the sockets that can fail and be re-opened.</summary>
    public const string EventsSocket = "mptcp_pm_events";

    public const string RouteSocket = "rtnetlink";

    public const string CommandsSocket = "commands";

    private bool _commandsDown;

    /// <summary>
    /// Test hook: fail a subscription socket as a receive error would (the kernel cannot be made to fail one on
    /// demand): it is closed, and the recovery path runs — re-opened, re-subscribed, and its state dumped again.
    /// </summary>
    internal sealed record FailSocket(string Which);

    private sealed record ReopenSocket(string Which);
    private ForeignSenders _foreign = null!;

    /// <summary>The loop says the rtnetlink socket is readable (the events and command sockets are drained directly).</summary>
    private sealed record RouteReadable
    {
        public static readonly RouteReadable Instance = new();
    }

    private sealed record Sweep
    {
        public static readonly Sweep Instance = new();
    }

    private sealed record StartSweep
    {
        public static readonly StartSweep Instance = new();
    }

    private bool _sweeping;

    /// <summary>
    /// The one-second sweep (command timeouts, the forged-datagram report) runs only while there is something for it:
    /// a command waiting for its answer, a sock_diag dump under way, or dropped datagrams not yet reported. Started by a message, so that a call
    /// from outside the gateway's receive (a direct drain, a connection's command) never touches its timers.
    /// </summary>
    private void EnsureSweep()
    {
        if (!_sweeping)
        {
            _sweeping = true;
            _self.Tell(StartSweep.Instance, _self);
        }
    }

    /// <summary>A failure found before the command reached the kernel, answered after the asking call returned.</summary>
    private sealed record Refused(ICommandReplies ReplyTo, CommandResult Result);

    public NetlinkGateway(GatewaySettings settings, NetworkNamespace ns, GatewayCounters? counters = null)
    {
        _counters = counters ?? new GatewayCounters();
        _settings = settings;
        _ns = ns;
        _self = Self;
        Receive<RouteReadable>(_ => DrainRoute());
        Receive<SocketError>(f => SocketFailed(f.Which, f.Error));
        Receive<DrainFailed>(f => System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(f.Error));
        Receive<PmCommand>(c => SendCommand(c, new ActorReplies(Sender)));
        Receive<Refused>(r => r.ReplyTo.OnResult(r.Result));
        Receive<SubscribeEvents>(HandleSubscribeEvents);
        Receive<SubscribeLocalChanges>(s =>
        {
            _localSubscribers.Add(s.Subscriber);
            Context.Watch(s.Subscriber);
            s.Subscriber.Tell(DumpLocal());
        });
        Receive<DumpSubflows>(d =>
        {
            _diag.Enqueue(d, Sender);
            EnsureSweep(); // what the dump worker's socket drops meanwhile is reported by the sweep
        });
        Receive<DumpConnections>(d =>
        {
            if (d.Purpose == DumpPurpose.Resync)
            {
                _counters.Resync();
            }

            _diag.Enqueue(d, Sender);
            EnsureSweep();
        });
        Receive<StartSweep>(_ => Timers.StartPeriodicTimer(SweepTimer, Sweep.Instance, TimeSpan.FromSeconds(1)));
        Receive<Sweep>(_ =>
        {
            _commands.Sweep();
            _foreign.Check(DateTime.UtcNow);
            if (_commands.PendingCount == 0 && _foreign.Settled)
            {
                // Nothing to time out and nothing to report: an idle daemon does not wake every second for this.
                Timers.Cancel(SweepTimer);
                _sweeping = false;
            }
        });
        Receive<GetForeignDrops>(_ => Sender.Tell(new ForeignDrops(_foreign.Counts, new Dictionary<string, uint>
        {
            ["mptcp_pm events"] = _eventsDown ? 0 : _events.Socket.PortId, ["commands"] = _commandSocket.PortId, ["rtnetlink"] = _routeDown ? 0 : _rtnl.Socket.PortId,
            ["sock_diag"] = _diag.Socket?.PortId ?? 0,
        })));
        Receive<FailSocket>(f => SocketFailed(f.Which, new NetlinkException(Errno.EIO, null, "injected failure")));
        Receive<ReopenSocket>(r => Reopen(r.Which));
        Receive<GetStats>(_ => Sender.Tell(new Stats(_eventsDelivered, _decodeErrors + _commands.DecodeErrors + _diag.DecodeErrors, _pastOverruns + _events.Stats.Overruns + _rtnl.Stats.Overruns,
            _commands.Sent, _commands.Failed, _commands.TimedOut, _commands.PendingCount, _loop.Iterations, Interlocked.Read(ref _loop.Wakeups), _eventsDown ? 0 : _events.Socket.ReceiveBufferSize)));
        Receive<Terminated>(t =>
        {
            _eventSubscribers.Remove(t.ActorRef);
            _localSubscribers.Remove(t.ActorRef);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(GatewaySettings settings, NetworkNamespace ns, string dispatcher, GatewayCounters? counters = null) =>
        Akka.Actor.Props.Create(() => new NetlinkGateway(settings, ns, counters)).WithDispatcher(dispatcher);

    protected override void PreStart()
    {
        _loop = (Context.Dispatcher.Configurator as EventLoopDispatcherConfigurator)?.Loop
            ?? throw new InvalidOperationException("NetlinkGateway must run on the netlink event-loop dispatcher");
        if (_loop.Namespace.Name != _ns.Name)
        {
            throw new InvalidOperationException($"the event loop lives in {_loop.Namespace}, the gateway serves {_ns}: start the loop in the managed namespace");
        }

        // On the loop thread, which entered the managed namespace when it started: every socket made here is there.
        _events = MptcpEventSubscription.Open(nonBlocking: false, receiveBuffer: _settings.ReceiveBuffer);
        _commandSocket = NetlinkSocket.Open(Smapp.Netlink.NetlinkProtocol.Generic);

        // One ACK per command: under churn (thousands of commands a second) the default 208 KiB queue overflows and
        // the kernel drops ACKs, which then time out. The same size as the event socket's.
        _commandSocket.SetReceiveBuffer(_settings.ReceiveBuffer);
        _family = GenericNetlink.Resolve(_commandSocket, MptcpPmNames.Family);
        _commands = new CommandChannel(_commandSocket, _family.Id, _settings.CommandTimeout, _listeners) { Counters = _counters };
        _rtnl = RtnetlinkSubscription.Open(nonBlocking: false);
        _diag = new DiagWorker(_ns) { Counters = _counters };
        _foreign = new ForeignSenders(_log, ("mptcp_pm events", () => _events?.Socket), ("commands", () => _commandSocket), ("rtnetlink", () => _rtnl?.Socket), ("sock_diag", () => _diag?.Socket));
        var self = Self;
        _loop.AddSource(_events.Socket.Fd, Direct(DrainEvents));
        _loop.AddSource(_commandSocket.Fd, Direct(DrainCommands));
        _loop.AddSource(_rtnl.Socket.Fd, () => self.Tell(RouteReadable.Instance));
        EnsureSweep();
        _log.Info("netlink gateway up in {Namespace}: mptcp_pm family {Family}, events receive buffer {Buffer} KiB; port ids: {PortIds}; event loop {Scheduling}",
            _ns, _family.Id, _events.Socket.ReceiveBufferSize / 1024,
            $"events {_events.Socket.PortId}, commands {_commandSocket.PortId}, rtnetlink {_rtnl.Socket.PortId}, sock_diag {_diag.Socket?.PortId ?? 0}", _loop.Scheduling);
        if (_loop.SchedulingRefused)
        {
            _log.Warning("event loop: {Scheduling}; kernel events wait for the CPU like any task (smapp.gateway.realtime-priority = 0 silences this)", _loop.Scheduling);
        }
    }

    protected override void PostStop()
    {
        if (_loop is not null && _loop.IsLoopThread)
        {
            if (!_eventsDown && _events is not null)
            {
                _loop.RemoveSource(_events.Socket.Fd);
            }

            if (!_commandsDown && _commandSocket is not null)
            {
                _loop.RemoveSource(_commandSocket.Fd);
            }

            if (!_routeDown && _rtnl is not null)
            {
                _loop.RemoveSource(_rtnl.Socket.Fd);
            }
        }

        _foreign?.Summarise();
        _listeners.Dispose();
        _diag?.Dispose();
        _events?.Dispose();
        _commandSocket?.Dispose();
        _rtnl?.Dispose();
    }

    private void HandleSubscribeEvents(SubscribeEvents s)
    {
        _eventSubscribers.Add(s.Subscriber);
        Context.Watch(s.Subscriber);
        if (s.Direct is not null)
        {
            // Only a subscriber on this loop may be called directly, and it may then write commands directly too.
            _directSubscribers.Add(s.Direct);
            s.Subscriber.Tell(new EventsSubscribed(new DirectCommands(this)));
        }
    }

    // --- events --------------------------------------------------------------------------------------------

    private void DrainEvents()
    {
        if (_eventsDown)
        {
            return;
        }

        try
        {
            for (var i = 0; i < DrainBudget && _events.ReceiveOnce(this, block: false) is var status and (ReceiveStatus.Datagram or ReceiveStatus.Overrun or ReceiveStatus.ForeignSender or ReceiveStatus.Interrupted or ReceiveStatus.Truncated); i++)
            {
                if (status == ReceiveStatus.ForeignSender)
                {
                    _counters.Forged();
                    EnsureSweep();
                }
            }
        }
        catch (NetlinkException e)
        {
            Failed(EventsSocket, e);
            return;
        }

        _loop.Rearm(_events.Socket.Fd);
    }

    // --- a socket that fails ----------------------------------------------------------------------------------

    /// <summary>The wait before re-opening attempt <paramref name="attempt"/> (0 is the first): at once, then doubling from 100 ms, at most 5 s.</summary>
    public static TimeSpan ReopenDelay(int attempt) =>
        attempt == 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Min(5000, 100 * (1 << Math.Min(attempt - 1, 10))));

    /// <summary>A subscription socket failed (a receive error other than ENOBUFS): it is closed and re-opened.</summary>
    /// <summary>
    /// The loop's callback for a readable events or command socket: the drain runs at once on the loop thread, not
    /// through the gateway's mailbox — one hop less between a kernel event and the command it causes. The loop calls it
    /// between mailbox runs on the same thread, so nothing else touches the gateway meanwhile; what needs the actor's
    /// context (a socket failure's timers, an unexpected exception and its supervision) is handed to the actor as a
    /// message and handled in its receive, as before.
    /// </summary>
    private Action Direct(Action drain) => () =>
    {
        _outsideReceive = true;
        try
        {
            drain();
        }
        catch (Exception e)
        {
            _self.Tell(new DrainFailed(e));
        }
        finally
        {
            _outsideReceive = false;
        }
    };

    private bool _outsideReceive;

    /// <summary>An exception out of a direct drain, rethrown in the gateway's receive so that its supervisor sees it.</summary>
    private sealed record DrainFailed(Exception Error);

    private sealed record SocketError(string Which, Exception Error);

    private void Failed(string which, Exception e)
    {
        if (_outsideReceive)
        {
            _self.Tell(new SocketError(which, e));
        }
        else
        {
            SocketFailed(which, e);
        }
    }

    private void SocketFailed(string which, Exception e)
    {
        _log.Error("the {Socket} socket failed ({Error}): re-opening it", which, e.Message);
        switch (which)
        {
            case EventsSocket when !_eventsDown:
                _eventsDown = true;
                _pastOverruns += _events.Stats.Overruns;
                _loop.RemoveSource(_events.Socket.Fd);
                _events.Dispose();
                break;
            case RouteSocket when !_routeDown:
                _routeDown = true;
                _pastOverruns += _rtnl.Stats.Overruns;
                _loop.RemoveSource(_rtnl.Socket.Fd);
                _rtnl.Dispose();
                break;
            case CommandsSocket when !_commandsDown:
                _commandsDown = true;
                _loop.RemoveSource(_commandSocket.Fd);
                var failed = _commands.FailAll(Errno.EIO, "the command socket failed before the kernel answered: it is being re-opened");
                _log.Warning("{Count} command(s) waiting for the kernel's answer were failed with EIO", failed);
                _commandSocket.Dispose();
                break;
            default:
                return;
        }

        Timers.StartSingleTimer("reopen-" + which, new ReopenSocket(which), ReopenDelay(_reopenAttempts));
    }

    /// <summary>Re-opens a failed socket, joins its groups again, and has its state dumped again: what happened meanwhile was not heard.</summary>
    private void Reopen(string which)
    {
        var self = Self;
        try
        {
            switch (which)
            {
                case EventsSocket when _eventsDown:
                    _events = MptcpEventSubscription.Open(nonBlocking: false, receiveBuffer: _settings.ReceiveBuffer);
                    _eventsDown = false;
                    _loop.AddSource(_events.Socket.Fd, Direct(DrainEvents));
                    break;
                case CommandsSocket when _commandsDown:
                    var socket = NetlinkSocket.Open(Smapp.Netlink.NetlinkProtocol.Generic);
                    try
                    {
                        socket.SetReceiveBuffer(_settings.ReceiveBuffer);
                        _family = GenericNetlink.Resolve(socket, MptcpPmNames.Family);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }

                    // The counts so far carry over (Sent, Failed, TimedOut are the gateway's, not one socket's).
                    var old = _commands;
                    _commandSocket = socket;
                    _commands = new CommandChannel(_commandSocket, _family.Id, _settings.CommandTimeout, _listeners) { Counters = _counters, Carried = old };
                    _commandsDown = false;
                    _loop.AddSource(_commandSocket.Fd, Direct(DrainCommands));
                    break;
                case RouteSocket when _routeDown:
                    _rtnl = RtnetlinkSubscription.Open(nonBlocking: false);
                    _routeDown = false;
                    _loop.AddSource(_rtnl.Socket.Fd, () => self.Tell(RouteReadable.Instance));
                    break;
                default:
                    return;
            }
        }
        catch (NetlinkException e)
        {
            _reopenAttempts++;
            var delay = ReopenDelay(_reopenAttempts);
            _log.Error("re-opening the {Socket} socket failed ({Error}); again in {Delay} ms", which, e.Message, delay.TotalMilliseconds);
            Timers.StartSingleTimer("reopen-" + which, new ReopenSocket(which), delay);
            return;
        }

        _reopenAttempts = 0;
        _log.Warning("the {Socket} socket is open and subscribed again; what happened meanwhile is dumped again", which);
        if (which is EventsSocket or CommandsSocket)
        {
            TellEventsLost(EventsSocket);
        }
        else
        {
            SendLocalSnapshot();
        }
    }

    void INetlinkSink<MptcpEvent>.OnItem(MptcpEvent item, ReadOnlySpan<byte> raw)
    {
        _eventsDelivered++;
        _counters.Event(item.Type);
        _counters.EventStarts();
        foreach (var d in _directSubscribers)
        {
            d.OnEvent(item);
        }

        _counters.EventEnds();

        foreach (var s in _eventSubscribers)
        {
            if (!IsDirect(s))
            {
                s.Tell(item);
            }
        }
    }

    private bool IsDirect(IActorRef subscriber)
    {
        foreach (var d in _directSubscribers)
        {
            if (d.Subscriber.Equals(subscriber))
            {
                return true;
            }
        }

        return false;
    }

    private void DrainRoute()
    {
        if (_routeDown)
        {
            return;
        }

        var status = ReceiveStatus.Datagram;
        try
        {
            for (var i = 0; i < DrainBudget && (status = _rtnl.ReceiveOnce(this, block: false)) is ReceiveStatus.Datagram or ReceiveStatus.Overrun or ReceiveStatus.ForeignSender or ReceiveStatus.Interrupted or ReceiveStatus.Truncated; i++)
            {
                if (status == ReceiveStatus.ForeignSender)
                {
                    EnsureSweep();
                }
            }
        }
        catch (NetlinkException e)
        {
            SocketFailed(RouteSocket, e);
            return;
        }

        if (_routeLost && status == ReceiveStatus.WouldBlock)
        {
            // The kernel reports ENOBUFS before the messages still queued, which are older than a dump made then: the
            // table is dumped once the queue is empty, so that the snapshot comes after every stale change.
            _routeLost = false;
            SendLocalSnapshot();
        }

        _loop.Rearm(_rtnl.Socket.Fd);
    }

    void INetlinkSink<LocalChange>.OnItem(LocalChange item, ReadOnlySpan<byte> raw)
    {
        foreach (var s in _localSubscribers)
        {
            s.Tell(item);
        }
    }

    void INetlinkSink<MptcpEvent>.OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram) => DecodeFailed("mptcp_pm", error, datagram);

    void INetlinkSink<LocalChange>.OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram) => DecodeFailed("rtnetlink", error, datagram);

    void INetlinkSink<MptcpEvent>.OnLost()
    {
        _counters.Dropped();
        _log.Warning("ENOBUFS on mptcp_pm_events: the kernel dropped events; subscribers rebuild their state from sock_diag");
        TellEventsLost(EventsSocket);
    }

    private void TellEventsLost(string source)
    {
        var lost = new EventsLost(source);
        foreach (var d in _directSubscribers)
        {
            d.OnEventsLost(lost.Source);
        }

        foreach (var s in _eventSubscribers)
        {
            if (!IsDirect(s))
            {
                s.Tell(lost);
            }
        }
    }

    void INetlinkSink<LocalChange>.OnLost()
    {
        _log.Warning("ENOBUFS on rtnetlink: address and link changes were lost; dumping them again once the queue is drained");
        _routeLost = true;
    }

    private void SendLocalSnapshot()
    {
        var snapshot = DumpLocal();
        foreach (var s in _localSubscribers)
        {
            s.Tell(new EventsLost("rtnetlink"));
            s.Tell(snapshot);
        }
    }

    /// <summary>Every address and link now (a small dump on the loop thread, which lives in the namespace).</summary>
    private LocalSnapshot DumpLocal()
    {
        using var dump = NetlinkSocket.Open(Smapp.Netlink.NetlinkProtocol.Route);
        var snapshot = new LocalSnapshot(RtnetlinkDump.Addresses(dump, out var addressErrors), RtnetlinkDump.Links(dump, out var linkErrors));
        if (addressErrors + linkErrors > 0)
        {
            _decodeErrors += addressErrors + linkErrors;
            _log.Warning("rtnetlink dump: {Count} undecodable messages skipped", addressErrors + linkErrors);
        }

        return snapshot;
    }

    private void DecodeFailed(string source, DecodeError error, ReadOnlySpan<byte> datagram)
    {
        _decodeErrors++;
        _counters.Malformed();
        if (_decodeErrors <= 20 || _decodeErrors % 1000 == 0)
        {
            _log.Warning("undecodable {Source} message #{Count} ({Error}); datagram {Hex}", source, _decodeErrors, error.ToString(),
                Convert.ToHexString(datagram[..Math.Min(datagram.Length, 512)]));
        }
    }

    // --- commands ------------------------------------------------------------------------------------------

    private void SendCommand(PmCommand command, ICommandReplies replyTo)
    {
        if (_commandsDown)
        {
            _self.Tell(new Refused(replyTo, new CommandResult(command, Errno.ENOTCONN, "the command socket failed and is being re-opened")), _self);
            return;
        }

        if (_commands.Send(command, replyTo) is { } refused)
        {
            // Explicitly our own ref: a direct sender calls this from other actors' turns, where Self is theirs.
            _self.Tell(new Refused(replyTo, refused), _self);
        }
        else
        {
            _counters.CommandWritten();
            EnsureSweep();
        }
    }

    private void DrainCommands()
    {
        if (_commandsDown)
        {
            return;
        }

        try
        {
            var foreign = _commandSocket.ForeignDatagrams;
            _commands.Drain((source, error, datagram) => DecodeFailed(source, error, datagram));
            if (_commandSocket.ForeignDatagrams != foreign)
            {
                EnsureSweep();
            }
        }
        catch (NetlinkException e)
        {
            Failed(CommandsSocket, e);
            return;
        }

        _loop.Rearm(_commandSocket.Fd);
    }

    /// <summary>The gateway's command channel, for a subscriber on the same event loop.</summary>
    private sealed class DirectCommands(NetlinkGateway gateway) : IDirectCommands
    {
        public void Send(PmCommand command, ICommandReplies replyTo)
        {
            if (!gateway._loop.IsLoopThread)
            {
                throw new InvalidOperationException("direct commands are written from the event loop's thread only");
            }

            gateway.SendCommand(command, replyTo);
        }
    }
}
