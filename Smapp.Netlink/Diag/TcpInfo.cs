using System.Buffers.Binary;

namespace Smapp.Netlink.Diag;

/// <summary>Byte offsets of <c>struct tcp_info</c> (linux/tcp.h); checked against the C header by the tests.</summary>
public static class TcpInfoLayout
{
    public const int State = 0, CaState = 1, Retransmits = 2, Probes = 3, Backoff = 4, Options = 5;
    public const int Rto = 8, Ato = 12, SndMss = 16, RcvMss = 20, Unacked = 24, Sacked = 28, Lost = 32, Retrans = 36;
    public const int LastDataSent = 44, LastDataRecv = 52, LastAckRecv = 56, Pmtu = 60;
    public const int Rtt = 68, RttVar = 72, SndSsthresh = 76, SndCwnd = 80, TotalRetrans = 100;
    public const int PacingRate = 104, MaxPacingRate = 112, BytesAcked = 120, BytesReceived = 128;
    public const int SegsOut = 136, SegsIn = 140, NotsentBytes = 144, MinRtt = 148;
    public const int DeliveryRate = 160, BusyTime = 168, Delivered = 192, BytesSent = 200, BytesRetrans = 208;
    public const int SndWnd = 228;

    /// <summary>Bytes needed to read every field this type keeps (up to tcpi_bytes_retrans).</summary>
    public const int MinimumSize = BytesRetrans + 8;
}

/// <summary>
/// The figures of one subflow's <c>struct tcp_info</c> that controllers use. Times in microseconds as the
/// kernel gives them (rto, rtt), rates in bytes per second.
/// </summary>
public sealed record TcpInfo
{
    public byte State { get; init; }

    public byte CaState { get; init; }

    public byte Retransmits { get; init; }

    public byte Backoff { get; init; }

    public uint RtoUs { get; init; }

    public uint RttUs { get; init; }

    public uint RttVarUs { get; init; }

    public uint MinRttUs { get; init; }

    public uint SndCwnd { get; init; }

    public uint SndMss { get; init; }

    public uint Unacked { get; init; }

    public uint Lost { get; init; }

    public uint TotalRetrans { get; init; }

    public ulong PacingRate { get; init; }

    public ulong DeliveryRate { get; init; }

    public ulong BytesAcked { get; init; }

    public ulong BytesReceived { get; init; }

    public ulong BytesSent { get; init; }

    public ulong BytesRetrans { get; init; }

    public uint LastDataSentMs { get; init; }

    public uint LastAckRecvMs { get; init; }

    /// <summary>Parses as much of the struct as the kernel sent; fields past its end stay 0.</summary>
    public static TcpInfo Parse(ReadOnlySpan<byte> b)
    {
        var f = new StructReader(b);
        return new TcpInfo
        {
            State = f.U8(TcpInfoLayout.State),
            CaState = f.U8(TcpInfoLayout.CaState),
            Retransmits = f.U8(TcpInfoLayout.Retransmits),
            Backoff = f.U8(TcpInfoLayout.Backoff),
            RtoUs = f.U32(TcpInfoLayout.Rto),
            RttUs = f.U32(TcpInfoLayout.Rtt),
            RttVarUs = f.U32(TcpInfoLayout.RttVar),
            MinRttUs = f.U32(TcpInfoLayout.MinRtt),
            SndCwnd = f.U32(TcpInfoLayout.SndCwnd),
            SndMss = f.U32(TcpInfoLayout.SndMss),
            Unacked = f.U32(TcpInfoLayout.Unacked),
            Lost = f.U32(TcpInfoLayout.Lost),
            TotalRetrans = f.U32(TcpInfoLayout.TotalRetrans),
            PacingRate = f.U64(TcpInfoLayout.PacingRate),
            DeliveryRate = f.U64(TcpInfoLayout.DeliveryRate),
            BytesAcked = f.U64(TcpInfoLayout.BytesAcked),
            BytesReceived = f.U64(TcpInfoLayout.BytesReceived),
            BytesSent = f.U64(TcpInfoLayout.BytesSent),
            BytesRetrans = f.U64(TcpInfoLayout.BytesRetrans),
            LastDataSentMs = f.U32(TcpInfoLayout.LastDataSent),
            LastAckRecvMs = f.U32(TcpInfoLayout.LastAckRecv),
        };
    }
}

/// <summary>Byte offsets of <c>struct mptcp_info</c> (linux/mptcp.h).</summary>
public static class MptcpInfoLayout
{
    public const int Subflows = 0, AddAddrSignal = 1, AddAddrAccepted = 2, SubflowsMax = 3;
    public const int Flags = 8, Token = 12, WriteSeq = 16, SndUna = 24, RcvNxt = 32;
    public const int LocalAddrUsed = 40, LocalAddrMax = 41, CsumEnabled = 42;

    // Added after the 6.1 header (kernel 6.5+): present when the kernel's struct is long enough.
    public const int Retransmits = 44, BytesRetrans = 48, BytesSent = 56, BytesReceived = 64, BytesAcked = 72;
}

/// <summary>The MPTCP-level figures of a connection (<c>struct mptcp_info</c> over IPPROTO_MPTCP).</summary>
public sealed record MptcpInfo
{
    public byte Subflows { get; init; }

    public byte AddAddrSignal { get; init; }

    public byte AddAddrAccepted { get; init; }

    public byte SubflowsMax { get; init; }

    public uint Flags { get; init; }

    public uint Token { get; init; }

    public ulong WriteSeq { get; init; }

    public ulong SndUna { get; init; }

    public ulong RcvNxt { get; init; }

    public byte LocalAddrUsed { get; init; }

    public uint Retransmits { get; init; }

    public ulong BytesSent { get; init; }

    public ulong BytesReceived { get; init; }

    public ulong BytesAcked { get; init; }

    /// <summary>MPTCP_INFO_FLAG_FALLBACK: the connection fell back to plain TCP.</summary>
    public bool Fallback => (Flags & 1) != 0;

    public static MptcpInfo Parse(ReadOnlySpan<byte> b)
    {
        var f = new StructReader(b);
        return new MptcpInfo
        {
            Subflows = f.U8(MptcpInfoLayout.Subflows),
            AddAddrSignal = f.U8(MptcpInfoLayout.AddAddrSignal),
            AddAddrAccepted = f.U8(MptcpInfoLayout.AddAddrAccepted),
            SubflowsMax = f.U8(MptcpInfoLayout.SubflowsMax),
            Flags = f.U32(MptcpInfoLayout.Flags),
            Token = f.U32(MptcpInfoLayout.Token),
            WriteSeq = f.U64(MptcpInfoLayout.WriteSeq),
            SndUna = f.U64(MptcpInfoLayout.SndUna),
            RcvNxt = f.U64(MptcpInfoLayout.RcvNxt),
            LocalAddrUsed = f.U8(MptcpInfoLayout.LocalAddrUsed),
            Retransmits = f.U32(MptcpInfoLayout.Retransmits),
            BytesSent = f.U64(MptcpInfoLayout.BytesSent),
            BytesReceived = f.U64(MptcpInfoLayout.BytesReceived),
            BytesAcked = f.U64(MptcpInfoLayout.BytesAcked),
        };
    }
}

/// <summary>Reads fields of a kernel struct that may be shorter (older kernel) than the layout: missing fields read 0.</summary>
internal readonly ref struct StructReader
{
    private readonly ReadOnlySpan<byte> _b;

    public StructReader(ReadOnlySpan<byte> b) => _b = b;

    public byte U8(int o) => o < _b.Length ? _b[o] : (byte)0;

    public uint U32(int o) => o + 4 <= _b.Length ? BinaryPrimitives.ReadUInt32LittleEndian(_b[o..]) : 0;

    public ulong U64(int o) => o + 8 <= _b.Length ? BinaryPrimitives.ReadUInt64LittleEndian(_b[o..]) : 0;
}
