using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Smapp.Netlink.Wire;

/// <summary>
/// Builds netlink messages into a reusable buffer: a message header patched when the message ends,
/// attributes padded to NLA_ALIGN, nested attributes whose length is patched when their scope closes.
/// </summary>
public sealed class NetlinkWriter
{
    private byte[] _buffer;
    private int _length;

    public NetlinkWriter(int capacity = 256) => _buffer = new byte[capacity];

    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);

    public int Length => _length;

    public byte[] ToArray() => Written.ToArray();

    public void Reset() => _length = 0;

    /// <summary>Starts a message; returns its offset for <see cref="EndMessage"/>.</summary>
    public int BeginMessage(ushort type, NetlinkFlags flags, uint sequence, uint portId = 0)
    {
        var start = _length;
        var span = Grow(NetlinkHeader.Size);
        new NetlinkHeader(0, type, flags, sequence, portId).Write(span);
        return start;
    }

    /// <summary>Patches nlmsg_len of the message that starts at <paramref name="start"/>.</summary>
    public void EndMessage(int start) =>
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(start), (uint)(_length - start));

    /// <summary><c>struct genlmsghdr</c>: cmd, version, reserved.</summary>
    public void PutGenlHeader(byte command, byte version)
    {
        var span = Grow(Align.GenlHdrLen);
        span[0] = command;
        span[1] = version;
        span[2] = 0;
        span[3] = 0;
    }

    /// <summary>Raw bytes (a fixed family header), padded to NLMSG_ALIGN.</summary>
    public void PutRaw(ReadOnlySpan<byte> bytes)
    {
        var span = Grow(Align.Nlmsg(bytes.Length));
        bytes.CopyTo(span);
        span[bytes.Length..].Clear();
    }

    public void PutAttribute(ushort type, ReadOnlySpan<byte> value)
    {
        var total = Align.NlaHdrLen + value.Length;
        var span = Grow(Align.Nla(total));
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)total);
        BinaryPrimitives.WriteUInt16LittleEndian(span[2..], type);
        value.CopyTo(span[Align.NlaHdrLen..]);
        span[total..].Clear();
    }

    public void PutU8(ushort type, byte v) => PutAttribute(type, [v]);

    public void PutU16(ushort type, ushort v)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, v);
        PutAttribute(type, b);
    }

    public void PutBe16(ushort type, ushort v)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, v);
        PutAttribute(type, b);
    }

    public void PutU32(ushort type, uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        PutAttribute(type, b);
    }

    public void PutS32(ushort type, int v) => PutU32(type, unchecked((uint)v));

    public void PutU64(ushort type, ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        PutAttribute(type, b);
    }

    /// <summary>A NUL-terminated string (NLA_NUL_STRING).</summary>
    public void PutString(ushort type, string s)
    {
        var bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(s) + 1];
        System.Text.Encoding.UTF8.GetBytes(s, bytes);
        PutAttribute(type, bytes);
    }

    /// <summary>The address bytes in network order: 4 for IPv4, 16 for IPv6.</summary>
    public void PutAddress(ushort type, IPAddress address)
    {
        Span<byte> b = stackalloc byte[16];
        if (!address.TryWriteBytes(b, out var n))
        {
            throw new ArgumentException($"cannot write address {address}");
        }

        PutAttribute(type, b[..n]);
    }

    public void PutFlag(ushort type) => PutAttribute(type, ReadOnlySpan<byte>.Empty);

    /// <summary>Opens a nested attribute (with NLA_F_NESTED); its length is patched when the scope is disposed.</summary>
    public NestScope BeginNested(ushort type)
    {
        var start = _length;
        var span = Grow(Align.NlaHdrLen);
        BinaryPrimitives.WriteUInt16LittleEndian(span, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(span[2..], (ushort)(type | Wire.NetlinkAttribute.NestedFlag));
        return new NestScope(this, start);
    }

    internal void EndNested(int start) =>
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(start), (ushort)(_length - start));

    private Span<byte> Grow(int n)
    {
        if (_length + n > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + n));
        }

        var span = _buffer.AsSpan(_length, n);
        _length += n;
        return span;
    }

    /// <summary>Closes a nested attribute: <c>using (w.BeginNested(T)) { ... }</c>.</summary>
    public readonly ref struct NestScope
    {
        private readonly NetlinkWriter _writer;
        private readonly int _start;

        internal NestScope(NetlinkWriter writer, int start)
        {
            _writer = writer;
            _start = start;
        }

        public void Dispose() => _writer.EndNested(_start);
    }
}

public static class AddressFamilies
{
    public const ushort Inet = 2;   // AF_INET
    public const ushort Inet6 = 10; // AF_INET6

    public static ushort Of(IPAddress a) => a.AddressFamily == AddressFamily.InterNetworkV6 ? Inet6 : Inet;
}
