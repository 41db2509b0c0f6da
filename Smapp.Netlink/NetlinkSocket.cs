using System.Runtime.InteropServices;
using Smapp.Netlink.Native;
using Smapp.Netlink.Wire;

namespace Smapp.Netlink;

/// <summary>What one receive returned.</summary>
public enum ReceiveStatus
{
    /// <summary>A datagram from the kernel is in the buffer.</summary>
    Datagram,

    /// <summary>Nothing to read (non-blocking socket).</summary>
    WouldBlock,

    /// <summary>ENOBUFS: the socket's receive queue overflowed and messages were lost.</summary>
    Overrun,

    /// <summary>A datagram from a port id other than the kernel's (0) was dropped.</summary>
    ForeignSender,

    /// <summary>Interrupted by a signal; try again.</summary>
    Interrupted,

    /// <summary>A datagram larger than the buffer was cut and dropped (only without peeking: <see cref="NetlinkSocket.PeekSize"/>).</summary>
    Truncated,
}

/// <summary>Takes one reply message where it lies in the receive buffer; the span is valid only during the call.</summary>
public delegate void ReplyVisitor(in NetlinkMessage message);

/// <summary>
/// A netlink socket: bind, multicast membership, send to the kernel, receive whole datagrams (the buffer is
/// sized by peeking with MSG_PEEK | MSG_TRUNC, so nothing is ever truncated; event sockets may read in one call, see
/// <see cref="PeekSize"/>), and believe only port id 0.
/// </summary>
public sealed unsafe class NetlinkSocket : INetlinkConnection, IDisposable
{
    private byte[] _buffer;
    private int _received;
    private uint _sequence;
    private int _fd;

    private NetlinkSocket(int fd, int protocol, uint portId)
    {
        _fd = fd;
        Protocol = protocol;
        PortId = portId;
        _buffer = new byte[16 * 1024];
        _sequence = (uint)Environment.TickCount;
    }

    public int Fd => _fd;

    /// <summary>
    /// Peek at each datagram's size first (MSG_PEEK | MSG_TRUNC) and grow the buffer to fit: two system calls per
    /// datagram, and no dump is ever cut. Off, one call reads into a 64 KiB buffer with MSG_TRUNC, and a datagram
    /// larger than that (never seen from an event group, whose messages are a few hundred bytes) is reported as
    /// <see cref="ReceiveStatus.Truncated"/> and the buffer grows for the next one. For multicast event sockets.
    /// </summary>
    public bool PeekSize
    {
        get => _peekSize;
        set
        {
            _peekSize = value;
            if (!value && _buffer.Length < 64 * 1024)
            {
                _buffer = new byte[64 * 1024];
            }
        }
    }

    private bool _peekSize = true;

    /// <summary>Datagrams that did not fit the buffer (only without <see cref="PeekSize"/>).</summary>
    public long TruncatedDatagrams { get; private set; }

    /// <summary>
    /// When the environment has SMAPP_NETLINK_TRACE=1, every datagram sent and received is written to stderr as hex
    /// ("nl> " sent, "nl< " received): how the golden fixtures were captured, and a debugging aid.
    /// </summary>
    public static bool Trace { get; set; } = Environment.GetEnvironmentVariable("SMAPP_NETLINK_TRACE") == "1";

    public int Protocol { get; }

    /// <summary>The port id the kernel gave this socket at bind.</summary>
    public uint PortId { get; }

    /// <summary>Datagrams dropped because they did not come from the kernel.</summary>
    public long ForeignDatagrams { get; private set; }

    /// <summary>The sender port id of the last datagram dropped for not coming from the kernel (0: none yet).</summary>
    public uint LastForeignPortId { get; private set; }

    /// <summary>The last datagram received.</summary>
    public ReadOnlySpan<byte> Received => _buffer.AsSpan(0, _received);

    /// <summary>Opens and binds a socket of <paramref name="protocol"/> (see <see cref="NetlinkProtocol"/>) in the calling thread's network namespace.</summary>
    public static NetlinkSocket Open(int protocol, bool nonBlocking = false, bool extendedAck = true)
    {
        var type = Libc.SOCK_RAW | Libc.SOCK_CLOEXEC | (nonBlocking ? Libc.SOCK_NONBLOCK : 0);
        var fd = Libc.socket(Libc.AF_NETLINK, type, protocol);
        if (fd < 0)
        {
            throw new NetlinkException(Marshal.GetLastPInvokeError(), null, $"socket(AF_NETLINK, {protocol})");
        }

        try
        {
            var addr = new SockaddrNl { Family = Libc.AF_NETLINK };
            if (Libc.bind(fd, &addr, sizeof(SockaddrNl)) < 0)
            {
                throw new NetlinkException(Marshal.GetLastPInvokeError(), null, "bind");
            }

            var len = sizeof(SockaddrNl);
            if (Libc.getsockname(fd, &addr, &len) < 0)
            {
                throw new NetlinkException(Marshal.GetLastPInvokeError(), null, "getsockname");
            }

            if (extendedAck)
            {
                SetInt(fd, SolNetlink.SOL_NETLINK, SolNetlink.NETLINK_EXT_ACK, 1);
                SetInt(fd, SolNetlink.SOL_NETLINK, SolNetlink.NETLINK_CAP_ACK, 1);
            }

            return new NetlinkSocket(fd, protocol, addr.Pid);
        }
        catch
        {
            Libc.close(fd);
            throw;
        }
    }

    public uint NextSequence() => unchecked(++_sequence == 0 ? ++_sequence : _sequence);

    /// <summary>Joins a multicast group by its id (NETLINK_ADD_MEMBERSHIP).</summary>
    public void JoinGroup(uint group) => SetInt(_fd, SolNetlink.SOL_NETLINK, SolNetlink.NETLINK_ADD_MEMBERSHIP, (int)group, "NETLINK_ADD_MEMBERSHIP");

    public void LeaveGroup(uint group) => SetInt(_fd, SolNetlink.SOL_NETLINK, SolNetlink.NETLINK_DROP_MEMBERSHIP, (int)group, "NETLINK_DROP_MEMBERSHIP");

    /// <summary>Sets the receive buffer; SO_RCVBUFFORCE (root) passes rmem_max. Returns the size the kernel reports.</summary>
    public int SetReceiveBuffer(int bytes)
    {
        var v = bytes;
        if (Libc.setsockopt(_fd, Libc.SOL_SOCKET, Libc.SO_RCVBUFFORCE, &v, sizeof(int)) < 0)
        {
            SetInt(_fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, bytes, "SO_RCVBUF");
        }

        return ReceiveBufferSize;
    }

    /// <summary>The receive buffer the kernel granted (twice what was asked, as it books overhead).</summary>
    public int ReceiveBufferSize
    {
        get
        {
            int v = 0, len = sizeof(int);
            return Libc.getsockopt(_fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &v, &len) < 0 ? -1 : v;
        }
    }

    /// <summary>Sends one or more messages to the kernel.</summary>
    public void Send(ReadOnlySpan<byte> data) => SendTo(0, data);

    /// <summary>
    /// Sends to the socket with port id <paramref name="portId"/> (0: the kernel). Another process's port id is how a
    /// forger reaches a daemon's socket: the trust tests do exactly that, and the daemon must drop it.
    /// </summary>
    public void SendTo(uint portId, ReadOnlySpan<byte> data)
    {
        var addr = new SockaddrNl { Family = Libc.AF_NETLINK, Pid = portId };
        if (Trace)
        {
            Console.Error.WriteLine($"nl> proto={Protocol} {Convert.ToHexString(data)}");
        }

        fixed (byte* p = data)
        {
            while (true)
            {
                var n = Libc.sendto(_fd, p, data.Length, 0, &addr, sizeof(SockaddrNl));
                if (n >= 0)
                {
                    return;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR)
                {
                    throw new NetlinkException(errno, null, "sendto");
                }
            }
        }
    }

    /// <summary>
    /// Receives one whole datagram into <see cref="Received"/>. Peeks first (MSG_PEEK | MSG_TRUNC) to learn its
    /// size and grows the buffer to fit. ENOBUFS comes back as <see cref="ReceiveStatus.Overrun"/>.
    /// </summary>
    public ReceiveStatus Receive(bool block = true)
    {
        _received = 0;
        var flags = block ? 0 : Libc.MSG_DONTWAIT;
        var addr = default(SockaddrNl);
        var addrLen = sizeof(SockaddrNl);
        nint n;
        while (_peekSize)
        {
            fixed (byte* p = _buffer)
            {
                n = Libc.recvfrom(_fd, p, _buffer.Length, flags | Libc.MSG_PEEK | Libc.MSG_TRUNC, &addr, &addrLen);
            }

            if (n < 0)
            {
                return Failure(Marshal.GetLastPInvokeError());
            }

            if (n <= _buffer.Length)
            {
                break;
            }

            _buffer = new byte[Math.Max((int)n, _buffer.Length * 2)];
        }

        fixed (byte* p = _buffer)
        {
            n = Libc.recvfrom(_fd, p, _buffer.Length, _peekSize ? flags : flags | Libc.MSG_TRUNC, &addr, &addrLen);
        }

        if (n < 0)
        {
            return Failure(Marshal.GetLastPInvokeError());
        }

        if (n > _buffer.Length)
        {
            TruncatedDatagrams++;
            _buffer = new byte[Math.Max((int)n, _buffer.Length * 2)];
            return ReceiveStatus.Truncated;
        }

        if (addr.Pid != 0)
        {
            ForeignDatagrams++;
            LastForeignPortId = addr.Pid;
            return ReceiveStatus.ForeignSender;
        }

        _received = (int)n;
        if (Trace)
        {
            Console.Error.WriteLine($"nl< proto={Protocol} {Convert.ToHexString(Received)}");
        }

        return ReceiveStatus.Datagram;
    }

    private static ReceiveStatus Failure(int errno) => errno switch
    {
        Errno.EAGAIN => ReceiveStatus.WouldBlock,
        Errno.ENOBUFS => ReceiveStatus.Overrun,
        Errno.EINTR => ReceiveStatus.Interrupted,
        _ => throw new NetlinkException(errno, null, "recvfrom"),
    };

    /// <summary>
    /// One datagram of the answer to request <paramref name="sequence"/>: its messages (headers included) are added
    /// to <paramref name="replies"/>; returns true once the answer is complete (NLMSG_DONE, or an ACK). A refusal
    /// throws <see cref="NetlinkException"/> with the kernel's errno, as does an ACK that cannot be decoded; any other
    /// malformed message goes to <paramref name="onDecodeError"/>. Messages of other requests or senders are skipped.
    /// </summary>
    public static bool ReadReply(ReadOnlySpan<byte> datagram, uint sequence, uint portId, List<byte[]> replies, Action<DecodeError>? onDecodeError = null) =>
        VisitReply(datagram, sequence, portId, (in NetlinkMessage m) => replies.Add(m.Bytes.ToArray()), onDecodeError);

    /// <summary>
    /// As <see cref="ReadReply"/>, handing each reply message to <paramref name="visit"/> in place, inside the receive
    /// buffer: nothing is copied (a dump of thousands of sockets allocates nothing per message here).
    /// </summary>
    public static bool VisitReply(ReadOnlySpan<byte> datagram, uint sequence, uint portId, ReplyVisitor visit, Action<DecodeError>? onDecodeError = null)
    {
        var reader = new NetlinkMessageReader(datagram);
        DecodeError? err;
        while (reader.TryRead(out var msg, out err))
        {
            if (msg.Header.Sequence != sequence || msg.Header.PortId != portId && msg.Header.PortId != 0)
            {
                continue;
            }

            switch (msg.Header.Type)
            {
                case NetlinkMessageType.Error:
                    if (!NetlinkAck.TryDecode(msg, out var ack, out var ackErr))
                    {
                        throw new NetlinkException(Errno.EIO, ackErr!.ToString(), "undecodable ack");
                    }

                    if (!ack!.IsSuccess)
                    {
                        throw new NetlinkException(ack.Errno, ack.Message);
                    }

                    return true;
                case NetlinkMessageType.Done:
                    return true;
                case NetlinkMessageType.Noop:
                    continue;
                default:
                    visit(msg);
                    break;
            }
        }

        if (err is not null)
        {
            onDecodeError?.Invoke(err);
        }

        return false;
    }

    /// <summary>
    /// Sends a request built in <paramref name="request"/> and collects the replies with its sequence number:
    /// every message of a dump until NLMSG_DONE, or the ACK. A refusal throws <see cref="NetlinkException"/>
    /// with the errno and the kernel's extended-ack text. Replies to other sequence numbers are skipped.
    /// A request that is not a dump must carry NLM_F_ACK: the ACK is what ends the wait.
    /// </summary>
    public List<byte[]> Transact(NetlinkWriter request, uint sequence, Action<DecodeError>? onDecodeError = null)
    {
        var replies = new List<byte[]>();
        TransactEach(request, sequence, (in NetlinkMessage m) => replies.Add(m.Bytes.ToArray()), onDecodeError);
        return replies;
    }

    /// <summary>As <see cref="Transact"/>, handing each reply to <paramref name="visit"/> in the receive buffer, uncopied.</summary>
    public void TransactEach(NetlinkWriter request, uint sequence, ReplyVisitor visit, Action<DecodeError>? onDecodeError = null)
    {
        Send(request.Written);
        while (true)
        {
            var status = Receive(block: true);
            if (status is ReceiveStatus.Interrupted or ReceiveStatus.ForeignSender)
            {
                continue;
            }

            if (status == ReceiveStatus.Overrun)
            {
                throw new NetlinkException(Errno.ENOBUFS, "reply lost: receive queue overflowed");
            }

            if (status == ReceiveStatus.Truncated)
            {
                throw new NetlinkException(Errno.EMSGSIZE, "reply larger than the receive buffer");
            }

            if (VisitReply(Received, sequence, PortId, visit, onDecodeError))
            {
                return;
            }
        }
    }

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            Libc.close(fd);
        }
    }

    private static void SetInt(int fd, int level, int name, int value, string? what = null)
    {
        if (Libc.setsockopt(fd, level, name, &value, sizeof(int)) < 0)
        {
            throw new NetlinkException(Marshal.GetLastPInvokeError(), null, what ?? $"setsockopt({level}, {name})");
        }
    }
}
