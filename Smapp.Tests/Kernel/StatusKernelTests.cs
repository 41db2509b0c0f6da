using System.Net;
using System.Text.Json;
using Smapp.Host.Status;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>`smapp status` against a `smapp run` process on a real testbed.</summary>
public class StatusKernelTests
{
    private static StatusReport Query(string ns) => StatusClient.Query(StatusServer.DefaultPath(ns), TimeSpan.FromSeconds(10));

    [Fact]
    public void Status_shows_a_connection_with_its_policy_subflows_figures_and_decisions_and_forgets_it_when_it_closes()
    {
        using var bed = Testbed.Up("two-path");
        using var run = new SmappProcess("--netns", bed.ClientNs, "--set", "smapp.rules=[{ side = server, policy = passive }, { name = bulk, remote-port = 5202, policy = ndiffports }]");
        run.WaitFor("smapp ready"); // the status and application sockets answer from then on
        var path = StatusServer.DefaultPath(bed.ClientNs);
        Assert.True(Eventually.Holds(() => File.Exists(path), TimeSpan.FromSeconds(10)), $"no {path}:\n{run.Output}");
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("Linux only");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Empty(Query(bed.ClientNs).Connections);

        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5201);
        var conn = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5201, bed.ClientAddress1);
        ConnectionReport? shown = null;
        Assert.True(Eventually.Holds(() =>
        {
            shown = Query(bed.ClientNs).Connections.SingleOrDefault();
            return shown is { Established: true } && shown.Subflows.Count(s => s.Phase == "established" && s.TcpState == "ESTAB") == 2;
        }, TimeSpan.FromSeconds(15)), $"status never showed the connection with two established subflows: {JsonSerializer.Serialize(shown)}\n{run.Output}");

        Assert.Equal("fullmesh", shown!.Policy);
        Assert.Equal("default", shown.Rule);
        Assert.Equal("client", shown.Side);
        Assert.Equal($"{bed.ServerAddress}:5201", shown.Remote);
        var initial = shown.Subflows.Single(s => s.Initial);
        var joined = shown.Subflows.Single(s => !s.Initial);
        Assert.Equal("wifi", initial.Interface);
        Assert.Equal("cell", joined.Interface);
        Assert.StartsWith($"{bed.ClientAddress2}:", joined.Local);
        Assert.True(joined.OpenedByUs);
        Assert.True(initial.RttMs > 0, $"rtt {initial.RttMs}");
        Assert.True(initial.RtoMs >= 200, $"rto {initial.RtoMs}");
        Assert.True(initial.BytesAcked > 0, $"bytes acked {initial.BytesAcked}");
        Assert.NotNull(initial.PacingRate);
        var open = Assert.Single(shown.Decisions, d => d.What == "open");
        Assert.Contains(bed.ClientAddress2.ToString(), open.Why);

        // The command's answer is read in its own loop turn, maybe after the subflow's event.
        Assert.True(Eventually.Holds(() => Query(bed.ClientNs).Gateway.Commands.Any(c => c is { Command: "SUBFLOW_CREATE", Outcome: "ok", Count: >= 1 }), TimeSpan.FromSeconds(10)),
            $"no SUBFLOW_CREATE ok counted: {JsonSerializer.Serialize(Query(bed.ClientNs).Gateway)}");
        Assert.True(Query(bed.ClientNs).Gateway.EventsByType["created"] >= 1);

        // The CLI: the table names the token, policy and interfaces; the filters pick by port and policy; JSON parses.
        var table = Shell.Smapp("status", "--netns", bed.ClientNs);
        Assert.True(table.Code == 0, table.Stderr);
        Assert.Contains(shown.Token, table.Stdout);
        Assert.Contains("fullmesh", table.Stdout);
        Assert.Contains("cell", table.Stdout);
        Assert.Contains("SUBFLOW_CREATE ok", table.Stdout);
        var byPort = Shell.Smapp("status", "--netns", bed.ClientNs, "--json", "--port", "5201");
        Assert.True(byPort.Code == 0, byPort.Stderr);
        var json = JsonDocument.Parse(byPort.Stdout).RootElement;
        Assert.Equal(shown.Token, json.GetProperty("connections")[0].GetProperty("token").GetString());
        Assert.Equal(2, json.GetProperty("connections")[0].GetProperty("subflows").GetArrayLength());
        Assert.True(json.GetProperty("gateway").GetProperty("events_by_type").GetProperty("sub_established").GetInt64() >= 1);
        var byPolicy = Shell.Smapp("status", "--netns", bed.ClientNs, "--json", "--policy", "ndiffports");
        Assert.Equal(0, JsonDocument.Parse(byPolicy.Stdout).RootElement.GetProperty("connections").GetArrayLength());
        var byToken = Shell.Smapp("status", "--netns", bed.ClientNs, "--json", "--token", "0x" + shown.Token);
        Assert.Equal(1, JsonDocument.Parse(byToken.Stdout).RootElement.GetProperty("connections").GetArrayLength());

        conn.Dispose();
        Assert.True(Eventually.Holds(() => Query(bed.ClientNs).Connections.Count == 0, TimeSpan.FromSeconds(15)),
            $"the closed connection is still shown: {JsonSerializer.Serialize(Query(bed.ClientNs))}");
        Assert.True(Query(bed.ClientNs).Gateway.EventsByType["closed"] >= 1);

        Assert.Equal(0, run.Terminate());
        Assert.False(File.Exists(path), "the status socket outlived the daemon");
    }

    [Fact]
    public void Status_without_a_daemon_says_so_and_a_malformed_request_gets_an_error_and_never_stops_the_socket()
    {
        using var bed = Testbed.Up("two-path");
        var none = Shell.Smapp("status", "--netns", bed.ClientNs);
        Assert.Equal(1, none.Code);
        Assert.Contains($"no status socket at /run/smapp/{bed.ClientNs}.sock", none.Stderr);
        var badToken = Shell.Smapp("status", "--netns", bed.ClientNs, "--token", "zz");
        Assert.Equal(2, badToken.Code);
        Assert.Contains("--token: 'zz'", badToken.Stderr);

        using var run = new SmappProcess("--netns", bed.ClientNs);
        run.WaitFor("smapp ready"); // the status and application sockets answer from then on
        var path = StatusServer.DefaultPath(bed.ClientNs);
        Assert.True(Eventually.Holds(() => File.Exists(path), TimeSpan.FromSeconds(10)));
        using (var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
        {
            s.ReceiveTimeout = 10_000;
            s.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
            s.Send("{not json\n"u8);
            var buffer = new byte[4096];
            var n = s.Receive(buffer);
            var answer = JsonDocument.Parse(buffer.AsMemory(0, n)).RootElement;
            Assert.Contains("unknown request", answer.GetProperty("error").GetString());
        }

        // A second daemon for the same namespace does not take the socket over: the run guard (the namespace's
        // @smapp-pm claim) refuses it before it gets as far as the status socket, and the first one still answers.
        var second = Shell.Smapp("run", "--netns", bed.ClientNs);
        Assert.NotEqual(0, second.Code);
        Assert.Contains($"another smapp (pid {run.Pid}) already manages", second.Stdout + second.Stderr);
        Assert.DoesNotContain("   at ", second.Stdout + second.Stderr);
        Assert.Empty(Query(bed.ClientNs).Connections);
        Assert.Equal(0, run.Terminate());
    }
}
