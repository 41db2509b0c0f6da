using System.Net;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Wire;

namespace Smapp.Tests.Netlink;

/// <summary>The attribute codec against exact bytes.</summary>
public class CodecTests
{
    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 4)]
    [InlineData(4, 4)]
    [InlineData(5, 8)]
    [InlineData(17, 20)]
    public void Nla_align_rounds_up_to_four(int len, int aligned) => Assert.Equal(aligned, Align.Nla(len));

    [Theory]
    [InlineData(1, (byte)7, new byte[] { 0x05, 0x00, 0x01, 0x00, 0x07, 0x00, 0x00, 0x00 })]
    [InlineData(18, (byte)1, new byte[] { 0x05, 0x00, 0x12, 0x00, 0x01, 0x00, 0x00, 0x00 })]
    public void U8_attribute_is_padded_to_four_bytes(ushort type, byte value, byte[] expected)
    {
        var w = new NetlinkWriter();
        w.PutU8(type, value);
        Assert.Equal(expected, w.ToArray());
    }

    [Fact]
    public void U16_host_order_and_be16_network_order_differ_on_the_wire()
    {
        var w = new NetlinkWriter();
        w.PutU16(5, 5201);
        w.PutBe16(9, 5201);
        Assert.Equal(new byte[] { 6, 0, 5, 0, 0x51, 0x14, 0, 0, 6, 0, 9, 0, 0x14, 0x51, 0, 0 }, w.ToArray());
    }

    [Fact]
    public void Nested_scope_patches_its_length_and_sets_nla_f_nested()
    {
        var w = new NetlinkWriter();
        using (w.BeginNested(1))
        {
            w.PutU16(1, 2);
            w.PutU8(2, 3);
        }

        Assert.Equal(new byte[] { 20, 0, 1, 0x80, 6, 0, 1, 0, 2, 0, 0, 0, 5, 0, 2, 0, 3, 0, 0, 0 }, w.ToArray());
        var r = new AttributeReader(w.Written);
        Assert.True(r.TryRead(out var a, out _));
        Assert.True(a.IsNested);
        Assert.Equal(1, a.Type);
        Assert.Equal(16, a.Value.Length);
    }

    [Fact]
    public void Message_length_is_patched_when_the_message_ends()
    {
        var w = new NetlinkWriter();
        var start = w.BeginMessage(0x1c, NetlinkFlags.Request | NetlinkFlags.Ack, 7);
        w.PutGenlHeader(9, 1);
        w.PutU32(4, 0xdeadbeef);
        w.EndMessage(start);
        var bytes = w.ToArray();
        Assert.Equal(28, bytes.Length);
        Assert.Equal(new NetlinkHeader(28, 0x1c, NetlinkFlags.Request | NetlinkFlags.Ack, 7, 0), NetlinkHeader.Read(bytes));
        Assert.Equal(new byte[] { 9, 1, 0, 0, 8, 0, 4, 0, 0xef, 0xbe, 0xad, 0xde }, bytes[16..]);
    }

    [Fact]
    public void Remove_command_carries_token_and_local_id()
    {
        var w = new NetlinkWriter();
        MptcpCommands.Remove(w, 0x1c, 1, 0x01020304, 5);
        Assert.Equal(
            Convert.FromHexString("24000000" + "1C00" + "0500" + "01000000" + "00000000" + "09010000" + "0800040004030201" + "0500050005000000"),
            w.ToArray());
    }

    [Fact]
    public void Announce_sets_the_signal_flag_and_a_host_order_port()
    {
        var w = new NetlinkWriter();
        MptcpCommands.Announce(w, 0x1c, 1, 42, new MptcpAddress(IPAddress.Parse("198.51.100.1"), 3, 6000));
        var r = new NetlinkMessageReader(w.Written);
        Assert.True(r.TryRead(out var m, out _));
        var attrs = new AttributeReader(m.Payload[4..]);
        Assert.True(attrs.TryRead(out var token, out _));
        Assert.True(token.TryU32(out var t) && t == 42);
        Assert.True(attrs.TryRead(out var addr, out _));
        Assert.True(addr.IsNested);
        Assert.True(MptcpCommands.TryDecodeAddress(addr.Value, 0, out var a, out var err), err?.ToString());
        Assert.Equal(new MptcpAddress(IPAddress.Parse("198.51.100.1"), 3, 6000, MptcpAddrFlags.Signal), a);
        Assert.Contains("060005007017", Convert.ToHexString(w.Written)); // 6000 = 0x1770, little-endian
    }

    [Fact]
    public void Ipv6_addresses_use_the_addr6_attribute()
    {
        var w = new NetlinkWriter();
        MptcpCommands.PutAddress(w, MptcpPmAttr.AddrRemote, new MptcpAddress(IPAddress.Parse("2001:db8:3::1"), null, 80));
        var r = new AttributeReader(w.Written);
        Assert.True(r.TryRead(out var outer, out _));
        Assert.True(MptcpCommands.TryDecodeAddress(outer.Value, 0, out var a, out _));
        Assert.Equal(IPAddress.Parse("2001:db8:3::1"), a!.Address);
        Assert.Contains("14000400" + "20010DB8000300000000000000000001", Convert.ToHexString(w.Written));
    }

    [Fact]
    public void Event_roundtrip_keeps_unknown_attributes()
    {
        var ev = new MptcpEvent
        {
            Type = MptcpEventType.SubClosed,
            Token = 1,
            Family = 2,
            SourceAddress = IPAddress.Parse("192.0.2.1"),
            DestinationAddress = IPAddress.Parse("203.0.113.1"),
            SourcePort = 40000,
            DestinationPort = 5201,
            LocalId = 2,
            RemoteId = 0,
            Backup = false,
            Error = 104,
            ResetReason = 1,
            ResetFlags = 0,
            IfIndex = 3,
            Unknown = [new UnknownAttribute(99, [1, 2, 3])],
        };
        var w = new NetlinkWriter();
        MptcpEventCodec.Encode(w, ev, 0x1c);
        var r = new NetlinkMessageReader(w.Written);
        Assert.True(r.TryRead(out var m, out _));
        Assert.True(MptcpEventCodec.TryDecode(m, out var back, out var err), err?.ToString());
        Assert.Equal(ev, back);
        Assert.Equal("99:010203", back!.Unknown[0].ToString());
    }
}
