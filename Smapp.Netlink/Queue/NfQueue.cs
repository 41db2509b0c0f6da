using System.Runtime.InteropServices;
using Smapp.Netlink.Native;
using Smapp.Netlink.Wire;

namespace Smapp.Netlink.Queue;

/// <summary>What a queue hands out when it drains its socket.</summary>
public interface INfQueueSink
{
    /// <summary>A packet the kernel now holds until it gets a verdict for <see cref="NfQueuePacket.PacketId"/>.</summary>
    void OnPacket(in NfQueuePacket packet);

    /// <summary>A message that could not be decoded; counted, never thrown.</summary>
    void OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram);
}

/// <summary>Counters of one queue.</summary>
public sealed class NfQueueStats
{
    public long Datagrams;
    public long Packets;
    public long DecodeErrors;

    /// <summary>ENOBUFS on receive: packet messages the socket could not take. With fail-open those packets passed at once.</summary>
    public long Overruns;

    /// <summary>Datagrams longer than the receive buffer (never with metadata-only copies).</summary>
    public long Truncated;

    public long Verdicts;
    public long BatchVerdicts;

    /// <summary>NLMSG_ERRORs with an errno: a verdict (or an un-acked config) the kernel refused, e.g. ENOENT for an unknown id.</summary>
    public long Refusals;

    public int LastRefusalErrno;

    /// <summary>Verdicts that sendto itself failed to deliver.</summary>
    public long SendFailures;

    public long Ignored;
}

/// <summary>
/// Decodes the datagrams of a queue socket: packets to the sink, refusals counted; a broken message is reported
/// and the rest of the datagram still delivered.
/// </summary>
public sealed class NfQueueBatchDecoder
{
    public NfQueueStats Stats { get; } = new();

    public void Dispatch<TSink>(ReadOnlySpan<byte> datagram, TSink sink)
        where TSink : INfQueueSink
    {
        Stats.Datagrams++;
        var reader = new NetlinkMessageReader(datagram);
        DecodeError? err;
        while (reader.TryRead(out var msg, out err))
        {
            if (msg.Header.Type == NfqnlMsg.PacketType)
            {
                if (NfQueueCodec.TryDecodePacket(msg, out var packet, out var perr))
                {
                    Stats.Packets++;
                    sink.OnPacket(packet);
                }
                else
                {
                    Stats.DecodeErrors++;
                    sink.OnDecodeError(perr!, datagram);
                }
            }
            else if (msg.Header.Type == NetlinkMessageType.Error)
            {
                if (!NfQueueCodec.TryReadAck(msg, out var errno, out _))
                {
                    Stats.DecodeErrors++;
                    sink.OnDecodeError(new DecodeError(DecodeErrorKind.TruncatedHeader, msg.Offset, $"nlmsgerr needs {4 + NetlinkHeader.Size} bytes, got {msg.Payload.Length}"), datagram);
                }
                else if (errno != 0)
                {
                    Stats.Refusals++;
                    Stats.LastRefusalErrno = errno;
                }
            }
            else
            {
                Stats.Ignored++;
            }
        }

        if (err is not null)
        {
            Stats.DecodeErrors++;
            sink.OnDecodeError(err, datagram);
        }
    }
}

/// <summary>
/// One nfnetlink_queue queue bound to a NETLINK_NETFILTER socket of the calling thread's network namespace: the
/// kernel hands it every packet an NFQUEUE rule sends to that queue number, and holds each packet until it gets a
/// verdict. Receiving and giving verdicts allocate nothing.
/// </summary>
public sealed unsafe class NfQueue : IDisposable
{
    private readonly NetlinkSocket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private readonly NetlinkWriter _verdict = new(NfQueueCodec.VerdictMessageSize);
    private const int QuiesceDatagramLimit = 1_000_000;
    private bool _bound;

    private NfQueue(NetlinkSocket socket, ushort queue, NfQueueOptions options)
    {
        _socket = socket;
        Queue = queue;
        Options = options;
        _bound = true;
    }

    public ushort Queue { get; }

    public NfQueueOptions Options { get; }

    public NfQueueBatchDecoder Decoder { get; } = new();

    public NfQueueStats Stats => Decoder.Stats;

    public int Fd => _socket.Fd;

    public uint PortId => _socket.PortId;

    /// <summary>The receive buffer the kernel granted.</summary>
    public int ReceiveBufferSize => _socket.ReceiveBufferSize;

    /// <summary>
    /// Binds queue <paramref name="queue"/> in the calling thread's network namespace. A queue already bound by
    /// another socket is refused (EPERM, or EBUSY), as is a missing CAP_NET_ADMIN (EPERM).
    /// </summary>
    public static NfQueue Bind(ushort queue, NfQueueOptions? options = null)
    {
        options ??= new NfQueueOptions();
        var socket = NetlinkSocket.Open(NetlinkProtocol.Netfilter);
        try
        {
            socket.SetReceiveBuffer(options.ReceiveBuffer);
            var w = new NetlinkWriter();
            var seq = socket.NextSequence();
            NfQueueCodec.WriteBind(w, queue, options, seq);
            try
            {
                socket.Transact(w, seq);
            }
            catch (NetlinkException e) when (e.Errno is Errno.EPERM or Errno.EBUSY)
            {
                throw new NetlinkException(e.Errno, e.KernelMessage, $"bind nfqueue {queue} (bound by another socket already, or no CAP_NET_ADMIN)");
            }

            return new NfQueue(socket, queue, options);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads what waits on the socket, without blocking, up to <paramref name="maxDatagrams"/> datagrams, and hands
    /// every packet to <paramref name="sink"/>. ENOBUFS is counted in <see cref="NfQueueStats.Overruns"/>. Returns the
    /// number of packets handed out.
    /// </summary>
    public int Receive<TSink>(TSink sink, int maxDatagrams = 256)
        where TSink : INfQueueSink
    {
        var before = Stats.Packets;
        var addr = default(SockaddrNl);
        for (var i = 0; i < maxDatagrams; i++)
        {
            var addrLen = sizeof(SockaddrNl);
            nint n;
            fixed (byte* p = _buffer)
            {
                n = Libc.recvfrom(_socket.Fd, p, _buffer.Length, Libc.MSG_DONTWAIT | Libc.MSG_TRUNC, &addr, &addrLen);
            }

            if (n < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.EAGAIN)
                {
                    break;
                }

                if (errno == Errno.ENOBUFS)
                {
                    Stats.Overruns++;
                    continue;
                }

                if (errno == Errno.EINTR)
                {
                    continue;
                }

                throw new NetlinkException(errno, null, "recvfrom (nfqueue)");
            }

            if (n > _buffer.Length)
            {
                Stats.Truncated++;
                continue;
            }

            if (addr.Pid != 0)
            {
                Stats.Ignored++;
                continue;
            }

            var datagram = _buffer.AsSpan(0, (int)n);
            if (NetlinkSocket.Trace)
            {
                Console.Error.WriteLine($"nl< proto={NetlinkProtocol.Netfilter} {Convert.ToHexString(datagram)}");
            }

            Decoder.Dispatch(datagram, sink);
        }

        return (int)(Stats.Packets - before);
    }

    /// <summary>NF_ACCEPT for one packet.</summary>
    public bool Accept(uint id) => Verdict(id, NfVerdict.Accept, batch: false);

    /// <summary>NF_ACCEPT for every packet the queue holds with an id up to and including <paramref name="id"/> (NFQNL_MSG_VERDICT_BATCH).</summary>
    public bool AcceptUpTo(uint id) => Verdict(id, NfVerdict.Accept, batch: true);

    /// <summary>
    /// Sends a verdict (its sequence number is the packet id, so that a refusal names it). A refusal comes back
    /// later as an NLMSG_ERROR, counted in <see cref="NfQueueStats.Refusals"/>; false when the send itself failed.
    /// </summary>
    public bool Verdict(uint id, uint verdict, bool batch)
    {
        _verdict.Reset();
        NfQueueCodec.WriteVerdict(_verdict, Queue, id, verdict, id, batch);
        try
        {
            _socket.Send(_verdict.Written);
        }
        catch (NetlinkException)
        {
            Stats.SendFailures++;
            return false;
        }

        if (batch)
        {
            Stats.BatchVerdicts++;
        }
        else
        {
            Stats.Verdicts++;
        }

        return true;
    }

    /// <summary>
    /// Stops holding new packets before an unbind: sets the queue's length to 0, so that with fail-open every new
    /// packet passes at once, then hands the sink the packets already queued (still in the socket), so that the
    /// caller can give them their verdicts instead of letting the unbind drop them.
    /// </summary>
    public void Quiesce<TSink>(TSink sink)
        where TSink : INfQueueSink
    {
        var w = new NetlinkWriter(64);
        NfQueueCodec.WriteMaxLength(w, Queue, 0, _socket.NextSequence(), ack: false);
        _socket.Send(w.Written);
        Receive(sink, QuiesceDatagramLimit);
    }

    /// <summary>NFQNL_CFG_CMD_UNBIND, waiting for the ACK. The kernel drops the packets the queue still holds.</summary>
    public void Unbind()
    {
        if (!_bound)
        {
            return;
        }

        var w = new NetlinkWriter(64);
        var seq = _socket.NextSequence();
        NfQueueCodec.WriteUnbind(w, Queue, seq);
        _socket.Transact(w, seq);
        _bound = false;
    }

    /// <summary>Closes the socket; the kernel then destroys a queue still bound (and drops what it holds).</summary>
    public void Dispose() => _socket.Dispose();
}
