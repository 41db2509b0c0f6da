using System.Net;
using System.Text.RegularExpressions;
using Akka.Actor;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Generic;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Wire;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>
/// Only the kernel (sender port id 0) is believed. A forging process — this test process, another process than the
/// daemon — opens its own netlink sockets in the managed namespace and unicasts a forged ESTABLISHED (a made-up token)
/// and a forged ANNOUNCED (for a real connection) to the daemon's event and command sockets, and a forged RTM_NEWADDR
/// to its rtnetlink socket. The daemon must not act on any (no connection, no subflow, no address), must say it
/// dropped them (a warning naming the forger's port id, totals at exit), and must keep managing.
/// </summary>
public class TrustKernelTests
{
    private const uint ForgedToken = 0x5eed1234;

    [Fact]
    public void Forged_events_and_rtnetlink_messages_unicast_to_the_daemon_are_dropped_counted_and_never_acted_on()
    {
        using var bed = Testbed.Up("two-path");
        using var run = SmappProcess.Start("--netns", bed.ClientNs, "--log-level", "debug", "--set", "smapp.decision-log=info");
        run.WaitFor("start-up takeover");
        var ports = Regex.Match(run.Output, @"port ids: events (\d+), commands (\d+), rtnetlink (\d+)");
        Assert.True(ports.Success, run.Output);
        var (eventsPort, commandsPort, routePort) = (uint.Parse(ports.Groups[1].Value), uint.Parse(ports.Groups[2].Value), uint.Parse(ports.Groups[3].Value));

        // A real connection, managed: its second subflow comes from the daemon.
        using var events = new EventCollector(bed.ClientNs);
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5201);
        using var socket = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5201);
        var token = events.WaitFor(MptcpEventType.Established, e => e.DestinationPort == 5201).Token!.Value;
        events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == token, TimeSpan.FromSeconds(10));

        // The forger, in the managed namespace.
        var forged = IPAddress.Parse("203.0.113.77");
        var forgerPorts = NetworkNamespace.Named(bed.ClientNs).Run(() =>
        {
            using var genl = NetlinkSocket.Open(NetlinkProtocol.Generic);
            var family = GenericNetlink.Resolve(genl, MptcpPmNames.Family);
            var w = new NetlinkWriter();
            MptcpEventCodec.Encode(w, new MptcpEvent
            {
                Type = MptcpEventType.Established, Token = ForgedToken, Family = 2,
                SourceAddress = bed.ClientAddress1, DestinationAddress = bed.ServerAddress, SourcePort = 40404, DestinationPort = 5201,
            }, family.Id);
            var established = w.Written.ToArray();
            w = new NetlinkWriter();
            MptcpEventCodec.Encode(w, new MptcpEvent
            {
                Type = MptcpEventType.Announced, Token = token, RemoteId = 9, Family = 2, DestinationAddress = forged, DestinationPort = 5201,
            }, family.Id);
            var announced = w.Written.ToArray();
            genl.SendTo(eventsPort, established);
            genl.SendTo(eventsPort, announced);
            genl.SendTo(commandsPort, established);

            using var route = NetlinkSocket.Open(NetlinkProtocol.Route);
            route.SendTo(routePort, Fixture.Load("rtnl-addr_added").Single);  // RTM_NEWADDR 192.0.2.9 on ifindex 2
            return (genl.PortId, route.PortId);
        });

        run.WaitFor($"dropped a datagram on the mptcp_pm events socket (port id {eventsPort}) from port id {forgerPorts.Item1}");
        run.WaitFor($"dropped a datagram on the commands socket (port id {commandsPort}) from port id {forgerPorts.Item1}");
        run.WaitFor($"dropped a datagram on the rtnetlink socket (port id {routePort}) from port id {forgerPorts.Item2}");

        // Each was dropped on receipt, before any decoding: by the time the warning is out, acting would have been done.
        Assert.DoesNotContain($"{ForgedToken:x8}", run.Output);
        Assert.DoesNotContain(forged.ToString(), run.Output);
        Assert.DoesNotContain("192.0.2.9", run.Output);
        var diag = NetworkNamespace.Named(bed.ClientNs).Run(() =>
        {
            using var d = SockDiagClient.Open();
            return d.Subflows();
        });
        Assert.DoesNotContain(diag, s => s.Token == ForgedToken);
        Assert.DoesNotContain(diag, s => s.Id.Destination.Equals(forged));
        Assert.Equal(2, diag.Count(s => s.Token == token && s.TcpState == 1));
        Assert.DoesNotContain(events.Drain(), e => e.Token == ForgedToken || forged.Equals(e.DestinationAddress));

        // Still managing: a new connection gets its second subflow.
        using var second = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5201);
        var token2 = events.WaitFor(MptcpEventType.Established, e => e.DestinationPort == 5201 && e.Token != token).Token!.Value;
        events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == token2, TimeSpan.FromSeconds(10));

        Assert.Equal(0, run.Terminate());
        Assert.Contains("datagrams from non-kernel senders dropped while running: mptcp_pm events 2, commands 1, rtnetlink 1", run.Output);
    }

    private static Smapp.Actors.Gateway.GatewayProtocol.ForeignDrops Drops(Daemon daemon) =>
        daemon.Runtime.Gateway.Ask<Smapp.Actors.Gateway.GatewayProtocol.ForeignDrops>(
            Smapp.Actors.Gateway.GatewayProtocol.GetForeignDrops.Instance, TimeSpan.FromSeconds(5)).Result;

    [Fact]
    public void The_gateway_answers_its_drop_counts_per_socket_for_status_and_metrics()
    {
        using var bed = Testbed.Up("two-path");
        using var daemon = Daemon.Start(bed.ClientNs);
        var before = Drops(daemon);
        Assert.Equal(0, before.Total);
        Assert.Equal(["commands", "mptcp_pm events", "rtnetlink", "sock_diag"], before.BySocket.Keys.Order());
        Assert.All(before.PortIds.Values, p => Assert.NotEqual(0u, p));

        // The forger: sockets of its own in the namespace (another port id than the daemon's, as any other process has).
        NetworkNamespace.Named(bed.ClientNs).Run(() =>
        {
            using var genl = NetlinkSocket.Open(NetlinkProtocol.Generic);
            var family = GenericNetlink.Resolve(genl, MptcpPmNames.Family);
            var w = new NetlinkWriter();
            MptcpEventCodec.Encode(w, new MptcpEvent { Type = MptcpEventType.Closed, Token = ForgedToken }, family.Id);
            for (var i = 0; i < 3; i++)
            {
                genl.SendTo(before.PortIds["mptcp_pm events"], w.Written);
            }

            genl.SendTo(before.PortIds["commands"], w.Written);
            using var route = NetlinkSocket.Open(NetlinkProtocol.Route);
            route.SendTo(before.PortIds["rtnetlink"], Fixture.Load("rtnl-addr_removed").Single);
            route.SendTo(before.PortIds["rtnetlink"], Fixture.Load("rtnl-link_down").Single);
            return 0;
        });

        Smapp.Actors.Gateway.GatewayProtocol.ForeignDrops? after = null;
        Assert.True(Eventually.Holds(() =>
        {
            after = Drops(daemon);
            return after.Total == 6;
        }, TimeSpan.FromSeconds(10)), $"drops: {string.Join(", ", after?.BySocket.Select(kv => $"{kv.Key} {kv.Value}") ?? [])}");
        Assert.Equal(3, after!.BySocket["mptcp_pm events"]);
        Assert.Equal(1, after.BySocket["commands"]);
        Assert.Equal(2, after.BySocket["rtnetlink"]);
    }

    [Fact]
    public void Datagrams_forged_to_the_sock_diag_socket_are_dropped_and_status_shows_their_count()
    {
        using var bed = Testbed.Up("two-path");
        using var run = SmappProcess.Start("--netns", bed.ClientNs);
        run.WaitFor("start-up takeover");
        var m = Regex.Match(run.Output, @"port ids: events \d+, commands \d+, rtnetlink \d+, sock_diag (\d+)");
        Assert.True(m.Success, run.Output);
        var diagPort = uint.Parse(m.Groups[1].Value);
        Assert.NotEqual(0u, diagPort);

        // Before: nothing dropped, and status says so for every socket, sock_diag included.
        var clean = Shell.Smapp("status", "--netns", bed.ClientNs);
        Assert.True(clean.Code == 0, clean.Stderr);
        Assert.Contains("dropped from non-kernel senders (port id not 0): commands 0, mptcp_pm events 0, rtnetlink 0, sock_diag 0", clean.Stdout);

        // The forger: a sock_diag socket of its own in the namespace unicasts two replies that look like the kernel's (a
        // captured dump reply) to the daemon's sock_diag socket.
        var forgerPort = NetworkNamespace.Named(bed.ClientNs).Run(() =>
        {
            using var forger = NetlinkSocket.Open(NetlinkProtocol.SockDiag);
            var reply = Fixture.Load("diag-tcp-ipv4").Datagrams[0];
            forger.SendTo(diagPort, reply);
            forger.SendTo(diagPort, reply);
            return forger.PortId;
        });
        Assert.NotEqual(0u, forgerPort);

        // The worker reads its socket during a dump: each status asks for one, and reports after it.
        var status = Shell.Smapp("status", "--netns", bed.ClientNs);
        Assert.True(status.Code == 0, status.Stderr);
        Assert.Contains("dropped from non-kernel senders (port id not 0): commands 0, mptcp_pm events 0, rtnetlink 0, sock_diag 2", status.Stdout);
        var json = Shell.Smapp("status", "--netns", bed.ClientNs, "--json");
        Assert.True(json.Code == 0, json.Stderr);
        var foreign = System.Text.Json.JsonDocument.Parse(json.Stdout).RootElement.GetProperty("gateway").GetProperty("foreign_by_socket");
        Assert.Equal(2, foreign.GetProperty("sock_diag").GetInt64());
        Assert.Equal(0, foreign.GetProperty("mptcp_pm events").GetInt64());

        run.WaitFor($"dropped a datagram on the sock_diag socket (port id {diagPort}) from port id {forgerPort}");
        Assert.Equal(0, run.Terminate());
        Assert.Contains("datagrams from non-kernel senders dropped while running: mptcp_pm events 0, commands 0, rtnetlink 0, sock_diag 2", run.Output);
    }
}
