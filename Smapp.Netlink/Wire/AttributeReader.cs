using System.Buffers.Binary;
using System.Net;

namespace Smapp.Netlink.Wire;

/// <summary>One <c>struct nlattr</c> and its value.</summary>
public readonly ref struct NetlinkAttribute
{
    public const ushort NestedFlag = 0x8000;        // NLA_F_NESTED
    public const ushort NetByteOrderFlag = 0x4000;  // NLA_F_NET_BYTEORDER
    public const ushort TypeMask = 0x3fff;          // NLA_TYPE_MASK

    public NetlinkAttribute(ushort rawType, ReadOnlySpan<byte> value, int offset)
    {
        RawType = rawType;
        Value = value;
        Offset = offset;
    }

    /// <summary>nla_type with the flag bits.</summary>
    public ushort RawType { get; }

    /// <summary>nla_type without NLA_F_NESTED and NLA_F_NET_BYTEORDER.</summary>
    public ushort Type => (ushort)(RawType & TypeMask);

    public bool IsNested => (RawType & NestedFlag) != 0;

    public ReadOnlySpan<byte> Value { get; }

    /// <summary>Offset of the attribute header inside the span the reader walks.</summary>
    public int Offset { get; }

    public bool TryU8(out byte v) => TryFixed(1, out v, static s => s[0]);

    public bool TryU16(out ushort v) => TryFixed(2, out v, BinaryPrimitives.ReadUInt16LittleEndian);

    public bool TryBe16(out ushort v) => TryFixed(2, out v, BinaryPrimitives.ReadUInt16BigEndian);

    public bool TryU32(out uint v) => TryFixed(4, out v, BinaryPrimitives.ReadUInt32LittleEndian);

    public bool TryS32(out int v) => TryFixed(4, out v, BinaryPrimitives.ReadInt32LittleEndian);

    public bool TryU64(out ulong v) => TryFixed(8, out v, BinaryPrimitives.ReadUInt64LittleEndian);

    public bool TryIPv4(out IPAddress? v)
    {
        v = Value.Length == 4 ? new IPAddress(Value) : null;
        return v is not null;
    }

    public bool TryIPv6(out IPAddress? v)
    {
        v = Value.Length == 16 ? new IPAddress(Value) : null;
        return v is not null;
    }

    /// <summary>A NUL-terminated string (NLA_NUL_STRING); tolerates a missing terminator.</summary>
    public string AsString()
    {
        var end = Value.IndexOf((byte)0);
        return System.Text.Encoding.UTF8.GetString(end < 0 ? Value : Value[..end]);
    }

    public DecodeError WrongSize(string name, int expected) =>
        new(DecodeErrorKind.AttributeWrongSize, Offset, $"{name} (type {Type}) has {Value.Length} bytes, expected {expected}");

    private delegate T Reader<T>(ReadOnlySpan<byte> s);

    private bool TryFixed<T>(int size, out T v, Reader<T> read)
    {
        if (Value.Length != size)
        {
            v = default!;
            return false;
        }

        v = read(Value);
        return true;
    }
}

/// <summary>Walks a run of netlink attributes (nla_for_each_attr). Stops with an error on broken framing.</summary>
public ref struct AttributeReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly int _baseOffset;
    private int _offset;
    private bool _stopped;

    public AttributeReader(ReadOnlySpan<byte> data, int baseOffset = 0)
    {
        _data = data;
        _baseOffset = baseOffset;
        _offset = 0;
        _stopped = false;
    }

    public bool TryRead(out NetlinkAttribute attribute, out DecodeError? error)
    {
        attribute = default;
        error = null;
        if (_stopped)
        {
            return false;
        }

        var remaining = _data.Length - _offset;
        if (remaining == 0)
        {
            return false;
        }

        if (remaining < Align.NlaHdrLen)
        {
            return Stop(out error, DecodeErrorKind.AttributeTruncated, $"{remaining} bytes left, an attribute header needs 4");
        }

        var len = BinaryPrimitives.ReadUInt16LittleEndian(_data[_offset..]);
        var type = BinaryPrimitives.ReadUInt16LittleEndian(_data[(_offset + 2)..]);
        if (len < Align.NlaHdrLen)
        {
            return Stop(out error, DecodeErrorKind.AttributeTruncated, $"nla_len {len} is shorter than the attribute header");
        }

        if (len > remaining)
        {
            return Stop(out error, DecodeErrorKind.AttributeLengthPastBuffer, $"nla_len {len} (type {type & NetlinkAttribute.TypeMask}) but {remaining} bytes left");
        }

        attribute = new NetlinkAttribute(type, _data.Slice(_offset + Align.NlaHdrLen, len - Align.NlaHdrLen), _baseOffset + _offset);
        _offset = Math.Min(_data.Length, _offset + Align.Nla(len));
        return true;
    }

    private bool Stop(out DecodeError? error, DecodeErrorKind kind, string detail)
    {
        error = new DecodeError(kind, _baseOffset + _offset, detail);
        _stopped = true;
        return false;
    }
}

/// <summary>An attribute the decoder did not know, kept as it came.</summary>
public sealed record UnknownAttribute(ushort Type, byte[] Value)
{
    public override string ToString() => $"{Type}:{Convert.ToHexString(Value)}";
}
