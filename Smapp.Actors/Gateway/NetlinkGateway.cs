using System.Net;
using System.Net.Sockets;
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
/// The only owner of the kernel sockets: the mptcp_pm event group, a command socket, rtnetlink, and (through a
/// worker thread) sock_diag. It runs on the netlink event loop: when a socket is readable, the loop tells the
/// gateway, which drains it, decodes, and routes each event to its subscribers — all on the loop thread. Commands
/// are sent at once; each kernel answer is matched by sequence number and returned as a <see cref="CommandResult"/>.
/// A malformed message is counted and logged, never thrown.
/// </summary>
public sealed class NetlinkGateway : ReceiveActor, IWithTimers, INetlinkSink<MptcpEvent>, INetlinkSink<LocalChange>
{
    private const string SweepTimer = "sweep";
    private const int DrainBudget = 512;

    private readonly GatewaySettings _settings;
    private readonly NetworkNamespace _ns;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NetlinkWriter _writer = new(256);
    private readonly Dictionary<uint, Pending> _pending = [];
    private readonly List<IActorRef> _eventSubscribers = [];
    private readonly List<IActorRef> _localSubscribers = [];
    private readonly Dictionary<(IPAddress, ushort), Socket> _listeners = [];
    private readonly Dictionary<int, RtLink> _links = [];
    private readonly Dictionary<(int, IPAddress), RtAddress> _addresses = [];
    private NetlinkEventLoop _loop = null!;
    private MptcpEventSubscription _events = null!;
    private NetlinkSocket _commands = null!;
    private RtnetlinkSubscription _rtnl = null!;
    private GenlFamily _family = null!;
    private DiagWorker _diag = null!;
    private long _eventsDelivered;
    private long _commandsSent;
    private long _commandsFailed;
    private long _commandsTimedOut;
    private long _decodeErrors;

    private sealed record Pending(IActorRef ReplyTo, PmCommand Command, DateTime Deadline, Socket? Listener);

    private sealed record Readable(int Which)
    {
        public static readonly Readable Events = new(0);
        public static readonly Readable Commands = new(1);
        public static readonly Readable Route = new(2);
    }

    private sealed record Sweep
    {
        public static readonly Sweep Instance = new();
    }

    public NetlinkGateway(GatewaySettings settings, NetworkNamespace ns)
    {
        _settings = settings;
        _ns = ns;
        Receive<Readable>(HandleReadable);
        Receive<PmCommand>(HandleCommand);
        Receive<SubscribeEvents>(s =>
        {
            _eventSubscribers.Add(s.Subscriber);
            Context.Watch(s.Subscriber);
        });
        Receive<SubscribeLocalChanges>(s =>
        {
            _localSubscribers.Add(s.Subscriber);
            Context.Watch(s.Subscriber);
            s.Subscriber.Tell(new LocalSnapshot(_addresses.Values.ToList(), _links.Values.ToList()));
        });
        Receive<DumpSubflows>(d => _diag.Enqueue(d, Sender));
        Receive<DumpConnections>(d => _diag.Enqueue(d, Sender));
        Receive<Sweep>(_ => HandleSweep());
        Receive<GetStats>(_ => Sender.Tell(new Stats(_eventsDelivered, _decodeErrors + _diag.DecodeErrors, _events.Stats.Overruns + _rtnl.Stats.Overruns,
            _commandsSent, _commandsFailed, _commandsTimedOut, _pending.Count, _loop.Iterations, Interlocked.Read(ref _loop.Wakeups), _events.Socket.ReceiveBufferSize)));
        Receive<Terminated>(t =>
        {
            _eventSubscribers.Remove(t.ActorRef);
            _localSubscribers.Remove(t.ActorRef);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(GatewaySettings settings, NetworkNamespace ns, string dispatcher) =>
        Akka.Actor.Props.Create(() => new NetlinkGateway(settings, ns)).WithDispatcher(dispatcher);

    protected override void PreStart()
    {
        _loop = (Context.Dispatcher.Configurator as EventLoopDispatcherConfigurator)?.Loop
            ?? throw new InvalidOperationException("NetlinkGateway must run on the netlink event-loop dispatcher");
        var (events, commands, rtnl, family, addresses, links) = _ns.Run(() =>
        {
            var ev = MptcpEventSubscription.Open(nonBlocking: false, receiveBuffer: _settings.ReceiveBuffer);
            var cmd = NetlinkSocket.Open(Smapp.Netlink.Native.NetlinkProtocol.Generic);
            var fam = GenericNetlink.Resolve(cmd, MptcpPmNames.Family);
            var rt = RtnetlinkSubscription.Open(nonBlocking: false);
            using var dump = NetlinkSocket.Open(Smapp.Netlink.Native.NetlinkProtocol.Route);
            return (ev, cmd, rt, fam, RtnetlinkDump.Addresses(dump), RtnetlinkDump.Links(dump));
        });
        (_events, _commands, _rtnl, _family) = (events, commands, rtnl, family);
        foreach (var l in links)
        {
            _links[l.IfIndex] = l;
        }

        foreach (var a in addresses)
        {
            _addresses[(a.IfIndex, a.Address)] = a;
        }

        _diag = new DiagWorker(_ns);
        var self = Self;
        _loop.AddSource(_events.Socket.Fd, () => self.Tell(Readable.Events));
        _loop.AddSource(_commands.Fd, () => self.Tell(Readable.Commands));
        _loop.AddSource(_rtnl.Socket.Fd, () => self.Tell(Readable.Route));
        Timers.StartPeriodicTimer(SweepTimer, Sweep.Instance, TimeSpan.FromSeconds(1));
        _log.Info("netlink gateway up in {Namespace}: mptcp_pm family {Family}, events receive buffer {Buffer} KiB, {Addresses} local addresses",
            _ns, _family.Id, _events.Socket.ReceiveBufferSize / 1024, _addresses.Count);
    }

    protected override void PostStop()
    {
        if (_loop is not null && _loop.IsLoopThread)
        {
            _loop.RemoveSource(_events.Socket.Fd);
            _loop.RemoveSource(_commands.Fd);
            _loop.RemoveSource(_rtnl.Socket.Fd);
        }

        foreach (var l in _listeners.Values)
        {
            l.Dispose();
        }

        _diag?.Dispose();
        _events?.Dispose();
        _commands?.Dispose();
        _rtnl?.Dispose();
    }

    private void HandleReadable(Readable r)
    {
        switch (r.Which)
        {
            case 0:
                for (var i = 0; i < DrainBudget && _events.ReceiveOnce(this, block: false) is ReceiveStatus.Datagram or ReceiveStatus.Overrun or ReceiveStatus.ForeignSender or ReceiveStatus.Interrupted; i++) { }
                _loop.Rearm(_events.Socket.Fd);
                break;
            case 1:
                DrainCommands();
                _loop.Rearm(_commands.Fd);
                break;
            case 2:
                for (var i = 0; i < DrainBudget && _rtnl.ReceiveOnce(this, block: false) is ReceiveStatus.Datagram or ReceiveStatus.Overrun or ReceiveStatus.ForeignSender or ReceiveStatus.Interrupted; i++) { }
                _loop.Rearm(_rtnl.Socket.Fd);
                break;
        }
    }

    // --- events --------------------------------------------------------------------------------------------

    void INetlinkSink<MptcpEvent>.OnItem(MptcpEvent item, ReadOnlySpan<byte> raw)
    {
        _eventsDelivered++;
        foreach (var s in _eventSubscribers)
        {
            s.Tell(item);
        }
    }

    void INetlinkSink<LocalChange>.OnItem(LocalChange item, ReadOnlySpan<byte> raw)
    {
        switch (item)
        {
            case AddressChange { Address: var a }:
                if (a.Removed) _addresses.Remove((a.IfIndex, a.Address));
                else _addresses[(a.IfIndex, a.Address)] = a;
                break;
            case LinkChange { Link: var l }:
                if (l.Removed) _links.Remove(l.IfIndex);
                else _links[l.IfIndex] = l;
                break;
        }

        foreach (var s in _localSubscribers)
        {
            s.Tell(item);
        }
    }

    void INetlinkSink<MptcpEvent>.OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram) => DecodeFailed("mptcp_pm", error, datagram);

    void INetlinkSink<LocalChange>.OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram) => DecodeFailed("rtnetlink", error, datagram);

    void INetlinkSink<MptcpEvent>.OnLost() => Lost("mptcp_pm_events");

    void INetlinkSink<LocalChange>.OnLost() => Lost("rtnetlink");

    private void DecodeFailed(string source, DecodeError error, ReadOnlySpan<byte> datagram)
    {
        _decodeErrors++;
        if (_decodeErrors <= 20 || _decodeErrors % 1000 == 0)
        {
            _log.Warning("undecodable {Source} message #{Count} ({Error}); datagram {Hex}", source, _decodeErrors, error.ToString(),
                Convert.ToHexString(datagram[..Math.Min(datagram.Length, 512)]));
        }
    }

    private void Lost(string source)
    {
        _log.Warning("ENOBUFS on {Source}: the kernel dropped events; subscribers rebuild their state from sock_diag", source);
        var lost = new EventsLost(source);
        foreach (var s in source == "rtnetlink" ? _localSubscribers : _eventSubscribers)
        {
            s.Tell(lost);
        }

        if (source == "rtnetlink")
        {
            // Re-dump the addresses and links so the local view is whole again.
            var (addresses, links) = _ns.Run(() =>
            {
                using var dump = NetlinkSocket.Open(Smapp.Netlink.Native.NetlinkProtocol.Route);
                return (RtnetlinkDump.Addresses(dump), RtnetlinkDump.Links(dump));
            });
            _addresses.Clear();
            _links.Clear();
            foreach (var a in addresses) _addresses[(a.IfIndex, a.Address)] = a;
            foreach (var l in links) _links[l.IfIndex] = l;
            var snapshot = new LocalSnapshot(addresses, links);
            foreach (var s in _localSubscribers)
            {
                s.Tell(snapshot);
            }
        }
    }

    // --- commands ------------------------------------------------------------------------------------------

    private void HandleCommand(PmCommand command)
    {
        Socket? listener = null;
        try
        {
            if (command is Announce { Local.Port: { } port } a)
            {
                listener = OpenListener(a.Local.Address, port);
            }

            _writer.Reset();
            var seq = _commands.NextSequence();
            switch (command)
            {
                case CreateSubflow c: MptcpCommands.SubflowCreate(_writer, _family.Id, seq, c.Token, c.Local, c.Remote); break;
                case DestroySubflow d: MptcpCommands.SubflowDestroy(_writer, _family.Id, seq, d.Token, d.Local, d.Remote); break;
                case SetBackup b: MptcpCommands.SetFlags(_writer, _family.Id, seq, b.Token, b.Local with { Flags = b.Backup ? MptcpAddrFlags.Backup : MptcpAddrFlags.None }, b.Remote); break;
                case Announce a2: MptcpCommands.Announce(_writer, _family.Id, seq, a2.Token, a2.Local); break;
                case Remove r: MptcpCommands.Remove(_writer, _family.Id, seq, r.Token, r.LocalId); break;
                default: throw new ArgumentException($"unknown command {command.GetType().Name}");
            }

            _pending[seq] = new Pending(Sender, command, DateTime.UtcNow + _settings.CommandTimeout, listener);
            _commands.Send(_writer.Written);
            _commandsSent++;
            DrainCommands();
        }
        catch (Exception e) when (e is NetlinkException or SocketException or ArgumentException)
        {
            listener?.Dispose();
            _commandsFailed++;
            var (errno, text) = e switch
            {
                NetlinkException n => (n.Errno, n.KernelMessage ?? n.Message),
                SocketException s => (s.ErrorCode == 0 ? Smapp.Netlink.Native.Errno.EIO : (int)s.SocketErrorCode switch
                {
                    10048 => Smapp.Netlink.Native.Errno.EADDRINUSE,
                    10049 => Smapp.Netlink.Native.Errno.EADDRNOTAVAIL,
                    _ => Smapp.Netlink.Native.Errno.EIO,
                }, $"listener: {s.Message}"),
                _ => (Smapp.Netlink.Native.Errno.EINVAL, e.Message),
            };
            Sender.Tell(new CommandResult(command, errno, text));
        }
    }

    /// <summary>Reads every answer queued on the command socket and returns each to its sender.</summary>
    private void DrainCommands()
    {
        while (true)
        {
            var status = _commands.Receive(block: false);
            if (status is ReceiveStatus.WouldBlock)
            {
                return;
            }

            if (status is not ReceiveStatus.Datagram)
            {
                continue;
            }

            var reader = new NetlinkMessageReader(_commands.Received);
            DecodeError? err;
            while (reader.TryRead(out var m, out err))
            {
                if (m.Header.Type != NetlinkMessageType.Error || !_pending.Remove(m.Header.Sequence, out var pending))
                {
                    continue;
                }

                if (!NetlinkAck.TryDecode(m, out var ack, out var ackErr))
                {
                    DecodeFailed("ack", ackErr!, _commands.Received);
                    continue;
                }

                Complete(pending, ack!.Errno, ack.Message);
            }

            if (err is not null)
            {
                DecodeFailed("command socket", err, _commands.Received);
            }
        }
    }

    private void Complete(Pending pending, int errno, string? message)
    {
        if (errno != 0)
        {
            _commandsFailed++;
            pending.Listener?.Dispose();
        }
        else if (pending.Listener is not null && pending.Command is Announce a)
        {
            _listeners[(a.Local.Address, a.Local.Port!.Value)] = pending.Listener;
        }
        else if (pending.Command is Remove { Address: { } addr, Port: { } port } && _listeners.Remove((addr, port), out var l))
        {
            l.Dispose();
        }

        pending.ReplyTo.Tell(new CommandResult(pending.Command, errno, message));
    }

    private Socket OpenListener(IPAddress address, ushort port)
    {
        if (_listeners.TryGetValue((address, port), out _))
        {
            throw new SocketException((int)SocketError.AddressAlreadyInUse);
        }

        return _ns.Run(() =>
        {
            var s = MptcpSocket.Create(address.AddressFamily);
            try
            {
                s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                s.Bind(new IPEndPoint(address, port));
                s.Listen(16);
                return s;
            }
            catch
            {
                s.Dispose();
                throw;
            }
        });
    }

    private void HandleSweep()
    {
        if (_pending.Count == 0)
        {
            return;
        }

        var now = DateTime.UtcNow;
        foreach (var (seq, p) in _pending.Where(kv => kv.Value.Deadline < now).ToList())
        {
            _pending.Remove(seq);
            _commandsTimedOut++;
            Complete(p, Smapp.Netlink.Native.Errno.ETIMEDOUT, $"no answer from the kernel within {_settings.CommandTimeout.TotalSeconds:0.#} s");
        }
    }
}
