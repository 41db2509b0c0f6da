using System.Buffers.Binary;

namespace Smapp.Netlink.Wire;

/// <summary>
/// The kernel's answer to a request (NLMSG_ERROR): errno 0 is an ACK; otherwise the errno and, with
/// NETLINK_EXT_ACK, the extended-ack text and offset.
/// </summary>
public sealed record NetlinkAck(int Errno, string? Message, uint? BadAttributeOffset, uint Sequence)
{
    public bool IsSuccess => Errno == 0;

    private const ushort AttrMsg = 1;   // NLMSGERR_ATTR_MSG
    private const ushort AttrOffs = 2;  // NLMSGERR_ATTR_OFFS

    /// <summary>Decodes the payload of an NLMSG_ERROR message: <c>struct nlmsgerr</c> plus TLVs.</summary>
    public static bool TryDecode(in NetlinkMessage message, out NetlinkAck? ack, out DecodeError? error)
    {
        ack = null;
        error = null;
        var p = message.Payload;
        if (p.Length < 4 + NetlinkHeader.Size)
        {
            error = new DecodeError(DecodeErrorKind.TruncatedHeader, message.Offset, $"nlmsgerr needs {4 + NetlinkHeader.Size} bytes, got {p.Length}");
            return false;
        }

        var errno = -BinaryPrimitives.ReadInt32LittleEndian(p);
        var inner = NetlinkHeader.Read(p[4..]);
        var tlvStart = 4 + NetlinkHeader.Size;
        if ((message.Header.Flags & NetlinkFlags.Capped) == 0)
        {
            // Not capped: the whole request was echoed back.
            tlvStart = 4 + Align.Nlmsg((int)Math.Min(inner.Length, (uint)(p.Length - 4)));
        }

        string? text = null;
        uint? offset = null;
        if ((message.Header.Flags & NetlinkFlags.AckTlvs) != 0 && tlvStart <= p.Length)
        {
            var reader = new AttributeReader(p[tlvStart..]);
            while (reader.TryRead(out var a, out _))
            {
                if (a.Type == AttrMsg)
                {
                    text = a.AsString();
                }
                else if (a.Type == AttrOffs && a.TryU32(out var o))
                {
                    offset = o;
                }
            }
        }

        ack = new NetlinkAck(errno, text, offset, message.Header.Sequence);
        return true;
    }

    public override string ToString() => IsSuccess
        ? "ok"
        : $"{Smapp.Netlink.Errno.Name(Errno)} ({Smapp.Netlink.Errno.Describe(Errno)}){(Message is null ? "" : $": {Message}")}";
}

/// <summary>A request the kernel refused, for the synchronous helpers.</summary>
public sealed class NetlinkException : Exception
{
    public NetlinkException(int errno, string? kernelMessage, string? context = null)
        : base(Format(errno, kernelMessage, context))
    {
        Errno = errno;
        KernelMessage = kernelMessage;
    }

    public int Errno { get; }

    public string? KernelMessage { get; }

    public string ErrnoName => Smapp.Netlink.Errno.Name(Errno);

    private static string Format(int errno, string? text, string? context) =>
        $"{(context is null ? "" : context + ": ")}{Smapp.Netlink.Errno.Name(errno)} ({Smapp.Netlink.Errno.Describe(errno)}){(text is null ? "" : $": {text}")}";
}
