namespace Smapp.Netlink.Wire;

/// <summary>One netlink message inside a received datagram.</summary>
public readonly ref struct NetlinkMessage
{
    public NetlinkMessage(NetlinkHeader header, ReadOnlySpan<byte> payload, int offset)
        : this(header, payload, offset, default)
    {
    }

    public NetlinkMessage(NetlinkHeader header, ReadOnlySpan<byte> payload, int offset, ReadOnlySpan<byte> bytes)
    {
        Header = header;
        Payload = payload;
        Offset = offset;
        Bytes = bytes;
    }

    public NetlinkHeader Header { get; }

    /// <summary>The bytes after the 16-byte header, up to nlmsg_len.</summary>
    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>Where the message starts in its datagram.</summary>
    public int Offset { get; }

    /// <summary>The whole message, header included (empty when the message was built without its datagram).</summary>
    public ReadOnlySpan<byte> Bytes { get; }
}

/// <summary>
/// Walks the messages of one datagram (NLMSG_OK / NLMSG_NEXT). A message whose length cannot be trusted
/// ends the walk with a <see cref="DecodeError"/>: everything before it has been handed out already, and
/// nothing after it can be framed.
/// </summary>
public ref struct NetlinkMessageReader
{
    private readonly ReadOnlySpan<byte> _buffer;
    private int _offset;
    private bool _stopped;

    public NetlinkMessageReader(ReadOnlySpan<byte> buffer)
    {
        _buffer = buffer;
        _offset = 0;
        _stopped = false;
    }

    /// <summary>Returns false at the end of the datagram, or with <paramref name="error"/> set when framing broke.</summary>
    public bool TryRead(out NetlinkMessage message, out DecodeError? error)
    {
        message = default;
        error = null;
        if (_stopped)
        {
            return false;
        }

        var remaining = _buffer.Length - _offset;
        if (remaining == 0)
        {
            return false;
        }

        if (remaining < NetlinkHeader.Size)
        {
            return Stop(out error, DecodeErrorKind.TruncatedHeader, $"{remaining} bytes left, a header needs {NetlinkHeader.Size}");
        }

        var header = NetlinkHeader.Read(_buffer[_offset..]);
        if (header.Length < NetlinkHeader.Size)
        {
            return Stop(out error, DecodeErrorKind.LengthTooShort, $"nlmsg_len {header.Length} is shorter than the header");
        }

        if (header.Length > remaining)
        {
            return Stop(out error, DecodeErrorKind.LengthPastBuffer, $"nlmsg_len {header.Length} but {remaining} bytes left");
        }

        var length = (int)header.Length;
        message = new NetlinkMessage(header, _buffer.Slice(_offset + NetlinkHeader.Size, length - NetlinkHeader.Size), _offset, _buffer.Slice(_offset, length));
        _offset = Math.Min(_buffer.Length, _offset + Align.Nlmsg(length));
        return true;
    }

    private bool Stop(out DecodeError? error, DecodeErrorKind kind, string detail)
    {
        error = new DecodeError(kind, _offset, detail);
        _stopped = true;
        return false;
    }
}
