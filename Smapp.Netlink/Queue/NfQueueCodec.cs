using System.Buffers.Binary;
using Smapp.Netlink.Wire;

namespace Smapp.Netlink.Queue;

/// <summary><c>struct nfgenmsg</c> (linux/netfilter/nfnetlink.h): family, version, and res_id — the queue number, big-endian.</summary>
public readonly record struct NfGenMsg(byte Family, byte Version, ushort ResourceId)
{
    public const int Size = 4;

    public static NfGenMsg Read(ReadOnlySpan<byte> b) => new(b[0], b[1], BinaryPrimitives.ReadUInt16BigEndian(b[2..]));

    public void Write(Span<byte> b)
    {
        b[0] = Family;
        b[1] = Version;
        BinaryPrimitives.WriteUInt16BigEndian(b[2..], ResourceId);
    }
}

/// <summary>
/// One NFQNL_MSG_PACKET, decoded without allocating: the packet id to give a verdict for and the metadata the
/// kernel sent with it. Optional attributes are null when absent.
/// </summary>
public readonly record struct NfQueuePacket(
    ushort Queue,
    byte Family,
    uint PacketId,
    ushort HwProtocol,
    byte Hook,
    uint? Mark,
    uint? InIfIndex,
    uint? OutIfIndex,
    uint? Priority,
    uint? SkbInfo,
    uint? CapturedFrom,
    int PayloadLength)
{
    /// <summary><c>sizeof(struct nfqnl_msg_packet_hdr)</c>: packed, 7 bytes (be32 id, be16 hw_protocol, u8 hook).</summary>
    public const int PacketHdrSize = 7;
}

/// <summary>How a queue is bound: what the kernel copies, how many packets it may hold, and its flags.</summary>
public sealed record NfQueueOptions
{
    /// <summary>Metadata only by default: a delay line needs the packet id, not the payload.</summary>
    public NfqnlCopyMode CopyMode { get; init; } = NfqnlCopyMode.Meta;

    /// <summary>Bytes of each packet to copy with <see cref="NfqnlCopyMode.Packet"/>.</summary>
    public uint CopyRange { get; init; }

    /// <summary>NFQA_CFG_QUEUE_MAXLEN: packets the kernel holds for this queue before it fails open (default 1024).</summary>
    public uint MaxLength { get; init; } = 65536;

    /// <summary>Fail open (a full queue or socket accepts instead of dropping) and take GSO packets whole.</summary>
    public NfqaCfgFlags Flags { get; init; } = NfqaCfgFlags.FailOpen | NfqaCfgFlags.Gso;

    /// <summary>Socket receive buffer (SO_RCVBUFFORCE), so that a burst of packet messages is not lost (ENOBUFS).</summary>
    public int ReceiveBuffer { get; init; } = 8 * 1024 * 1024;
}

/// <summary>Builds and reads nfnetlink_queue messages (linux/netfilter/nfnetlink_queue.h).</summary>
public static class NfQueueCodec
{
    /// <summary><c>sizeof(struct nfqnl_msg_config_cmd)</c>: u8 command, u8 pad, be16 pf.</summary>
    public const int ConfigCmdSize = 4;

    /// <summary><c>sizeof(struct nfqnl_msg_config_params)</c>: packed be32 copy_range, u8 copy_mode.</summary>
    public const int ConfigParamsSize = 5;

    /// <summary><c>sizeof(struct nfqnl_msg_verdict_hdr)</c>: be32 verdict, be32 id.</summary>
    public const int VerdictHdrSize = 8;

    /// <summary>A whole verdict message: header, nfgenmsg, NFQA_VERDICT_HDR.</summary>
    public const int VerdictMessageSize = NetlinkHeader.Size + NfGenMsg.Size + Align.NlaHdrLen + VerdictHdrSize;

    private static void PutNfGenMsg(NetlinkWriter w, ushort queue)
    {
        Span<byte> b = stackalloc byte[NfGenMsg.Size];
        new NfGenMsg(0, Nfnl.Version0, queue).Write(b);
        w.PutRaw(b);
    }

    private static void PutBe32(NetlinkWriter w, ushort type, uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        w.PutAttribute(type, b);
    }

    private static void PutCommand(NetlinkWriter w, byte command)
    {
        Span<byte> cmd = stackalloc byte[ConfigCmdSize];
        cmd.Clear();
        cmd[0] = command;
        w.PutAttribute(NfqaCfg.Cmd, cmd);
    }

    /// <summary>
    /// NFQNL_MSG_CONFIG that binds <paramref name="queue"/> to this socket and, in the same message, sets its copy
    /// mode, its length and its flags (the kernel applies them after the bind). Asks for an ACK.
    /// </summary>
    public static void WriteBind(NetlinkWriter w, ushort queue, NfQueueOptions options, uint sequence)
    {
        var start = w.BeginMessage(NfqnlMsg.ConfigType, NetlinkFlags.Request | NetlinkFlags.Ack, sequence);
        PutNfGenMsg(w, queue);
        PutCommand(w, NfqnlCfgCmd.Bind);
        Span<byte> p = stackalloc byte[ConfigParamsSize];
        BinaryPrimitives.WriteUInt32BigEndian(p, options.CopyRange);
        p[4] = (byte)options.CopyMode;
        w.PutAttribute(NfqaCfg.Params, p);
        PutBe32(w, NfqaCfg.QueueMaxLen, options.MaxLength);
        // A mask says which flags the message changes; without one the kernel refuses NFQA_CFG_FLAGS (EINVAL).
        PutBe32(w, NfqaCfg.Mask, (uint)(NfqaCfgFlags.FailOpen | NfqaCfgFlags.Gso | options.Flags));
        PutBe32(w, NfqaCfg.Flags, (uint)options.Flags);
        w.EndMessage(start);
    }

    /// <summary>NFQNL_MSG_CONFIG NFQNL_CFG_CMD_UNBIND (the kernel drops whatever the queue still holds). Asks for an ACK.</summary>
    public static void WriteUnbind(NetlinkWriter w, ushort queue, uint sequence)
    {
        var start = w.BeginMessage(NfqnlMsg.ConfigType, NetlinkFlags.Request | NetlinkFlags.Ack, sequence);
        PutNfGenMsg(w, queue);
        PutCommand(w, NfqnlCfgCmd.Unbind);
        w.EndMessage(start);
    }

    /// <summary>NFQNL_MSG_CONFIG with only NFQA_CFG_QUEUE_MAXLEN. With fail-open, 0 makes every new packet pass at once.</summary>
    public static void WriteMaxLength(NetlinkWriter w, ushort queue, uint maxLength, uint sequence, bool ack)
    {
        var start = w.BeginMessage(NfqnlMsg.ConfigType, NetlinkFlags.Request | (ack ? NetlinkFlags.Ack : NetlinkFlags.None), sequence);
        PutNfGenMsg(w, queue);
        PutBe32(w, NfqaCfg.QueueMaxLen, maxLength);
        w.EndMessage(start);
    }

    /// <summary>
    /// NFQNL_MSG_VERDICT for one packet id, or with <paramref name="batch"/> NFQNL_MSG_VERDICT_BATCH: the verdict for
    /// every packet the queue holds with an id up to and including <paramref name="id"/>. No ACK is asked for: the
    /// kernel answers only a refusal (an NLMSG_ERROR with the errno).
    /// </summary>
    public static void WriteVerdict(NetlinkWriter w, ushort queue, uint id, uint verdict, uint sequence, bool batch = false)
    {
        var start = w.BeginMessage(batch ? NfqnlMsg.VerdictBatchType : NfqnlMsg.VerdictType, NetlinkFlags.Request, sequence);
        PutNfGenMsg(w, queue);
        Span<byte> v = stackalloc byte[VerdictHdrSize];
        BinaryPrimitives.WriteUInt32BigEndian(v, verdict);
        BinaryPrimitives.WriteUInt32BigEndian(v[4..], id);
        w.PutAttribute(NfqaAttr.VerdictHdr, v);
        w.EndMessage(start);
    }

    /// <summary>Decodes an NFQNL_MSG_PACKET. Broken input is a <see cref="DecodeError"/>, never an exception.</summary>
    public static bool TryDecodePacket(in NetlinkMessage message, out NfQueuePacket packet, out DecodeError? error)
    {
        packet = default;
        if (message.Header.Type != NfqnlMsg.PacketType)
        {
            error = new DecodeError(DecodeErrorKind.UnexpectedMessage, message.Offset, $"message type 0x{message.Header.Type:x4} is not NFQNL_MSG_PACKET (0x{NfqnlMsg.PacketType:x4})");
            return false;
        }

        var p = message.Payload;
        if (p.Length < NfGenMsg.Size)
        {
            error = new DecodeError(DecodeErrorKind.TruncatedHeader, message.Offset, $"nfgenmsg needs {NfGenMsg.Size} bytes, got {p.Length}");
            return false;
        }

        var gen = NfGenMsg.Read(p);
        var attrOffset = message.Offset + NetlinkHeader.Size + NfGenMsg.Size;
        var reader = new AttributeReader(p[NfGenMsg.Size..], attrOffset);
        bool haveHdr = false;
        uint id = 0;
        ushort hw = 0;
        byte hook = 0;
        uint? mark = null, inDev = null, outDev = null, priority = null, skbInfo = null, capLen = null;
        var payload = 0;
        while (reader.TryRead(out var a, out error))
        {
            switch (a.Type)
            {
                case NfqaAttr.PacketHdr:
                    if (a.Value.Length < NfQueuePacket.PacketHdrSize)
                    {
                        error = a.WrongSize("NFQA_PACKET_HDR", NfQueuePacket.PacketHdrSize);
                        return false;
                    }

                    id = BinaryPrimitives.ReadUInt32BigEndian(a.Value);
                    hw = BinaryPrimitives.ReadUInt16BigEndian(a.Value[4..]);
                    hook = a.Value[6];
                    haveHdr = true;
                    break;
                case NfqaAttr.Mark:
                    if (!TryBe32(a, "NFQA_MARK", ref mark, out error)) return false;
                    break;
                case NfqaAttr.IfIndexInDev:
                    if (!TryBe32(a, "NFQA_IFINDEX_INDEV", ref inDev, out error)) return false;
                    break;
                case NfqaAttr.IfIndexOutDev:
                    if (!TryBe32(a, "NFQA_IFINDEX_OUTDEV", ref outDev, out error)) return false;
                    break;
                case NfqaAttr.Priority:
                    if (!TryBe32(a, "NFQA_PRIORITY", ref priority, out error)) return false;
                    break;
                case NfqaAttr.SkbInfo:
                    if (!TryBe32(a, "NFQA_SKB_INFO", ref skbInfo, out error)) return false;
                    break;
                case NfqaAttr.CapLen:
                    if (!TryBe32(a, "NFQA_CAP_LEN", ref capLen, out error)) return false;
                    break;
                case NfqaAttr.Payload:
                    payload = a.Value.Length;
                    break;
            }
        }

        if (error is not null)
        {
            return false;
        }

        if (!haveHdr)
        {
            error = new DecodeError(DecodeErrorKind.MissingAttribute, message.Offset, "NFQNL_MSG_PACKET without NFQA_PACKET_HDR");
            return false;
        }

        packet = new NfQueuePacket(gen.ResourceId, gen.Family, id, hw, hook, mark, inDev, outDev, priority, skbInfo, capLen, payload);
        return true;
    }

    private static bool TryBe32(in NetlinkAttribute a, string name, ref uint? value, out DecodeError? error)
    {
        if (a.Value.Length != 4)
        {
            error = a.WrongSize(name, 4);
            return false;
        }

        value = BinaryPrimitives.ReadUInt32BigEndian(a.Value);
        error = null;
        return true;
    }

    /// <summary>
    /// The errno of an NLMSG_ERROR (0 for an ACK) and the sequence number it answers, read without allocating;
    /// false when the message is too short to carry them.
    /// </summary>
    public static bool TryReadAck(in NetlinkMessage message, out int errno, out uint sequence)
    {
        errno = 0;
        sequence = 0;
        if (message.Header.Type != NetlinkMessageType.Error || message.Payload.Length < 4 + NetlinkHeader.Size)
        {
            return false;
        }

        errno = -BinaryPrimitives.ReadInt32LittleEndian(message.Payload);
        sequence = BinaryPrimitives.ReadUInt32LittleEndian(message.Payload[(4 + 8)..]);
        return true;
    }
}
