using System.Buffers.Binary;

namespace Smapp.Netlink.Wire;

/// <summary><c>struct nlmsghdr</c> (linux/netlink.h): 16 bytes, host byte order.</summary>
public readonly record struct NetlinkHeader(uint Length, ushort Type, NetlinkFlags Flags, uint Sequence, uint PortId)
{
    public const int Size = 16;

    public static NetlinkHeader Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(b),
        BinaryPrimitives.ReadUInt16LittleEndian(b[4..]),
        (NetlinkFlags)BinaryPrimitives.ReadUInt16LittleEndian(b[6..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[8..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[12..]));

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, Length);
        BinaryPrimitives.WriteUInt16LittleEndian(b[4..], Type);
        BinaryPrimitives.WriteUInt16LittleEndian(b[6..], (ushort)Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], Sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], PortId);
    }
}

/// <summary>Netlink message types below NLMSG_MIN_TYPE.</summary>
public static class NetlinkMessageType
{
    public const ushort Noop = 1;     // NLMSG_NOOP
    public const ushort Error = 2;    // NLMSG_ERROR
    public const ushort Done = 3;     // NLMSG_DONE
    public const ushort Overrun = 4;  // NLMSG_OVERRUN
    public const ushort MinType = 16; // NLMSG_MIN_TYPE
}

/// <summary>nlmsg_flags (linux/netlink.h).</summary>
[Flags]
public enum NetlinkFlags : ushort
{
    None = 0,
    Request = 0x1,
    Multi = 0x2,
    Ack = 0x4,
    Echo = 0x8,
    DumpInterrupted = 0x10,
    DumpFiltered = 0x20,
    // GET requests
    Root = 0x100,
    Match = 0x200,
    Atomic = 0x400,
    Dump = Root | Match,
    // NEW requests (same bits as GET's, other meaning)
    Replace = 0x100,
    Excl = 0x200,
    Create = 0x400,
    Append = 0x800,
    // NLMSG_ERROR flags
    Capped = 0x100,
    AckTlvs = 0x200,
}
