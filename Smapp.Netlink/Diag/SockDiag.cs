using System.Buffers.Binary;
using System.Net;
using Smapp.Netlink.Wire;

namespace Smapp.Netlink.Diag;

/// <summary>A socket's addresses as <c>struct inet_diag_sockid</c> gives them (ports in host order here).</summary>
public readonly record struct SocketId(IPAddress Source, ushort SourcePort, IPAddress Destination, ushort DestinationPort, uint Interface, ulong Cookie)
{
    public override string ToString() => $"{Fmt(Source)}:{SourcePort} -> {Fmt(Destination)}:{DestinationPort}";

    private static string Fmt(IPAddress a) => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{a}]" : a.ToString();
}

/// <summary>One MPTCP subflow: a TCP socket whose ULP is mptcp, with its token, ids and tcp_info.</summary>
public sealed record SubflowDiag(SocketId Id, byte TcpState, uint Token, uint RemoteToken, byte LocalId, byte RemoteId, uint SubflowFlags, TcpInfo Info)
{
    public const uint FlagBackupRemote = 1 << 4;  // MPTCP_SUBFLOW_FLAG_BKUP_REM
    public const uint FlagBackupLocal = 1 << 5;   // MPTCP_SUBFLOW_FLAG_BKUP_LOC
    public const uint FlagJoinLocal = 1 << 3;     // MPTCP_SUBFLOW_FLAG_JOIN_LOC
    public const uint FlagMpCapableLocal = 1 << 1;

    public bool BackupLocal => (SubflowFlags & FlagBackupLocal) != 0;

    public bool BackupRemote => (SubflowFlags & FlagBackupRemote) != 0;
}

/// <summary>
/// One MPTCP connection (an IPPROTO_MPTCP socket) with its mptcp_info, and the uid that owns the socket
/// (<c>idiag_uid</c>, in the dumping process's user namespace).
/// </summary>
public sealed record ConnectionDiag(SocketId Id, byte State, MptcpInfo Info, uint Uid = 0);

/// <summary>
/// sock_diag (NETLINK_SOCK_DIAG) dumps: every MPTCP subflow in one TCP dump per address family, and every MPTCP
/// connection over IPPROTO_MPTCP.
/// </summary>
public static class SockDiag
{
    public const ushort SockDiagByFamily = 20;     // SOCK_DIAG_BY_FAMILY
    public const int ReqV2Size = 56;               // sizeof(struct inet_diag_req_v2)
    public const int SockIdSize = 48;              // sizeof(struct inet_diag_sockid)
    public const int MsgSize = 72;                 // sizeof(struct inet_diag_msg)
    public const int UidOffset = 64;               // offsetof(struct inet_diag_msg, idiag_uid): after the sockid, expires, rqueue, wqueue
    public const byte IpProtoTcp = 6;
    public const int IpProtoMptcp = 262;
    public const ushort AttrInfo = 2;              // INET_DIAG_INFO
    public const ushort AttrUlpInfo = 19;          // INET_DIAG_ULP_INFO
    public const ushort ReqAttrProtocol = 3;       // INET_DIAG_REQ_PROTOCOL
    public const ushort UlpInfoName = 1;           // INET_ULP_INFO_NAME
    public const ushort UlpInfoMptcp = 3;          // INET_ULP_INFO_MPTCP
    public const ushort SubflowTokenRem = 1, SubflowTokenLoc = 2, SubflowFlags = 8, SubflowIdRem = 9, SubflowIdLoc = 10;

    /// <summary>Every TCP state but LISTEN, TIME_WAIT and CLOSE: subflows connecting, established or closing.</summary>
    public const uint LiveStates = 0xFFF & ~((1u << 10) | (1u << 6) | (1u << 7));

    public const byte TcpListen = 10;

    /// <summary>The LISTEN state bit, to add to <see cref="LiveStates"/> when listeners are wanted too.</summary>
    public const uint ListenState = 1u << TcpListen;

    /// <summary>An inet_diag_req_v2 dump request; protocol above 255 goes in INET_DIAG_REQ_PROTOCOL as the kernel wants.</summary>
    public static void WriteDumpRequest(NetlinkWriter w, uint seq, byte family, int protocol, uint states, bool withInfo)
    {
        var s = w.BeginMessage(SockDiagByFamily, NetlinkFlags.Request | NetlinkFlags.Dump, seq);
        Span<byte> req = stackalloc byte[ReqV2Size];
        req.Clear();
        req[0] = family;
        req[1] = (byte)protocol;                    // sdiag_protocol (u8; truncated for MPTCP, see below)
        req[2] = withInfo ? (byte)(1 << (AttrInfo - 1)) : (byte)0;  // idiag_ext
        BinaryPrimitives.WriteUInt32LittleEndian(req[4..], states);
        // id: zero = match every socket. Cookie "no cookie" = ~0.
        BinaryPrimitives.WriteUInt32LittleEndian(req[(8 + 40)..], 0xFFFFFFFF);
        BinaryPrimitives.WriteUInt32LittleEndian(req[(8 + 44)..], 0xFFFFFFFF);
        w.PutRaw(req);
        if (protocol > 255)
        {
            w.PutU32(ReqAttrProtocol, (uint)protocol);
        }

        w.EndMessage(s);
    }

    /// <summary>Reads <c>struct inet_diag_msg</c>'s family, state and socket id.</summary>
    public static bool TryReadMessage(ReadOnlySpan<byte> p, int offset, out byte family, out byte state, out SocketId id, out DecodeError? error) =>
        TryReadMessage(p, offset, null, out family, out state, out id, out error);

    /// <summary>As above, taking the addresses from <paramref name="addresses"/> when it has them already.</summary>
    public static bool TryReadMessage(ReadOnlySpan<byte> p, int offset, AddressCache? addresses, out byte family, out byte state, out SocketId id, out DecodeError? error)
    {
        family = state = 0;
        id = default;
        if (p.Length < MsgSize)
        {
            error = new DecodeError(DecodeErrorKind.TruncatedHeader, offset, $"inet_diag_msg needs {MsgSize} bytes, got {p.Length}");
            return false;
        }

        family = p[0];
        state = p[1];
        var sid = p.Slice(4, SockIdSize);
        var addrLen = family == 2 ? 4 : 16;
        id = new SocketId(
            addresses is null ? new IPAddress(sid.Slice(4, addrLen)) : addresses.Get(sid.Slice(4, addrLen)),
            BinaryPrimitives.ReadUInt16BigEndian(sid),
            addresses is null ? new IPAddress(sid.Slice(20, addrLen)) : addresses.Get(sid.Slice(20, addrLen)),
            BinaryPrimitives.ReadUInt16BigEndian(sid[2..]),
            BinaryPrimitives.ReadUInt32LittleEndian(sid[36..]),
            BinaryPrimitives.ReadUInt64LittleEndian(sid[40..]));
        error = null;
        return true;
    }

    /// <summary>
    /// Decodes the messages of a subflow dump (one message each, header included) into <paramref name="into"/> and
    /// returns how many could not be decoded. A socket that is not an MPTCP subflow is skipped, not an error.
    /// </summary>
    public static long DecodeSubflows(IEnumerable<byte[]> messages, List<SubflowDiag> into) => Decode(messages, into, (in NetlinkMessage m, out SubflowDiag? x, out DecodeError? e) => TryDecodeSubflow(m, out x, out e));

    /// <summary>As <see cref="DecodeSubflows"/>, for a dump of MPTCP connections.</summary>
    public static long DecodeConnections(IEnumerable<byte[]> messages, List<ConnectionDiag> into) => Decode(messages, into, (in NetlinkMessage m, out ConnectionDiag? x, out DecodeError? e) => TryDecodeConnection(m, out x, out e));

    private delegate bool TryDecoder<T>(in NetlinkMessage m, out T? item, out DecodeError? error);

    private static long Decode<T>(IEnumerable<byte[]> messages, List<T> into, TryDecoder<T> decode)
    {
        long errors = 0;
        foreach (var bytes in messages)
        {
            var r = new NetlinkMessageReader(bytes);
            if (!r.TryRead(out var m, out var readErr))
            {
                errors += readErr is null ? 0 : 1;
                continue;
            }

            if (decode(m, out var item, out var err))
            {
                into.Add(item!);
            }
            else if (err is not null)
            {
                errors++;
            }
        }

        return errors;
    }

    /// <summary>Decodes one TCP dump reply; returns false with no error when the socket is not an MPTCP subflow.</summary>
    public static bool TryDecodeSubflow(in NetlinkMessage m, out SubflowDiag? subflow, out DecodeError? error) =>
        TryDecodeSubflow(m, null, out subflow, out error);

    /// <summary>As above, sharing the address objects of <paramref name="addresses"/> (a dump's sockets have few addresses between them).</summary>
    public static bool TryDecodeSubflow(in NetlinkMessage m, AddressCache? addresses, out SubflowDiag? subflow, out DecodeError? error)
    {
        subflow = null;
        if (!TryReadMessage(m.Payload, m.Offset, addresses, out _, out var state, out var id, out error))
        {
            return false;
        }

        TcpInfo? info = null;
        bool isMptcp = false;
        uint token = 0, remoteToken = 0, flags = 0;
        byte locId = 0, remId = 0;
        var r = new AttributeReader(m.Payload[MsgSize..], m.Offset + NetlinkHeader.Size + MsgSize);
        while (r.TryRead(out var a, out error))
        {
            if (a.Type == AttrInfo)
            {
                info = TcpInfo.Parse(a.Value);
            }
            else if (a.Type == AttrUlpInfo)
            {
                var ulp = new AttributeReader(a.Value, a.Offset + Align.NlaHdrLen);
                while (ulp.TryRead(out var u, out error))
                {
                    if (u.Type == UlpInfoName)
                    {
                        isMptcp = u.Value.TrimEnd((byte)0).SequenceEqual("mptcp"u8);
                    }
                    else if (u.Type == UlpInfoMptcp)
                    {
                        var sf = new AttributeReader(u.Value, u.Offset + Align.NlaHdrLen);
                        while (sf.TryRead(out var f, out error))
                        {
                            switch (f.Type)
                            {
                                case SubflowTokenLoc: f.TryU32(out token); break;
                                case SubflowTokenRem: f.TryU32(out remoteToken); break;
                                case SubflowFlags: f.TryU32(out flags); break;
                                case SubflowIdLoc: f.TryU8(out locId); break;
                                case SubflowIdRem: f.TryU8(out remId); break;
                            }
                        }
                    }

                    if (error is not null)
                    {
                        return false;
                    }
                }
            }

            if (error is not null)
            {
                return false;
            }
        }

        if (error is not null || !isMptcp)
        {
            return false;
        }

        subflow = new SubflowDiag(id, state, token, remoteToken, locId, remId, flags, info ?? TcpInfo.Parse([]));
        return true;
    }

    public static bool TryDecodeConnection(in NetlinkMessage m, out ConnectionDiag? connection, out DecodeError? error) =>
        TryDecodeConnection(m, null, out connection, out error);

    public static bool TryDecodeConnection(in NetlinkMessage m, AddressCache? addresses, out ConnectionDiag? connection, out DecodeError? error)
    {
        connection = null;
        if (!TryReadMessage(m.Payload, m.Offset, addresses, out _, out var state, out var id, out error))
        {
            return false;
        }

        MptcpInfo? info = null;
        var r = new AttributeReader(m.Payload[MsgSize..], m.Offset + NetlinkHeader.Size + MsgSize);
        while (r.TryRead(out var a, out error))
        {
            if (a.Type == AttrInfo)
            {
                info = MptcpInfo.Parse(a.Value);
            }
        }

        if (error is not null)
        {
            return false;
        }

        connection = new ConnectionDiag(id, state, info ?? MptcpInfo.Parse([]), BinaryPrimitives.ReadUInt32LittleEndian(m.Payload[UidOffset..]));
        return true;
    }
}

/// <summary>
/// A sock_diag socket that dumps subflows and connections. Each <see cref="Subflows"/> call is one dump per
/// address family (two syscalls' worth of requests), whatever the number of subflows.
/// </summary>
public sealed class SockDiagClient : IDisposable
{
    private readonly NetlinkSocket _socket;
    private readonly NetlinkWriter _writer = new(128);

    private readonly AddressCache _addresses = new();

    private SockDiagClient(NetlinkSocket socket)
    {
        _socket = socket;
        // A dump datagram is at most 32 KiB (the kernel caps its dump skbs there): one read each, no peek first.
        _socket.PeekSize = false;
    }

    /// <summary>Messages that could not be decoded, over this client's life.</summary>
    public long DecodeErrors { get; private set; }

    public static SockDiagClient Open() => new(NetlinkSocket.Open(NetlinkProtocol.SockDiag, extendedAck: false));

    /// <summary>The socket (its port id, and the datagrams from non-kernel senders it dropped while waiting for replies).</summary>
    public NetlinkSocket Socket => _socket;

    /// <summary>
    /// Every MPTCP subflow of the namespace. Each reply is decoded where it lies in the receive buffer, and the
    /// subflows share their address objects: per subflow only its record and its tcp_info are allocated.
    /// </summary>
    public List<SubflowDiag> Subflows()
    {
        var list = new List<SubflowDiag>();
        void Visit(in NetlinkMessage m)
        {
            if (SockDiag.TryDecodeSubflow(m, _addresses, out var sf, out var err))
            {
                list.Add(sf!);
            }
            else if (err is not null)
            {
                DecodeErrors++;
            }
        }

        Dump((byte)AddressFamilies.Inet, SockDiag.IpProtoTcp, SockDiag.LiveStates, Visit);
        Dump((byte)AddressFamilies.Inet6, SockDiag.IpProtoTcp, SockDiag.LiveStates, Visit);
        return list;
    }

    /// <summary>
    /// The two dumps of <see cref="Subflows"/>, each reply read and dropped undecoded: what a tick costs without our
    /// decoding (the kernel walking its sockets, filling and copying the replies). Returns the messages read.
    /// </summary>
    public int SubflowsUndecoded()
    {
        var n = 0;
        void Count(in NetlinkMessage m) => n++;
        Dump((byte)AddressFamilies.Inet, SockDiag.IpProtoTcp, SockDiag.LiveStates, Count);
        Dump((byte)AddressFamilies.Inet6, SockDiag.IpProtoTcp, SockDiag.LiveStates, Count);
        return n;
    }

    public List<ConnectionDiag> Connections(uint states = SockDiag.LiveStates)
    {
        var list = new List<ConnectionDiag>();
        void Visit(in NetlinkMessage m)
        {
            if (SockDiag.TryDecodeConnection(m, _addresses, out var c, out var err))
            {
                list.Add(c!);
            }
            else if (err is not null)
            {
                DecodeErrors++;
            }
        }

        Dump((byte)AddressFamilies.Inet, SockDiag.IpProtoMptcp, states, Visit);
        Dump((byte)AddressFamilies.Inet6, SockDiag.IpProtoMptcp, states, Visit);
        return list;
    }

    private void Dump(byte family, int protocol, uint states, ReplyVisitor visit)
    {
        _writer.Reset();
        var seq = _socket.NextSequence();
        SockDiag.WriteDumpRequest(_writer, seq, family, protocol, states, withInfo: true);
        try
        {
            _socket.TransactEach(_writer, seq, visit, _ => DecodeErrors++);
        }
        catch (NetlinkException e) when (e.Errno == Errno.ENOENT && family == AddressFamilies.Inet6)
        {
            // No IPv6 in this namespace or kernel.
        }
    }

    public void Dispose() => _socket.Dispose();
}

/// <summary>
/// The addresses a sock_diag decoder has seen, so that a dump of thousands of sockets between a handful of
/// addresses makes a handful of <see cref="IPAddress"/> objects, not two per socket. Bounded: past
/// <see cref="Capacity"/> distinct addresses the oldest slot is reused. Not thread-safe (one per client).
/// </summary>
public sealed class AddressCache
{
    public const int Capacity = 64;

    private readonly UInt128[] _keys = new UInt128[Capacity];
    private readonly int[] _lengths = new int[Capacity];
    private readonly IPAddress?[] _values = new IPAddress?[Capacity];
    private int _count;
    private int _next;

    public IPAddress Get(ReadOnlySpan<byte> bytes)
    {
        Span<byte> k = stackalloc byte[16];
        k.Clear();
        bytes[..Math.Min(16, bytes.Length)].CopyTo(k);
        var key = BinaryPrimitives.ReadUInt128LittleEndian(k);
        for (var i = 0; i < _count; i++)
        {
            // The length too: 0.0.0.0 and :: have the same bytes.
            if (_keys[i] == key && _lengths[i] == bytes.Length)
            {
                return _values[i]!;
            }
        }

        var a = new IPAddress(bytes);
        var slot = _count < Capacity ? _count++ : _next++ % Capacity;
        _keys[slot] = key;
        _lengths[slot] = bytes.Length;
        _values[slot] = a;
        return a;
    }
}
