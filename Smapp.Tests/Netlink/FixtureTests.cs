using System.Net;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Generic;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Route;
using Smapp.Netlink.Wire;
using Smapp.Tests.Support;

namespace Smapp.Tests.Netlink;

/// <summary>Golden byte vectors captured from kernel 6.18 (Fixtures/capture.sh): decoded, and re-encoded to the same bytes.</summary>
public class FixtureTests
{
    public static TheoryData<string> EventFixtures() => new(Fixture.Names("event-"));

    [Theory]
    [MemberData(nameof(EventFixtures))]
    public void Captured_event_decodes_to_what_the_monitor_printed_and_reencodes_to_the_same_bytes(string name)
    {
        var fx = Fixture.Load(name);
        var bytes = fx.Single;
        var reader = new NetlinkMessageReader(bytes);
        Assert.True(reader.TryRead(out var msg, out var err), err?.ToString());
        Assert.True(MptcpEventCodec.TryDecode(msg, out var ev, out err), err?.ToString());
        var json = fx.Json;

        Assert.Equal(json.GetProperty("event").GetString(), ev!.Name);
        Assert.Empty(ev.Unknown);
        if (json.TryGetProperty("token", out var token)) Assert.Equal(token.GetUInt32(), ev.Token);
        else Assert.Null(ev.Token);
        if (json.TryGetProperty("saddr", out var saddr)) Assert.Equal(IPAddress.Parse(saddr.GetString()!), ev.SourceAddress);
        if (json.TryGetProperty("daddr", out var daddr)) Assert.Equal(IPAddress.Parse(daddr.GetString()!), ev.DestinationAddress);
        if (json.TryGetProperty("sport", out var sport)) Assert.Equal(sport.GetUInt16(), ev.SourcePort);
        if (json.TryGetProperty("dport", out var dport)) Assert.Equal(dport.GetUInt16(), ev.DestinationPort);
        if (json.TryGetProperty("loc_id", out var loc)) Assert.Equal(loc.GetByte(), ev.LocalId);
        if (json.TryGetProperty("rem_id", out var rem)) Assert.Equal(rem.GetByte(), ev.RemoteId);
        if (json.TryGetProperty("error", out var error)) Assert.Equal(error.GetByte(), ev.Error);
        if (json.TryGetProperty("backup", out var backup)) Assert.Equal(backup.GetInt32() == 1, ev.Backup);
        if (json.TryGetProperty("server_side", out var ss)) Assert.Equal(ss.GetInt32() == 1, ev.ServerSide);

        var w = new NetlinkWriter();
        MptcpEventCodec.Encode(w, ev, msg.Header.Type, msg.Header.Sequence);
        Assert.Equal(Convert.ToHexString(bytes), Convert.ToHexString(w.Written));
    }

    [Fact]
    public void Ports_in_events_are_big_endian_on_the_wire()
    {
        var ev = Decode("event-cli-created");
        // 203.0.113.1:5201 is the testbed's server; 5201 = 0x1451 travels as 14 51.
        Assert.Equal((ushort)5201, ev.DestinationPort);
        Assert.Contains("06000A001451", Convert.ToHexString(Fixture.Load("event-cli-created").Single));
    }

    [Fact]
    public void Server_side_created_carries_server_side_and_flags_and_v4_mapped_addresses()
    {
        var ev = Decode("event-srv-created-v6");
        Assert.True(ev.ServerSide);
        Assert.Equal((ushort)2, ev.Flags);
        Assert.Equal((ushort)AddressFamilies.Inet6, ev.Family);
        Assert.True(ev.SourceAddress!.IsIPv4MappedToIPv6);
        Assert.Equal(IPAddress.Parse("203.0.113.1"), ev.SourceAddress.MapToIPv4());
    }

    [Fact]
    public void Client_side_created_has_no_server_side_attribute()
    {
        var ev = Decode("event-cli-created");
        Assert.Null(ev.ServerSide);
        Assert.Null(ev.Flags);
    }

    [Fact]
    public void A_join_refused_by_the_peer_closes_with_error_111()
    {
        var ev = Decode("event-cli-sub_closed-error");
        Assert.Equal(MptcpEventType.SubClosed, ev.Type);
        Assert.Equal((byte)111, ev.Error);
        Assert.Equal((ushort)5999, ev.DestinationPort);
    }

    [Fact]
    public void Listener_events_carry_family_port_and_address_but_no_token()
    {
        var ev = Decode("event-srv-listener_created");
        Assert.Equal(MptcpEventType.ListenerCreated, ev.Type);
        Assert.Null(ev.Token);
        Assert.Equal((ushort)5300, ev.SourcePort);
        Assert.Equal(IPAddress.Parse("203.0.113.1"), ev.SourceAddress);
    }

    [Fact]
    public void Ack_without_error_is_success()
    {
        var fx = Fixture.Load("ack-ok");
        var r = new NetlinkMessageReader(fx.Single);
        Assert.True(r.TryRead(out var m, out _));
        Assert.Equal(NetlinkMessageType.Error, m.Header.Type);
        Assert.True(NetlinkAck.TryDecode(m, out var ack, out var err), err?.ToString());
        Assert.True(ack!.IsSuccess);
    }

    [Fact]
    public void Refusal_carries_errno_and_the_kernels_extended_ack_text()
    {
        var fx = Fixture.Load("ack-error-invalid-token");
        var r = new NetlinkMessageReader(fx.Single);
        Assert.True(r.TryRead(out var m, out _));
        Assert.True(NetlinkAck.TryDecode(m, out var ack, out var err), err?.ToString());
        Assert.Equal(22, ack!.Errno);
        Assert.Equal("invalid token", ack.Message);
        Assert.NotNull(ack.BadAttributeOffset);
        Assert.Contains("EINVAL", ack.ToString());
    }

    [Fact]
    public void Family_reply_names_the_mptcp_pm_family_and_its_two_multicast_groups()
    {
        var fx = Fixture.Load("genl-getfamily-reply");
        var r = new NetlinkMessageReader(fx.Datagrams[0]);
        Assert.True(r.TryRead(out var m, out _));
        Assert.True(GenericNetlink.TryDecodeFamily(m, out var family, out var err), err?.ToString());
        Assert.Equal("mptcp_pm", family!.Name);
        Assert.Equal(1u, family.Version);
        Assert.Contains(MptcpPmNames.EventsGroup, family.MulticastGroups.Keys);
        Assert.Contains(MptcpPmNames.CommandsGroup, family.MulticastGroups.Keys);
        Assert.Equal(family.Id, Decode("event-cli-created", out var header).Type == MptcpEventType.Created ? header.Type : 0);
    }

    [Fact]
    public void Family_request_is_byte_identical_to_the_one_the_kernel_answered()
    {
        var fx = Fixture.Load("genl-getfamily-request").Single;
        var seq = NetlinkHeader.Read(fx).Sequence;
        var w = new NetlinkWriter();
        GenericNetlink.WriteGetFamily(w, "mptcp_pm", seq);
        Assert.Equal(Convert.ToHexString(fx), Convert.ToHexString(w.Written));
    }

    [Fact]
    public void Subflow_create_request_is_byte_identical_to_the_one_the_kernel_accepted()
    {
        var fx = Fixture.Load("cmd-subflow-create").Single;
        var h = NetlinkHeader.Read(fx);
        var token = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(fx.AsSpan(NetlinkHeader.Size + 4 + 4));
        var w = new NetlinkWriter();
        MptcpCommands.SubflowCreate(w, h.Type, h.Sequence, token,
            new MptcpAddress(IPAddress.Parse("198.51.100.1"), 2),
            new MptcpAddress(IPAddress.Parse("203.0.113.1"), null, 5201));
        Assert.Equal(Convert.ToHexString(fx), Convert.ToHexString(w.Written));
        // MPTCP_PM_ADDR_ATTR_PORT is host order: 5201 = 0x1451 travels as 51 14.
        Assert.Contains("060005005114", Convert.ToHexString(fx));
    }

    [Fact]
    public void Get_addr_dump_reply_decodes_the_signal_endpoint_with_its_port()
    {
        var fx = Fixture.Load("reply-get-addr");
        var r = new NetlinkMessageReader(fx.Datagrams[0]);
        Assert.True(r.TryRead(out var m, out _));
        Assert.True(MptcpCommands.TryDecodeAddrReply(m, out var a, out var err), err?.ToString());
        Assert.Equal(IPAddress.Parse("203.0.113.1"), a!.Address);
        Assert.Equal((byte)7, a.Id);
        Assert.Equal((ushort)5300, a.Port);
        Assert.Equal(MptcpAddrFlags.Signal, a.Flags);
    }

    [Fact]
    public void Get_limits_reply_decodes()
    {
        var fx = Fixture.Load("reply-get-limits");
        var r = new NetlinkMessageReader(fx.Datagrams[0]);
        Assert.True(r.TryRead(out var m, out _));
        Assert.True(MptcpCommands.TryDecodeLimits(m, out var l, out var err), err?.ToString());
        Assert.Equal(new MptcpLimits(8, 8), l);
    }

    [Fact]
    public void Rtnetlink_address_messages_decode()
    {
        var added = DecodeAddr("rtnl-addr_added");
        Assert.False(added.Removed);
        Assert.Equal(IPAddress.Parse("192.0.2.9"), added.Address);
        Assert.Equal((byte)28, added.PrefixLength);
        Assert.Equal("wifi", added.Label);
        Assert.True(added.IsUsable);
        Assert.True(DecodeAddr("rtnl-addr_removed").Removed);
    }

    [Fact]
    public void Rtnetlink_link_messages_decode_up_and_down()
    {
        var down = DecodeLink("rtnl-link_down");
        var up = DecodeLink("rtnl-link_up");
        Assert.Equal("cell", down.Name);
        Assert.False(down.IsUp && down.IsRunning);
        Assert.True(up.IsUp);
    }

    [Fact]
    public void Sock_diag_tcp_dump_yields_the_connections_two_subflows_with_one_token()
    {
        var fx = Fixture.Load("diag-tcp-ipv4");
        var subflows = new List<SubflowDiag>();
        var done = false;
        foreach (var d in fx.Datagrams)
        {
            var r = new NetlinkMessageReader(d);
            while (r.TryRead(out var m, out var err))
            {
                if (m.Header.Type == NetlinkMessageType.Done)
                {
                    done = true;
                }
                else if (SockDiag.TryDecodeSubflow(m, out var sf, out err))
                {
                    subflows.Add(sf!);
                }
                else
                {
                    Assert.Null(err);
                }
            }
        }

        Assert.True(done);
        Assert.Equal(2, subflows.Count);
        Assert.Single(subflows.Select(s => s.Token).Distinct());
        var initial = Assert.Single(subflows, s => s.LocalId == 0);
        var second = Assert.Single(subflows, s => s.LocalId == 2);
        Assert.Equal(IPAddress.Parse("192.0.2.1"), initial.Id.Source);
        Assert.Equal(IPAddress.Parse("198.51.100.1"), second.Id.Source);
        Assert.False(second.BackupLocal); // captured before `subflow backup on`
        Assert.NotEqual(0u, second.SubflowFlags & SubflowDiag.FlagJoinLocal);
        Assert.All(subflows, s => Assert.Equal((ushort)5201, s.Id.DestinationPort));
        Assert.All(subflows, s => Assert.InRange(s.Info.RtoUs, 200_000u, 3_000_000u));
        Assert.True(initial.Info.BytesAcked > 0);
    }

    [Fact]
    public void Sock_diag_mptcp_dump_yields_the_connection_and_its_token()
    {
        var conn = Fixture.Load("diag-mptcp-ipv4");
        var tcp = Fixture.Load("diag-tcp-ipv4");
        var r = new NetlinkMessageReader(conn.Datagrams[0]);
        Assert.True(r.TryRead(out var m, out _));
        Assert.True(SockDiag.TryDecodeConnection(m, out var c, out var err), err?.ToString());
        var r2 = new NetlinkMessageReader(tcp.Datagrams[0]);
        Assert.True(r2.TryRead(out var m2, out _));
        Assert.True(SockDiag.TryDecodeSubflow(m2, out var sf, out _));
        Assert.Equal(sf!.Token, c!.Info.Token);
        Assert.Equal((ushort)5201, c.Id.DestinationPort);
        Assert.Equal(2, c.Info.Subflows + 1);
        Assert.False(c.Info.Fallback);
        Assert.Equal(0u, c.Uid); // captured as root
    }

    [Fact]
    public void Sock_diag_mptcp_dump_yields_the_owner_uid_from_idiag_uid()
    {
        // The captured reply with idiag_uid (payload offset 64, host order) patched to 65534 (nobody).
        var datagram = Fixture.Load("diag-mptcp-ipv4").Datagrams[0].ToArray();
        var at = NetlinkHeader.Size + SockDiag.UidOffset;
        Assert.Equal("00000000", Convert.ToHexString(datagram, at, 4));
        datagram[at] = 0xFE;
        datagram[at + 1] = 0xFF;
        var r = new NetlinkMessageReader(datagram);
        Assert.True(r.TryRead(out var m, out _));
        Assert.True(SockDiag.TryDecodeConnection(m, out var c, out var err), err?.ToString());
        Assert.Equal(65534u, c!.Uid);
        Assert.Equal((ushort)5201, c.Id.DestinationPort);
    }

    [Fact]
    public void Sock_diag_mptcp_request_is_byte_identical_to_the_one_the_kernel_answered()
    {
        var fx = Fixture.Load("diag-request-mptcp").Single;
        var w = new NetlinkWriter();
        SockDiag.WriteDumpRequest(w, NetlinkHeader.Read(fx).Sequence, (byte)AddressFamilies.Inet, SockDiag.IpProtoMptcp, SockDiag.LiveStates, withInfo: true);
        Assert.Equal(Convert.ToHexString(fx), Convert.ToHexString(w.Written));
    }

    private static MptcpEvent Decode(string name) => Decode(name, out _);

    private static MptcpEvent Decode(string name, out NetlinkHeader header)
    {
        var r = new NetlinkMessageReader(Fixture.Load(name).Single);
        Assert.True(r.TryRead(out var m, out _));
        header = m.Header;
        Assert.True(MptcpEventCodec.TryDecode(m, out var ev, out var err), err?.ToString());
        return ev!;
    }

    private static RtAddress DecodeAddr(string name)
    {
        var r = new NetlinkMessageReader(Fixture.Load(name).Single);
        Assert.True(r.TryRead(out var m, out _));
        Assert.True(Rtnetlink.TryDecodeAddress(m, out var a, out var err), err?.ToString());
        return a!;
    }

    private static RtLink DecodeLink(string name)
    {
        var r = new NetlinkMessageReader(Fixture.Load(name).Single);
        Assert.True(r.TryRead(out var m, out _));
        Assert.True(Rtnetlink.TryDecodeLink(m, out var l, out var err), err?.ToString());
        return l!;
    }
}
