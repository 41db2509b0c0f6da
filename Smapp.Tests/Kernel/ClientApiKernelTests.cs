using System.Net;
using System.Text.Json;
using Smapp.Client;
using Smapp.Host.Status;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>The application API (Smapp.Client and the daemon's application socket) against a `smapp run` process on a real testbed.</summary>
public class ClientApiKernelTests
{
    private static StatusReport Query(string ns) => StatusClient.Query(StatusServer.DefaultPath(ns), TimeSpan.FromSeconds(10));

    private static ConnectionReport? Shown(string ns) => Query(ns).Connections.SingleOrDefault();

    /// <summary>A daemon whose connections get passive (one subflow, nothing opened) and one established connection it manages.</summary>
    private static (SmappProcess Run, Mptcp.Server Server, System.Net.Sockets.Socket Conn) Start(Testbed bed)
    {
        var run = new SmappProcess("--netns", bed.ClientNs, "--policy", "passive");
        run.WaitFor("smapp ready"); // the status and application sockets answer from then on
        var path = AppWire.DefaultPath(bed.ClientNs);
        Assert.True(Eventually.Holds(() => File.Exists(path) && File.Exists(StatusServer.DefaultPath(bed.ClientNs)), TimeSpan.FromSeconds(10)), $"no {path}:\n{run.Output}");
        var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5201);
        var conn = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5201, bed.ClientAddress1);
        Assert.True(Eventually.Holds(() => Shown(bed.ClientNs) is { Established: true, Policy: "passive" }, TimeSpan.FromSeconds(15)),
            $"status never showed the passive connection: {JsonSerializer.Serialize(Query(bed.ClientNs))}\n{run.Output}");
        return (run, server, conn);
    }

    /// <summary>The kernel's own view (ss, sock_diag): established TCP subflows from <paramref name="local"/> to the server's port 5201.</summary>
    private static int KernelSubflows(Testbed bed, IPAddress local) =>
        bed.Exec(bed.ClientNs, "ss", "-Htn", "state", "established", "dst", $"{bed.ServerAddress}:5201")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(l => l.Contains($"{local}:"));

    [Fact]
    public void An_application_asks_for_ndiffports_and_the_kernel_then_has_its_subflows_bad_asks_get_reasons_and_the_socket_keeps_serving()
    {
        using var bed = Testbed.Up("two-path");
        var (run, server, conn) = Start(bed);
        using var _r = run;
        using var _s = server;
        using var _c = conn;
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("Linux only");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite,
            File.GetUnixFileMode(AppWire.DefaultPath(bed.ClientNs)));
        Assert.Equal(1, KernelSubflows(bed, bed.ClientAddress1));

        using var smapp = SmappClient.Connect(bed.ClientNs);

        // Bad asks first: each is refused with its reason and changes nothing.
        var unknown = smapp.RequestPolicy(conn, "no-such-policy");
        Assert.False(unknown.Ok);
        Assert.Contains("no policy named 'no-such-policy'", unknown.Reason);
        var badValue = smapp.RequestPolicy(conn, "ndiffports", new Dictionary<string, string> { ["subflows"] = "0" });
        Assert.False(badValue.Ok);
        Assert.Contains("smapp.policies.ndiffports.subflows", badValue.Reason);
        Assert.Contains("0 is out of range: must be between 1 and 64", badValue.Reason);
        var badKey = smapp.RequestPolicy(conn, "ndiffports", new Dictionary<string, string> { ["paths"] = "3" });
        Assert.False(badKey.Ok);
        Assert.Contains("smapp.policies.ndiffports.paths: unknown key", badKey.Reason);
        var notThere = smapp.RequestPolicy(new IPEndPoint(bed.ClientAddress1, 1), new IPEndPoint(bed.ServerAddress, 5201), "ndiffports");
        Assert.False(notThere.Ok);
        Assert.Contains($"no MPTCP connection {bed.ClientAddress1}:1->{bed.ServerAddress}:5201", notThere.Reason);
        var malformed = JsonDocument.Parse(smapp.SendLine("{not json")).RootElement;
        Assert.False(malformed.GetProperty("ok").GetBoolean());
        Assert.Contains("not a JSON request object", malformed.GetProperty("error").GetString());
        var badOp = JsonDocument.Parse(smapp.SendLine("""{"op":"steer","local":"192.0.2.1:1","remote":"203.0.113.1:5201"}""")).RootElement;
        Assert.Contains("\"op\": 'steer' is not one of policy, block", badOp.GetProperty("error").GetString());
        Assert.Equal("passive", Shown(bed.ClientNs)!.Policy);

        // The ask, on the same client connection after the malformed lines.
        var result = smapp.RequestPolicy(conn, "ndiffports", new Dictionary<string, string> { ["subflows"] = "3" });
        Assert.True(result.Ok, result.ToString());
        Assert.Equal("ndiffports", result.Policy);
        Assert.Contains("passive replaced by ndiffports", result.Message);
        ConnectionReport? shown = null;
        Assert.True(Eventually.Holds(() =>
        {
            shown = Shown(bed.ClientNs);
            return shown is { Policy: "ndiffports" } && shown.Subflows.Count(s => s is { Phase: "established", TcpState: "ESTAB" }) == 3;
        }, TimeSpan.FromSeconds(15)), $"status never showed ndiffports with three established subflows: {JsonSerializer.Serialize(shown)}\n{run.Output}");
        Assert.Equal(result.Token, shown!.Token);
        Assert.Equal("app (uid 0)", shown.Rule);
        Assert.All(shown.Subflows, s => Assert.StartsWith($"{bed.ClientAddress1}:", s.Local));
        Assert.Equal(3, shown.Subflows.Select(s => s.Local).Distinct().Count());
        Assert.Equal(2, shown.Subflows.Count(s => s.OpenedByUs));
        Assert.True(Eventually.Holds(() => KernelSubflows(bed, bed.ClientAddress1) == 3, TimeSpan.FromSeconds(10)),
            $"ss does not show three subflows: {bed.Exec(bed.ClientNs, "ss", "-Htn", "state", "established")}");
        Assert.Equal(0, KernelSubflows(bed, bed.ClientAddress2));

        // A block notice to a policy with no use for it: accepted and recorded, and the answer says so.
        var block = smapp.NotifyBlock(conn, 65536, TimeSpan.FromSeconds(1));
        Assert.True(block.Ok, block.ToString());
        Assert.Contains("recorded only: policy ndiffports does not use block notices", block.Message);

        // Named by a joined subflow's endpoints instead of the initial one: the same connection.
        var joined = shown.Subflows.First(s => !s.Initial);
        Assert.True(AppWire.TryParse(joined.Local, out var joinedLocal));
        var bySubflow = smapp.RequestPolicy(joinedLocal, new IPEndPoint(bed.ServerAddress, 5201), "ndiffports", new Dictionary<string, string> { ["subflows"] = "3" });
        Assert.True(bySubflow.Ok, bySubflow.ToString());
        Assert.Equal(result.Token, bySubflow.Token);

        // A second client is served as well.
        using var other = SmappClient.Connect(AppWire.DefaultPath(bed.ClientNs));
        var again = other.RequestPolicy(conn, "passive");
        Assert.True(again.Ok, again.ToString());
        Assert.True(Eventually.Holds(() => Shown(bed.ClientNs) is { Policy: "passive" }, TimeSpan.FromSeconds(10)));

        Assert.Equal(0, run.Terminate());
        Assert.False(File.Exists(AppWire.DefaultPath(bed.ClientNs)), "the application socket outlived the daemon");
    }

    [Fact]
    public void Another_user_may_not_steer_a_connection_root_owns_and_the_connection_keeps_its_policy()
    {
        using var bed = Testbed.Up("two-path");
        var (run, server, conn) = Start(bed);
        using var _r = run;
        using var _s = server;
        using var _c = conn;
        var local = AppWire.Format((IPEndPoint)conn.LocalEndPoint!);
        var remote = AppWire.Format((IPEndPoint)conn.RemoteEndPoint!);

        // `smapp client policy` run as nobody (uid 65534): the daemon reads its uid from the socket, not from what it says.
        var env = new Dictionary<string, string> { ["HOME"] = "/tmp", ["DOTNET_CLI_HOME"] = "/tmp", ["DOTNET_NOLOGO"] = "1" };
        var foreign = Shell.Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "dotnet", Repo.SmappDll, "client", "policy", "ndiffports",
            "--set", "subflows=3", "--netns", bed.ClientNs, "--local", local, "--remote", remote], TimeSpan.FromSeconds(60), env);
        Assert.True(foreign.Code == 3, $"exit {foreign.Code}\n{foreign.Stdout}\n{foreign.Stderr}");
        Assert.Contains($"refused: connection {local}->{remote} belongs to uid 0, not 65534", foreign.Stderr);
        Assert.DoesNotContain("   at ", foreign.Stderr);

        var shown = Shown(bed.ClientNs);
        Assert.Equal("passive", shown!.Policy);
        Assert.Single(shown.Subflows);
        Assert.Equal(1, KernelSubflows(bed, bed.ClientAddress1));

        // The same command as root is allowed (root may steer any connection).
        var root = Shell.Smapp("client", "policy", "ndiffports", "--set", "subflows=2", "--netns", bed.ClientNs, "--local", local, "--remote", remote);
        Assert.True(root.Code == 0, $"exit {root.Code}\n{root.Stdout}\n{root.Stderr}");
        Assert.Contains("policy ndiffports", root.Stdout);
        Assert.True(Eventually.Holds(() => KernelSubflows(bed, bed.ClientAddress1) == 2, TimeSpan.FromSeconds(15)),
            $"ss does not show two subflows: {bed.Exec(bed.ClientNs, "ss", "-Htn", "state", "established")}\n{run.Output}");
        Assert.Equal(0, run.Terminate());
    }

    [Fact]
    public void The_example_streaming_client_run_by_an_ordinary_user_gets_streaming_on_its_own_connection_and_its_blocks_reach_the_policy()
    {
        using var bed = Testbed.Up("two-path");
        using var run = new SmappProcess("--netns", bed.ClientNs, "--policy", "passive", "--set", "smapp.decision-log=info");
        run.WaitFor("smapp ready"); // the status and application sockets answer from then on
        Assert.True(Eventually.Holds(() => File.Exists(AppWire.DefaultPath(bed.ClientNs)), TimeSpan.FromSeconds(10)), run.Output);
        var example = Path.Combine(AppContext.BaseDirectory, "StreamingClient.dll");
        using var server = StartProcess("ip", "netns", "exec", bed.ServerNs, "dotnet", example, "serve", "5201");
        Assert.True(Eventually.Holds(() => bed.Exec(bed.ServerNs, "ss", "-Hltn", "sport", "= :5201").Contains("5201"), TimeSpan.FromSeconds(20)), "the example server never listened");

        // uid 65534 owns this connection (it made the socket): the daemon lets it choose the connection's policy.
        using var client = StartProcess("ip", "netns", "exec", bed.ClientNs, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "dotnet", example,
            "send", $"{bed.ServerAddress}:5201", "--local", bed.ClientAddress1.ToString(), "--block", "65536", "--period", "500", "--blocks", "8", "--smapp", bed.ClientNs);
        ConnectionReport? shown = null;
        Assert.True(Eventually.Holds(() =>
        {
            shown = Shown(bed.ClientNs);
            return shown is { Policy: "streaming" } && shown.Decisions.Count(d => d.What == "block") >= 2;
        }, TimeSpan.FromSeconds(30)), $"status never showed streaming with the example's blocks: {JsonSerializer.Serialize(shown)}\n{run.Output}");
        Assert.Equal("app (uid 65534)", shown!.Rule);
        Assert.Contains(shown.Decisions, d => d.What == "block" && d.Why.Contains("65536 bytes due in 500 ms: progress checked after 250 ms, 32768 bytes needed"));
        Assert.True(client.WaitForExit(30_000), "the example client did not finish");
        var output = client.StandardOutput.ReadToEnd();
        Assert.True(client.ExitCode == 0, $"exit {client.ExitCode}: {output}{client.StandardError.ReadToEnd()}");
        Assert.Contains("streaming: ok: connection", output);
        Assert.Contains("block 8/8: ok", output);
        Assert.Equal(0, run.Terminate());
    }

    [Fact]
    public void A_block_notice_drives_streaming_s_check_and_a_late_block_gets_a_subflow_on_the_other_interface()
    {
        using var bed = Testbed.Up("two-path");
        var (run, server, conn) = Start(bed);
        using var _r = run;
        using var _s = server;
        using var _c = conn;
        using var smapp = SmappClient.Connect(bed.ClientNs);

        // A period of a minute: on its own clock the policy would check only after 30 s.
        var asked = smapp.RequestPolicy(conn, "streaming", new Dictionary<string, string> { ["period"] = "60s", ["block-size"] = "1000000", ["min-progress"] = "500000" });
        Assert.True(asked.Ok, asked.ToString());
        Assert.Single(Shown(bed.ClientNs)!.Subflows);

        // A block of 1 MB due in 400 ms that the application then does not send: at its check point (200 ms) it is short.
        var notice = smapp.NotifyBlock(conn, 1_000_000, TimeSpan.FromMilliseconds(400));
        Assert.True(notice.Ok, notice.ToString());
        Assert.Contains("progress checked after 200 ms (500000 bytes needed)", notice.Message);
        ConnectionReport? shown = null;
        Assert.True(Eventually.Holds(() =>
        {
            shown = Shown(bed.ClientNs);
            return shown is not null && shown.Subflows.Any(s => s is { Interface: "cell", Phase: "established" });
        }, TimeSpan.FromSeconds(15)), $"no subflow on cell after the late block: {JsonSerializer.Serialize(shown)}\n{run.Output}");
        var open = Assert.Single(shown!.Decisions, d => d.What == "open");
        Assert.Contains("fewer than 500000 (block 1000000 bytes, due in 400 ms)", open.Why);
        Assert.Contains(bed.ClientAddress2.ToString(), open.Why);
        Assert.Equal(0, run.Terminate());
    }

    /// <summary>A process of the test's own, stopped (by its pid) when disposed.</summary>
    private sealed class OwnedProcess(System.Diagnostics.Process p) : IDisposable
    {
        public System.Diagnostics.Process P => p;

        public bool WaitForExit(int ms) => p.WaitForExit(ms);

        public int ExitCode => p.ExitCode;

        public StreamReader StandardOutput => p.StandardOutput;

        public StreamReader StandardError => p.StandardError;

        public void Dispose()
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit(10_000);
            }

            p.Dispose();
        }
    }

    private static OwnedProcess StartProcess(string file, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["HOME"] = "/tmp";
        psi.Environment["DOTNET_CLI_HOME"] = "/tmp";
        return new OwnedProcess(System.Diagnostics.Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}"));
    }
}
