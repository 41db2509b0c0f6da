using System.Net;
using System.Text.Json;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>`smapp ctl`, `monitor` and `check` as a user runs them, end to end against the kernel.</summary>
public class CliKernelTests(TwoPathFixture fx) : IClassFixture<TwoPathFixture>
{
    private readonly Testbed _bed = fx.Bed;

    /// <summary>
    /// A connection of this test's own, its client and server tokens matched by this test's own socket (its local port,
    /// the server's remote port): the namespaces are shared by the tests of the class, and a collector sees every
    /// connection in them, including what an earlier test's connections still report while they close.
    /// </summary>
    private (uint Token, uint ServerToken, int Port, Mptcp.Server Server, System.Net.Sockets.Socket Socket, EventCollector Events, EventCollector ServerEvents) Connection()
    {
        var port = TwoPathFixture.NextPort();
        var events = new EventCollector(_bed.ClientNs);
        var serverEvents = new EventCollector(_bed.ServerNs);
        var server = new Mptcp.Server(_bed.ServerNs, IPAddress.Any, port);
        var socket = Mptcp.Connect(_bed.ClientNs, _bed.ServerAddress, port);
        var local = ((IPEndPoint)socket.LocalEndPoint!).Port;
        var token = events.WaitFor(MptcpEventType.Established, e => e.SourcePort == local && e.DestinationPort == port).Token!.Value;
        var serverToken = serverEvents.WaitFor(MptcpEventType.Established, e => e.SourcePort == port && e.DestinationPort == local).Token!.Value;
        return (token, serverToken, port, server, socket, events, serverEvents);
    }

    [Fact]
    public void Ctl_drives_every_userspace_pm_command_end_to_end_and_list_shows_what_sock_diag_reports()
    {
        var (token, serverToken, port, server, socket, events, serverEvents) = Connection();
        using var _1 = server;
        using var _2 = socket;
        using var _3 = events;
        using var _4 = serverEvents;
        var tok = $"0x{token:x}";
        var remote = $"{_bed.ServerAddress}:{port}";

        var add = Shell.Smapp("ctl", "subflow", "add", "--netns", _bed.ClientNs, "--token", tok, "--local", _bed.ClientAddress2.ToString(), "--local-id", "2", "--remote", remote);
        Assert.True(add.Code == 0, add.Stderr);
        var sub = events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == token);

        var list = Shell.Smapp("ctl", "list", "--netns", _bed.ClientNs, "--json");
        Assert.True(list.Code == 0, list.Stderr);
        var conn = list.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Single(j => j.GetProperty("token").GetUInt32() == token);
        var subflows = conn.GetProperty("subflows").EnumerateArray().ToList();
        var diag = NetworkNamespace.Named(_bed.ClientNs).Run(() =>
        {
            using var d = SockDiagClient.Open();
            return d.Subflows().Where(s => s.Token == token).ToList();
        });
        Assert.Equal(diag.Count, subflows.Count);
        Assert.Equal(2, subflows.Count);
        foreach (var s in diag)
        {
            Assert.Contains(subflows, j => j.GetProperty("sport").GetInt32() == s.Id.SourcePort
                && j.GetProperty("saddr").GetString() == s.Id.Source.ToString()
                && j.GetProperty("loc_id").GetInt32() == s.LocalId
                && j.GetProperty("rto_ms").GetDouble() > 0);
        }

        var human = Shell.Smapp("ctl", "list", "--netns", _bed.ClientNs);
        Assert.Contains($"token {token:x8}", human.Stdout);
        Assert.Contains($"{_bed.ClientAddress2}:{sub.SourcePort}", human.Stdout);

        var local = $"{_bed.ClientAddress2}:{sub.SourcePort}";
        var backup = Shell.Smapp("ctl", "subflow", "backup", "on", "--netns", _bed.ClientNs, "--token", tok, "--local", local, "--remote", remote);
        Assert.True(backup.Code == 0, backup.Stderr);
        Assert.Equal(true, serverEvents.WaitFor(MptcpEventType.SubPriority, e => e.Token == serverToken && e.DestinationPort == sub.SourcePort).Backup);
        var off = Shell.Smapp("ctl", "subflow", "backup", "off", "--netns", _bed.ClientNs, "--token", tok, "--local", local, "--remote", remote);
        Assert.True(off.Code == 0, off.Stderr);
        Assert.Equal(false, serverEvents.WaitFor(MptcpEventType.SubPriority, e => e.Token == serverToken && e.DestinationPort == sub.SourcePort && e.Backup == false).Backup);

        var del = Shell.Smapp("ctl", "subflow", "del", "--netns", _bed.ClientNs, "--token", tok, "--local", local, "--remote", remote);
        Assert.True(del.Code == 0, del.Stderr);
        events.WaitFor(MptcpEventType.SubClosed, e => e.Token == token && e.SourcePort == sub.SourcePort);

        var announce = Shell.Smapp("ctl", "announce", "--netns", _bed.ClientNs, "--token", token.ToString(), "--addr", _bed.ClientAddress2.ToString(), "--id", "4");
        Assert.True(announce.Code == 0, announce.Stderr);
        Assert.Equal((byte)4, serverEvents.WaitFor(MptcpEventType.Announced, e => e.Token == serverToken && e.DestinationAddress!.Equals(_bed.ClientAddress2)).RemoteId);
        var remove = Shell.Smapp("ctl", "remove", "--netns", _bed.ClientNs, "--token", tok, "--id", "4");
        Assert.True(remove.Code == 0, remove.Stderr);
        Assert.Equal((byte)4, serverEvents.WaitFor(MptcpEventType.Removed, e => e.Token == serverToken).RemoteId);
    }

    [Fact]
    public void A_refused_command_prints_the_errno_name_and_the_kernels_text_and_exits_non_zero()
    {
        var r = Shell.Smapp("ctl", "subflow", "add", "--netns", _bed.ClientNs, "--token", "0x7ffffffe", "--local", _bed.ClientAddress2.ToString(), "--local-id", "2", "--remote", $"{_bed.ServerAddress}:80");
        Assert.Equal(1, r.Code);
        Assert.Contains("EINVAL", r.Stderr);
        Assert.Contains("invalid token", r.Stderr);

        var (token, _, port, server, socket, events, serverEvents) = Connection();
        using var _1 = server;
        using var _2 = socket;
        using var _3 = events;
        using var _4 = serverEvents;
        var rm = Shell.Smapp("ctl", "remove", "--netns", _bed.ClientNs, "--token", token.ToString(), "--id", "77");
        Assert.Equal(1, rm.Code);
        Assert.Contains("EINVAL", rm.Stderr);
        Assert.Contains("address with id 77 not found", rm.Stderr);
        var del = Shell.Smapp("ctl", "subflow", "del", "--netns", _bed.ClientNs, "--token", token.ToString(), "--local", $"{_bed.ClientAddress2}:1", "--remote", $"{_bed.ServerAddress}:{port}");
        Assert.Equal(1, del.Code);
        Assert.Contains("ESRCH", del.Stderr);
    }

    [Theory]
    [InlineData("ctl", "remove", "--token", "notanumber", "--id", "1")]
    [InlineData("ctl", "subflow", "add", "--token", "1", "--local", "300.1.1.1", "--local-id", "2", "--remote", "203.0.113.1:80")]
    [InlineData("ctl", "subflow", "add", "--token", "1", "--local", "192.0.2.1", "--local-id", "2", "--remote", "203.0.113.1")]
    [InlineData("ctl", "subflow", "del", "--token", "1", "--local", "192.0.2.1:0", "--remote", "203.0.113.1:80")]
    public void Bad_arguments_exit_2_with_a_clear_message(params string[] args)
    {
        var r = Shell.Smapp(args);
        Assert.Equal(2, r.Code);
        Assert.StartsWith("smapp: ", r.Stderr);
    }

    [Fact]
    public void Monitor_json_prints_one_object_per_event_with_the_documented_fields()
    {
        var port = TwoPathFixture.NextPort();
        using var server = new Mptcp.Server(_bed.ServerNs, IPAddress.Any, port);
        // No --count: the namespace is shared by the tests of this class, and what an earlier test's connections still
        // report while they close would count too. The monitor runs until this test's own connection has closed
        // (matched by its socket's local port, then by its token), and is stopped with SIGTERM.
        using var monitor = SmappProcess.Command("monitor", "--netns", _bed.ClientNs, "--json", "--timeout", "300");
        monitor.WaitFor("listening");
        var socket = Mptcp.Connect(_bed.ClientNs, _bed.ServerAddress, port);
        var local = (IPEndPoint)socket.LocalEndPoint!;
        socket.Dispose();

        List<JsonElement> Own()
        {
            var all = monitor.Lines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToList();
            var created = all.FirstOrDefault(j => j.GetProperty("event").GetString() == "created" && j.GetProperty("sport").GetInt32() == local.Port && j.GetProperty("dport").GetInt32() == port);
            if (created.ValueKind != JsonValueKind.Object)
            {
                return [];
            }

            var token = created.GetProperty("token").GetUInt32();
            return all.Where(j => j.TryGetProperty("token", out var t) && t.GetUInt32() == token).ToList();
        }

        Assert.True(Eventually.Holds(() => Own().Any(j => j.GetProperty("event").GetString() == "closed"), SmappProcess.DefaultWait), $"no closed event of this test's connection:\n{monitor.Tail()}");
        Assert.Equal(0, monitor.Terminate());
        var lines = Own();
        Assert.Equal(["created", "established", "closed"], lines.Select(j => j.GetProperty("event").GetString()));
        var createdEvent = lines[0];
        Assert.Equal(_bed.ClientAddress1.ToString(), createdEvent.GetProperty("saddr").GetString());
        Assert.Equal(_bed.ServerAddress.ToString(), createdEvent.GetProperty("daddr").GetString());
        Assert.Equal(port, createdEvent.GetProperty("dport").GetInt32());
        Assert.Equal(0, createdEvent.GetProperty("loc_id").GetInt32());
        Assert.Equal("inet", createdEvent.GetProperty("family").GetString());
        Assert.True(DateTimeOffset.TryParse(createdEvent.GetProperty("timestamp").GetString(), out _));
        Assert.Equal(local.Port, lines[1].GetProperty("sport").GetInt32());
    }

    [Fact]
    public void Check_reports_the_userspace_pm_in_a_test_namespace_and_fails_for_a_missing_one()
    {
        var ok = Shell.Smapp("check", "--netns", _bed.ClientNs);
        Assert.True(ok.Code == 0, ok.Stdout + ok.Stderr);
        Assert.Contains("ok    path manager in force: userspace", ok.Stdout);
        Assert.Contains("ok    mptcp_pm family", ok.Stdout);
        var srv = Shell.Smapp("check", "--netns", _bed.ServerNs);
        Assert.Contains("warn  path manager in force: kernel", srv.Stdout);
        var missing = Shell.Smapp("check", "--netns", "smapp-no-such-ns");
        Assert.Equal(1, missing.Code);
        Assert.Contains("no network namespace named", missing.Stderr);
    }
}
