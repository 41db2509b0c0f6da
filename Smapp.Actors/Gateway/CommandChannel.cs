using System.Net.Sockets;
using Akka.Actor;
using Smapp.Netlink;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Wire;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Actors.Gateway;

/// <summary>Where a command's <see cref="CommandResult"/> goes.</summary>
public interface ICommandReplies
{
    void OnResult(CommandResult result);
}

/// <summary>Replies to an actor (what a command sent as a message gets).</summary>
public sealed class ActorReplies(IActorRef to) : ICommandReplies
{
    public void OnResult(CommandResult result) => to.Tell(result);
}

/// <summary>
/// The command half of the gateway: userspace path-manager commands encoded and written to the kernel, each
/// answered once — with the kernel's ACK or refusal (errno and extended-ack text), matched by sequence number, or
/// with ETIMEDOUT when the kernel said nothing in time. An ANNOUNCE with a port gets its listener here. It runs on
/// the event loop only: the gateway drives it when its socket is readable and on its sweep, and connections on the
/// same loop may call <see cref="Send"/> directly, which writes at once — no hop between a policy's decision and
/// the kernel.
/// </summary>
public sealed class CommandChannel
{
    private readonly INetlinkConnection _socket;
    private readonly ushort _familyId;
    private readonly TimeSpan _timeout;
    private readonly AnnounceListeners _listeners;
    private readonly Func<DateTime> _clock;
    private readonly NetlinkWriter _writer = new(256);
    private readonly Dictionary<uint, Pending> _pending = [];

    public CommandChannel(INetlinkConnection socket, ushort familyId, TimeSpan timeout, AnnounceListeners listeners, Func<DateTime>? clock = null)
    {
        _socket = socket;
        _familyId = familyId;
        _timeout = timeout;
        _listeners = listeners;
        _clock = clock ?? (() => DateTime.UtcNow);
    }

    private readonly record struct Pending(ICommandReplies ReplyTo, PmCommand Command, DateTime Deadline, Socket? Listener);

    public long Sent { get; private set; }

    public long Failed { get; private set; }

    public long TimedOut { get; private set; }

    public long DecodeErrors { get; private set; }

    /// <summary>The channel this one replaces (its socket failed): its counts carry over.</summary>
    public CommandChannel? Carried
    {
        init
        {
            if (value is not null)
            {
                Sent = value.Sent;
                Failed = value.Failed;
                TimedOut = value.TimedOut;
                DecodeErrors = value.DecodeErrors;
            }
        }
    }

    /// <summary>Where each command's outcome is counted (by kind and errno), if anywhere.</summary>
    public GatewayCounters? Counters { get; init; }

    public int PendingCount => _pending.Count;

    /// <summary>
    /// Writes <paramref name="command"/> to the kernel; its answer goes to <paramref name="replyTo"/> when it comes.
    /// Returns the failure when it could not even be sent (a listener that cannot be opened, a socket error): the
    /// caller delivers it, so that an answer never arrives inside the call that asked.
    /// </summary>
    public CommandResult? Send(PmCommand command, ICommandReplies replyTo)
    {
        Socket? listener = null;
        try
        {
            if (command is Announce { Local.Port: { } port } a)
            {
                listener = _listeners.Open(a.Local.Address, port);
            }

            _writer.Reset();
            var seq = _socket.NextSequence();
            Encode(command, seq);
            _pending[seq] = new Pending(replyTo, command, _clock() + _timeout, listener);
            try
            {
                _socket.Send(_writer.Written);
            }
            catch
            {
                _pending.Remove(seq);
                throw;
            }

            Sent++;
            return null;
        }
        catch (Exception e) when (e is NetlinkException or SocketException or ArgumentException)
        {
            listener?.Dispose();
            Failed++;
            Counters?.Command(command, ErrnoOf(e));
            return new CommandResult(command, ErrnoOf(e), TextOf(e));
        }
    }

    private void Encode(PmCommand command, uint seq)
    {
        switch (command)
        {
            case CreateSubflow c: MptcpCommands.SubflowCreate(_writer, _familyId, seq, c.Token, c.Local, c.Remote); break;
            case DestroySubflow d: MptcpCommands.SubflowDestroy(_writer, _familyId, seq, d.Token, d.Local, d.Remote); break;
            case SetBackup b: MptcpCommands.SetFlags(_writer, _familyId, seq, b.Token, b.Local with { Flags = b.Backup ? MptcpAddrFlags.Backup : MptcpAddrFlags.None }, b.Remote); break;
            case Announce a: MptcpCommands.Announce(_writer, _familyId, seq, a.Token, a.Local); break;
            case Remove r: MptcpCommands.Remove(_writer, _familyId, seq, r.Token, r.LocalId); break;
            default: throw new ArgumentException($"unknown command {command.GetType().Name}");
        }
    }

    /// <summary>Reads every answer queued on the socket and returns each to its asker. Unmatched answers are skipped.</summary>
    public void Drain(Action<string, DecodeError, byte[]>? onDecodeError = null)
    {
        while (true)
        {
            var status = _socket.Receive(block: false);
            if (status is ReceiveStatus.WouldBlock)
            {
                return;
            }

            if (status is not ReceiveStatus.Datagram)
            {
                continue;
            }

            var reader = new NetlinkMessageReader(_socket.Received);
            DecodeError? err;
            while (reader.TryRead(out var m, out err))
            {
                if (m.Header.Type != NetlinkMessageType.Error || !_pending.Remove(m.Header.Sequence, out var pending))
                {
                    continue;
                }

                if (!NetlinkAck.TryDecode(m, out var ack, out var ackErr))
                {
                    DecodeErrors++;
                    onDecodeError?.Invoke("ack", ackErr!, _socket.Received.ToArray());
                    Complete(pending, Errno.EIO, $"undecodable answer: {ackErr}");
                    continue;
                }

                Complete(pending, ack!.Errno, ack.Message);
            }

            if (err is not null)
            {
                DecodeErrors++;
                onDecodeError?.Invoke("command socket", err, _socket.Received.ToArray());
            }
        }
    }

    /// <summary>
    /// The socket failed: every command still waiting for the kernel's answer gets <paramref name="errno"/> now (the
    /// kernel may or may not have carried it out; the asker's policy hears that it failed, and a reconcile follows).
    /// </summary>
    public int FailAll(int errno, string message)
    {
        var all = _pending.Values.ToList();
        _pending.Clear();
        foreach (var p in all)
        {
            Complete(p, errno, message);
        }

        return all.Count;
    }

    /// <summary>Answers ETIMEDOUT for every command the kernel has not answered within the timeout.</summary>
    public int Sweep()
    {
        if (_pending.Count == 0)
        {
            return 0;
        }

        var now = _clock();
        var late = new List<uint>();
        foreach (var (seq, p) in _pending)
        {
            if (p.Deadline < now)
            {
                late.Add(seq);
            }
        }

        foreach (var seq in late)
        {
            if (_pending.Remove(seq, out var p))
            {
                TimedOut++;
                Complete(p, Errno.ETIMEDOUT, $"no answer from the kernel within {_timeout.TotalSeconds:0.#} s");
            }
        }

        return late.Count;
    }

    private void Complete(Pending pending, int errno, string? message)
    {
        Counters?.Command(pending.Command, errno);
        if (errno != 0)
        {
            Failed++;
            pending.Listener?.Dispose();
        }
        else if (pending.Listener is not null && pending.Command is Announce a)
        {
            _listeners.Keep(a.Local.Address, a.Local.Port!.Value, pending.Listener);
        }
        else if (pending.Command is Remove { Address: { } addr, Port: { } port })
        {
            _listeners.Close(addr, port);
        }

        pending.ReplyTo.OnResult(new CommandResult(pending.Command, errno, message));
    }

    private static int ErrnoOf(Exception e) => e switch
    {
        NetlinkException n => n.Errno,
        SocketException s => (int)s.SocketErrorCode switch
        {
            (int)SocketError.AddressAlreadyInUse => Errno.EADDRINUSE,
            (int)SocketError.AddressNotAvailable => Errno.EADDRNOTAVAIL,
            _ => Errno.EIO,
        },
        _ => Errno.EINVAL,
    };

    private static string TextOf(Exception e) => e switch
    {
        NetlinkException n => n.KernelMessage ?? n.Message,
        SocketException s => $"listener: {s.Message}",
        _ => e.Message,
    };
}
