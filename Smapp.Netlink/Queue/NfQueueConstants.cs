namespace Smapp.Netlink.Queue;

/// <summary>nfnetlink framing (linux/netfilter/nfnetlink.h): message type = subsystem &lt;&lt; 8 | operation.</summary>
public static class Nfnl
{
    public const byte SubsysQueue = 3;   // NFNL_SUBSYS_QUEUE
    public const byte Version0 = 0;      // NFNETLINK_V0

    /// <summary>nfnl_msg_type(subsys, msg)</summary>
    public static ushort MessageType(byte subsystem, byte message) => (ushort)(subsystem << 8 | message);

    /// <summary>NFNL_SUBSYS_ID(type)</summary>
    public static byte SubsystemOf(ushort type) => (byte)((type & 0xff00) >> 8);

    /// <summary>NFNL_MSG_TYPE(type)</summary>
    public static byte MessageOf(ushort type) => (byte)(type & 0x00ff);
}

/// <summary>enum nfqnl_msg_types (linux/netfilter/nfnetlink_queue.h).</summary>
public static class NfqnlMsg
{
    public const byte Packet = 0;        // NFQNL_MSG_PACKET: packet from kernel to userspace
    public const byte Verdict = 1;       // NFQNL_MSG_VERDICT: verdict from userspace to kernel
    public const byte Config = 2;        // NFQNL_MSG_CONFIG: connect to a particular queue
    public const byte VerdictBatch = 3;  // NFQNL_MSG_VERDICT_BATCH: one verdict for every id up to and including the given one

    public static ushort PacketType => Nfnl.MessageType(Nfnl.SubsysQueue, Packet);

    public static ushort VerdictType => Nfnl.MessageType(Nfnl.SubsysQueue, Verdict);

    public static ushort ConfigType => Nfnl.MessageType(Nfnl.SubsysQueue, Config);

    public static ushort VerdictBatchType => Nfnl.MessageType(Nfnl.SubsysQueue, VerdictBatch);
}

/// <summary>enum nfqnl_attr_type: the attributes of NFQNL_MSG_PACKET and of verdicts. Integers are big-endian.</summary>
public static class NfqaAttr
{
    public const ushort PacketHdr = 1;       // NFQA_PACKET_HDR: struct nfqnl_msg_packet_hdr
    public const ushort VerdictHdr = 2;      // NFQA_VERDICT_HDR: struct nfqnl_msg_verdict_hdr
    public const ushort Mark = 3;            // NFQA_MARK: __be32
    public const ushort Timestamp = 4;       // NFQA_TIMESTAMP: struct nfqnl_msg_packet_timestamp
    public const ushort IfIndexInDev = 5;    // NFQA_IFINDEX_INDEV: __be32
    public const ushort IfIndexOutDev = 6;   // NFQA_IFINDEX_OUTDEV: __be32
    public const ushort IfIndexPhysInDev = 7;  // NFQA_IFINDEX_PHYSINDEV
    public const ushort IfIndexPhysOutDev = 8; // NFQA_IFINDEX_PHYSOUTDEV
    public const ushort HwAddr = 9;          // NFQA_HWADDR: struct nfqnl_msg_packet_hw
    public const ushort Payload = 10;        // NFQA_PAYLOAD
    public const ushort Ct = 11;             // NFQA_CT
    public const ushort CtInfo = 12;         // NFQA_CT_INFO
    public const ushort CapLen = 13;         // NFQA_CAP_LEN: __be32 length of the packet when the copy was cut
    public const ushort SkbInfo = 14;        // NFQA_SKB_INFO: __be32 NFQA_SKB_* flags
    public const ushort Exp = 15;            // NFQA_EXP
    public const ushort Uid = 16;            // NFQA_UID
    public const ushort Gid = 17;            // NFQA_GID
    public const ushort SecCtx = 18;         // NFQA_SECCTX
    public const ushort Vlan = 19;           // NFQA_VLAN
    public const ushort L2Hdr = 20;          // NFQA_L2HDR
    public const ushort Priority = 21;       // NFQA_PRIORITY: __be32
}

/// <summary>enum nfqnl_attr_config: the attributes of NFQNL_MSG_CONFIG. Integers are big-endian.</summary>
public static class NfqaCfg
{
    public const ushort Cmd = 1;         // NFQA_CFG_CMD: struct nfqnl_msg_config_cmd
    public const ushort Params = 2;      // NFQA_CFG_PARAMS: struct nfqnl_msg_config_params (packed, 5 bytes)
    public const ushort QueueMaxLen = 3; // NFQA_CFG_QUEUE_MAXLEN: __be32
    public const ushort Mask = 4;        // NFQA_CFG_MASK: __be32, which flags NFQA_CFG_FLAGS changes
    public const ushort Flags = 5;       // NFQA_CFG_FLAGS: __be32
}

/// <summary>enum nfqnl_msg_config_cmds.</summary>
public static class NfqnlCfgCmd
{
    public const byte None = 0;      // NFQNL_CFG_CMD_NONE
    public const byte Bind = 1;      // NFQNL_CFG_CMD_BIND
    public const byte Unbind = 2;    // NFQNL_CFG_CMD_UNBIND
    public const byte PfBind = 3;    // NFQNL_CFG_CMD_PF_BIND (obsolete: the kernel ignores it)
    public const byte PfUnbind = 4;  // NFQNL_CFG_CMD_PF_UNBIND (obsolete)
}

/// <summary>enum nfqnl_config_mode.</summary>
public enum NfqnlCopyMode : byte
{
    /// <summary>NFQNL_COPY_NONE: the kernel refuses to queue to such a queue (EINVAL).</summary>
    None = 0,

    /// <summary>NFQNL_COPY_META: the packet's metadata only, no payload.</summary>
    Meta = 1,

    /// <summary>NFQNL_COPY_PACKET: metadata and up to copy_range bytes of the packet.</summary>
    Packet = 2,
}

/// <summary>NFQA_CFG_F_* flags of NFQA_CFG_FLAGS.</summary>
[Flags]
public enum NfqaCfgFlags : uint
{
    None = 0,

    /// <summary>NFQA_CFG_F_FAIL_OPEN: accept instead of drop when the queue is full or the socket cannot take the message.</summary>
    FailOpen = 1 << 0,

    /// <summary>NFQA_CFG_F_CONNTRACK</summary>
    Conntrack = 1 << 1,

    /// <summary>NFQA_CFG_F_GSO: queue GSO packets whole instead of segmenting them first.</summary>
    Gso = 1 << 2,

    /// <summary>NFQA_CFG_F_UID_GID</summary>
    UidGid = 1 << 3,

    /// <summary>NFQA_CFG_F_SECCTX</summary>
    SecCtx = 1 << 4,
}

/// <summary>Netfilter verdicts (linux/netfilter.h).</summary>
public static class NfVerdict
{
    public const uint Drop = 0;    // NF_DROP
    public const uint Accept = 1;  // NF_ACCEPT
    public const uint Repeat = 4;  // NF_REPEAT
}

/// <summary>Netfilter hooks (enum nf_inet_hooks), as NFQA_PACKET_HDR reports them.</summary>
public static class NfInetHook
{
    public const byte PreRouting = 0;   // NF_INET_PRE_ROUTING
    public const byte LocalIn = 1;      // NF_INET_LOCAL_IN
    public const byte Forward = 2;      // NF_INET_FORWARD
    public const byte LocalOut = 3;     // NF_INET_LOCAL_OUT
    public const byte PostRouting = 4;  // NF_INET_POST_ROUTING
}
