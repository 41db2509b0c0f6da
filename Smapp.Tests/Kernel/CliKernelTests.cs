using System.Diagnostics;
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

    private (uint Token, int Port, Mptcp.Server Server, System.Net.Sockets.Socket Socket, EventCollector Events, EventCollector ServerEvents) Connection()
    {
        var port = TwoPathFixture.NextPort();
        var events = new EventCollector(_bed.ClientNs);
        var serverEvents = new EventCollector(_bed.ServerNs);
        var server = new Mptcp.Server(_bed.ServerNs, IPAddress.Any, port);
        var socket = Mptcp.Connect(_bed.ClientNs, _bed.ServerAddress, port);
        var token = events.WaitFor(MptcpEventType.Established, e => e.DestinationPort == port).Token!.Value;
        return (token, port, server, socket, events, serverEvents);
    }

    [Fact]
    public void Ctl_drives_every_userspace_pm_command_end_to_end_and_list_shows_what_sock_diag_reports()
    {
        var (token, port, server, socket, events, serverEvents) = Connection();
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
        Assert.Equal(true, serverEvents.WaitFor(MptcpEventType.SubPriority, e => e.DestinationPort == sub.SourcePort).Backup);
        var off = Shell.Smapp("ctl", "subflow", "backup", "off", "--netns", _bed.ClientNs, "--token", tok, "--local", local, "--remote", remote);
        Assert.True(off.Code == 0, off.Stderr);
        Assert.Equal(false, serverEvents.WaitFor(MptcpEventType.SubPriority, e => e.DestinationPort == sub.SourcePort && e.Backup == false).Backup);

        var del = Shell.Smapp("ctl", "subflow", "del", "--netns", _bed.ClientNs, "--token", tok, "--local", local, "--remote", remote);
        Assert.True(del.Code == 0, del.Stderr);
        events.WaitFor(MptcpEventType.SubClosed, e => e.Token == token && e.SourcePort == sub.SourcePort);

        var announce = Shell.Smapp("ctl", "announce", "--netns", _bed.ClientNs, "--token", token.ToString(), "--addr", _bed.ClientAddress2.ToString(), "--id", "4");
        Assert.True(announce.Code == 0, announce.Stderr);
        Assert.Equal((byte)4, serverEvents.WaitFor(MptcpEventType.Announced, e => e.DestinationAddress!.Equals(_bed.ClientAddress2)).RemoteId);
        var remove = Shell.Smapp("ctl", "remove", "--netns", _bed.ClientNs, "--token", tok, "--id", "4");
        Assert.True(remove.Code == 0, remove.Stderr);
        Assert.Equal((byte)4, serverEvents.WaitFor(MptcpEventType.Removed).RemoteId);
    }

    [Fact]
    public void A_refused_command_prints_the_errno_name_and_the_kernels_text_and_exits_non_zero()
    {
        var r = Shell.Smapp("ctl", "subflow", "add", "--netns", _bed.ClientNs, "--token", "0x7ffffffe", "--local", _bed.ClientAddress2.ToString(), "--local-id", "2", "--remote", $"{_bed.ServerAddress}:80");
        Assert.Equal(1, r.Code);
        Assert.Contains("EINVAL", r.Stderr);
        Assert.Contains("invalid token", r.Stderr);

        var (token, port, server, socket, events, serverEvents) = Connection();
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
    public async Task Monitor_json_prints_one_object_per_event_with_the_documented_fields()
    {
        var port = TwoPathFixture.NextPort();
        using var server = new Mptcp.Server(_bed.ServerNs, IPAddress.Any, port);
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Repo.SmappDll, "monitor", "--netns", _bed.ClientNs, "--json", "--count", "3", "--timeout", "20" })
        {
            psi.ArgumentList.Add(a);
        }

        using var monitor = Process.Start(psi)!;
        var ready = await monitor.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)); // TimeoutException: it said nothing
        Assert.Contains("listening", ready);
        var socket = Mptcp.Connect(_bed.ClientNs, _bed.ServerAddress, port);
        var local = (IPEndPoint)socket.LocalEndPoint!;
        socket.Dispose();
        Assert.True(monitor.WaitForExit(20_000));
        var lines = monitor.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(j => j.TryGetProperty("sport", out var sp) && sp.GetInt32() == local.Port || j.GetProperty("event").GetString() == "closed")
            .ToList();
        Assert.Equal(["created", "established", "closed"], lines.Select(j => j.GetProperty("event").GetString()));
        var created = lines[0];
        Assert.Equal(_bed.ClientAddress1.ToString(), created.GetProperty("saddr").GetString());
        Assert.Equal(_bed.ServerAddress.ToString(), created.GetProperty("daddr").GetString());
        Assert.Equal(port, created.GetProperty("dport").GetInt32());
        Assert.Equal(0, created.GetProperty("loc_id").GetInt32());
        Assert.Equal("inet", created.GetProperty("family").GetString());
        Assert.True(DateTimeOffset.TryParse(created.GetProperty("timestamp").GetString(), out _));
        Assert.Equal(created.GetProperty("token").GetUInt32(), lines[2].GetProperty("token").GetUInt32());
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
