namespace Smapp.Netlink.Mptcp;

/// <summary>mptcp_pm event types (uapi linux/mptcp_pm.h, enum mptcp_event_type).</summary>
public enum MptcpEventType : byte
{
    Unspec = 0,
    Created = 1,
    Established = 2,
    Closed = 3,
    Announced = 6,
    Removed = 7,
    SubEstablished = 10,
    SubClosed = 11,
    SubPriority = 13,
    ListenerCreated = 15,
    ListenerClosed = 16,
}

/// <summary>Event attributes (enum mptcp_event_attr).</summary>
public static class MptcpEventAttr
{
    public const ushort Token = 1;        // u32
    public const ushort Family = 2;       // u16
    public const ushort LocId = 3;        // u8
    public const ushort RemId = 4;        // u8
    public const ushort Saddr4 = 5;       // be32
    public const ushort Saddr6 = 6;       // in6_addr
    public const ushort Daddr4 = 7;       // be32
    public const ushort Daddr6 = 8;       // in6_addr
    public const ushort Sport = 9;        // be16
    public const ushort Dport = 10;       // be16
    public const ushort Backup = 11;      // u8
    public const ushort Error = 12;       // u8
    public const ushort Flags = 13;       // u16
    public const ushort Timeout = 14;     // u32
    public const ushort IfIdx = 15;       // s32
    public const ushort ResetReason = 16; // u32
    public const ushort ResetFlags = 17;  // u32
    public const ushort ServerSide = 18;  // u8
}

/// <summary>Commands of the mptcp_pm family.</summary>
public enum MptcpPmCommand : byte
{
    AddAddr = 1,
    DelAddr = 2,
    GetAddr = 3,
    FlushAddrs = 4,
    SetLimits = 5,
    GetLimits = 6,
    SetFlags = 7,
    Announce = 8,
    Remove = 9,
    SubflowCreate = 10,
    SubflowDestroy = 11,
}

/// <summary>Top-level command attributes (MPTCP_PM_ATTR_*).</summary>
public static class MptcpPmAttr
{
    public const ushort Addr = 1;          // nested address
    public const ushort RcvAddAddrs = 2;   // u32
    public const ushort Subflows = 3;      // u32
    public const ushort Token = 4;         // u32
    public const ushort LocId = 5;         // u8
    public const ushort AddrRemote = 6;    // nested address
}

/// <summary>Nested address attributes (MPTCP_PM_ADDR_ATTR_*).</summary>
public static class MptcpPmAddrAttr
{
    public const ushort Family = 1;  // u16
    public const ushort Id = 2;      // u8
    public const ushort Addr4 = 3;   // in_addr
    public const ushort Addr6 = 4;   // in6_addr
    public const ushort Port = 5;    // u16, host byte order (not big-endian like the event ports)
    public const ushort Flags = 6;   // u32
    public const ushort IfIdx = 7;   // s32
}

/// <summary>MPTCP_PM_ADDR_FLAG_*.</summary>
[Flags]
public enum MptcpAddrFlags : uint
{
    None = 0,
    Signal = 1 << 0,
    Subflow = 1 << 1,
    Backup = 1 << 2,
    Fullmesh = 1 << 3,
    Implicit = 1 << 4,
    Laminar = 1 << 5,
}

public static class MptcpPmNames
{
    public const string Family = "mptcp_pm";
    public const string EventsGroup = "mptcp_pm_events";
    public const string CommandsGroup = "mptcp_pm_cmds";
    public const byte Version = 1;
}
