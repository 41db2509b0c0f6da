using System.Net;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Route;
using Smapp.Netlink.Wire;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>The netlink layer against the running kernel, in namespaces this test made (userspace PM on the client).</summary>
public class NetlinkKernelTests(TwoPathFixture fx) : IClassFixture<TwoPathFixture>
{
    private readonly Testbed _bed = fx.Bed;

    private T InClient<T>(Func<T> f) => NetworkNamespace.Named(_bed.ClientNs).Run(f);

    [Fact]
    public void Mptcp_pm_family_and_its_event_group_resolve_in_a_test_namespace()
    {
        var family = InClient(() =>
        {
            using var s = NetlinkSocket.Open(NetlinkProtocol.Generic);
            return Smapp.Netlink.Generic.GenericNetlink.Resolve(s, MptcpPmNames.Family);
        });
        Assert.Equal("mptcp_pm", family.Name);
        Assert.True(family.Id >= 16);
        Assert.True(family.Group(MptcpPmNames.EventsGroup) > 0);
    }

    [Fact]
    public void Unknown_family_is_enoent()
    {
        var e = Assert.Throws<NetlinkException>(() => InClient(() =>
        {
            using var s = NetlinkSocket.Open(NetlinkProtocol.Generic);
            return Smapp.Netlink.Generic.GenericNetlink.Resolve(s, "nosuchfam");
        }));
        Assert.Equal("ENOENT", e.ErrnoName);
    }

    [Fact]
    public void A_real_connection_yields_created_established_closed_with_its_addresses_and_ports()
    {
        var port = TwoPathFixture.NextPort();
        using var events = new EventCollector(_bed.ClientNs);
        using var server = new Mptcp.Server(_bed.ServerNs, IPAddress.Any, port);
        var socket = Mptcp.Connect(_bed.ClientNs, _bed.ServerAddress, port);
        var local = (IPEndPoint)socket.LocalEndPoint!;

        var created = events.WaitFor(MptcpEventType.Created, e => e.SourcePort == local.Port);
        Assert.Equal(_bed.ClientAddress1, created.SourceAddress);
        Assert.Equal(_bed.ServerAddress, created.DestinationAddress);
        Assert.Equal((ushort)port, created.DestinationPort);
        Assert.Equal((ushort)AddressFamilies.Inet, created.Family);
        Assert.Equal((byte)0, created.LocalId);
        var established = events.WaitFor(MptcpEventType.Established, e => e.Token == created.Token);
        Assert.Equal(created.SourcePort, established.SourcePort);
        socket.Dispose();
        events.WaitFor(MptcpEventType.Closed, e => e.Token == created.Token, TimeSpan.FromSeconds(10));
        Assert.Empty(events.DecodeErrors);
    }

    [Fact]
    public void An_ipv6_connection_reports_ipv6_addresses()
    {
        var port = TwoPathFixture.NextPort();
        using var events = new EventCollector(_bed.ClientNs);
        using var server = new Mptcp.Server(_bed.ServerNs, IPAddress.IPv6Any, port);
        using var socket = Mptcp.Connect(_bed.ClientNs, IPAddress.Parse(_bed["server_addr_v6"]), port);
        var est = events.WaitFor(MptcpEventType.Established, e => e.DestinationPort == port);
        Assert.Equal((ushort)AddressFamilies.Inet6, est.Family);
        Assert.Equal(IPAddress.Parse(_bed["client_addr1_v6"]), est.SourceAddress);
        Assert.Equal(IPAddress.Parse(_bed["server_addr_v6"]), est.DestinationAddress);
    }

    [Fact]
    public void Subflow_create_destroy_and_backup_are_reported_by_the_kernel_and_sock_diag()
    {
        var port = TwoPathFixture.NextPort();
        using var events = new EventCollector(_bed.ClientNs);
        using var serverEvents = new EventCollector(_bed.ServerNs);
        using var server = new Mptcp.Server(_bed.ServerNs, IPAddress.Any, port);
        using var socket = Mptcp.Connect(_bed.ClientNs, _bed.ServerAddress, port);
        var est = events.WaitFor(MptcpEventType.Established, e => e.DestinationPort == port);
        var token = est.Token!.Value;
        var remote = new MptcpAddress(_bed.ServerAddress, null, (ushort)port);

        InClient(() =>
        {
            using var pm = MptcpPmClient.Open();
            pm.SubflowCreate(token, new MptcpAddress(_bed.ClientAddress2, 2), remote);
            return 0;
        });
        var sub = events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == token);
        Assert.Equal(_bed.ClientAddress2, sub.SourceAddress);
        Assert.Equal((byte)2, sub.LocalId);
        Assert.Equal(false, sub.Backup);

        var subflows = InClient(() =>
        {
            using var diag = SockDiagClient.Open();
            return diag.Subflows().Where(s => s.Token == token).ToList();
        });
        Assert.Equal(2, subflows.Count);
        Assert.Contains(subflows, s => s.Id.Source.Equals(_bed.ClientAddress2) && s.Id.SourcePort == sub.SourcePort && s.LocalId == 2);
        Assert.Contains(subflows, s => s.Id.Source.Equals(_bed.ClientAddress1) && s.LocalId == 0);
        Assert.All(subflows, s => Assert.True(s.Info.RtoUs >= 200_000));

        var connections = InClient(() =>
        {
            using var diag = SockDiagClient.Open();
            return diag.Connections().Where(c => c.Info.Token == token).ToList();
        });
        Assert.Equal(1, Assert.Single(connections).Info.Subflows);

        var local = new MptcpAddress(_bed.ClientAddress2, null, sub.SourcePort, MptcpAddrFlags.Backup);
        InClient(() =>
        {
            using var pm = MptcpPmClient.Open();
            pm.SetFlags(token, local, remote);
            return 0;
        });
        var prio = serverEvents.WaitFor(MptcpEventType.SubPriority, e => e.SourcePort == port && e.DestinationPort == sub.SourcePort);
        Assert.Equal(true, prio.Backup);

        InClient(() =>
        {
            using var pm = MptcpPmClient.Open();
            pm.SubflowDestroy(token, local with { Flags = MptcpAddrFlags.None }, remote);
            return 0;
        });
        var closed = events.WaitFor(MptcpEventType.SubClosed, e => e.Token == token && e.SourcePort == sub.SourcePort);
        Assert.Equal(_bed.ClientAddress2, closed.SourceAddress);
    }

    [Fact]
    public void Announce_reaches_the_peer_as_announced_and_remove_as_removed()
    {
        var port = TwoPathFixture.NextPort();
        using var events = new EventCollector(_bed.ClientNs);
        using var serverEvents = new EventCollector(_bed.ServerNs);
        using var server = new Mptcp.Server(_bed.ServerNs, IPAddress.Any, port);
        using var socket = Mptcp.Connect(_bed.ClientNs, _bed.ServerAddress, port);
        var token = events.WaitFor(MptcpEventType.Established, e => e.DestinationPort == port).Token!.Value;
        var serverToken = serverEvents.WaitFor(MptcpEventType.Established, e => e.SourcePort == port).Token;

        InClient(() =>
        {
            using var pm = MptcpPmClient.Open();
            pm.Announce(token, new MptcpAddress(_bed.ClientAddress2, 9));
            return 0;
        });
        var announced = serverEvents.WaitFor(MptcpEventType.Announced, e => e.Token == serverToken);
        Assert.Equal((byte)9, announced.RemoteId);
        Assert.Equal(_bed.ClientAddress2, announced.DestinationAddress);

        InClient(() =>
        {
            using var pm = MptcpPmClient.Open();
            pm.Remove(token, 9);
            return 0;
        });
        Assert.Equal((byte)9, serverEvents.WaitFor(MptcpEventType.Removed, e => e.Token == serverToken).RemoteId);
    }

    [Fact]
    public void A_command_with_an_unknown_token_comes_back_as_einval_with_the_kernels_text()
    {
        var e = Assert.Throws<NetlinkException>(() => InClient(() =>
        {
            using var pm = MptcpPmClient.Open();
            pm.SubflowCreate(0x7fff_fffe, new MptcpAddress(_bed.ClientAddress2, 2), new MptcpAddress(_bed.ServerAddress, null, 80));
            return 0;
        }));
        Assert.Equal(22, e.Errno);
        Assert.Equal("invalid token", e.KernelMessage);

        var r = Assert.Throws<NetlinkException>(() => InClient(() =>
        {
            using var pm = MptcpPmClient.Open();
            pm.Remove(0x7fff_fffe, 3);
            return 0;
        }));
        Assert.Equal("EINVAL", r.ErrnoName);
        Assert.Equal("invalid token", r.KernelMessage);
    }

    [Fact]
    public void Adding_and_removing_an_address_is_seen_by_rtnetlink_and_in_the_dump()
    {
        using var events = new EventCollector(_bed.ClientNs);
        var extra = IPAddress.Parse("198.51.100.9");
        _bed.Ip(_bed.ClientNs, "addr", "add", "198.51.100.9/28", "dev", "cell");
        var added = events.WaitFor<AddressChange>(c => c.Address.Address.Equals(extra) && !c.Address.Removed).Address;
        Assert.Equal(28, added.PrefixLength);
        var dump = InClient(() =>
        {
            using var s = NetlinkSocket.Open(NetlinkProtocol.Route);
            return RtnetlinkDump.Addresses(s);
        });
        Assert.Contains(dump, a => a.Address.Equals(extra) && a.IfIndex == added.IfIndex && a.IsUsable);
        _bed.Ip(_bed.ClientNs, "addr", "del", "198.51.100.9/28", "dev", "cell");
        Assert.True(events.WaitFor<AddressChange>(c => c.Address.Address.Equals(extra) && c.Address.Removed).Address.Removed);

        _bed.Ip(_bed.ClientNs, "link", "set", "cell", "down");
        var down = events.WaitFor<LinkChange>(c => c.Link.Name == "cell" && !c.Link.IsUp).Link;
        _bed.Ip(_bed.ClientNs, "link", "set", "cell", "up");
        Assert.True(events.WaitFor<LinkChange>(c => c.Link.IfIndex == down.IfIndex && c.Link.IsUp).Link.IsUp);
    }
}
