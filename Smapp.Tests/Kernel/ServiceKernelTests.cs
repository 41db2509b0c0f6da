using System.Net;
using System.Net.Sockets;
using System.Text;
using Smapp.Host.Status;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>`smapp run` as a systemd service: sd_notify readiness, journald logs, SIGHUP reload; on a real testbed.</summary>
public class ServiceKernelTests
{
    private static StatusReport Query(string ns) => StatusClient.Query(StatusServer.DefaultPath(ns), TimeSpan.FromSeconds(10));

    /// <summary>A NOTIFY_SOCKET of the test's own: a Unix datagram socket bound to a fresh path.</summary>
    private sealed class NotifySocket : IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

        public NotifySocket()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"smapp-notify-{Testbed.NewPrefix("n")}.sock");
            _socket.Bind(new UnixDomainSocketEndPoint(Path));
            _socket.ReceiveTimeout = 60_000;
        }

        public string Path { get; }

        /// <summary>The next datagram (blocks up to a minute; throws when none came).</summary>
        public string Receive()
        {
            var buffer = new byte[4096];
            var n = _socket.Receive(buffer);
            return Encoding.UTF8.GetString(buffer, 0, n);
        }

        public void Dispose()
        {
            _socket.Dispose();
            File.Delete(Path);
        }
    }

    [Fact]
    public void Run_notifies_ready_only_after_the_takeover_and_stopping_at_sigterm_and_logs_for_the_journal()
    {
        using var bed = Testbed.Up("two-path");
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5201);
        using var before = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5201, bed.ClientAddress1);
        using var notify = new NotifySocket();
        using var run = new SmappProcess(new Dictionary<string, string> { ["NOTIFY_SOCKET"] = notify.Path, ["JOURNAL_STREAM"] = "8:4242" }, "--netns", bed.ClientNs);

        var ready = notify.Receive();
        Assert.StartsWith("READY=1\n", ready);
        Assert.Contains($"MAINPID={run.Pid}", ready);

        // By READY=1 the connection that existed before the daemon was adopted (takeover done) and status answers.
        // (The log line may come later: logging is asynchronous.)
        var adopted = Assert.Single(Query(bed.ClientNs).Connections);
        Assert.True(adopted.TakenOver);
        run.WaitFor("start-up takeover: 1 live MPTCP connections found and adopted");

        // Journal lines: a syslog priority, no timestamp, no level text.
        var started = run.Output.Split('\n').Single(l => l.Contains("smapp running in namespace"));
        Assert.StartsWith("<6>smapp running in namespace", started);
        Assert.DoesNotContain(run.Output.Split('\n'), l => l.Contains(" INF "));

        run.Signal("TERM");
        Assert.Equal("STOPPING=1", notify.Receive());
        Assert.Equal(0, run.WaitForExit()); // the one SIGTERM above: a second could find it gone
    }

    private const string Base = "smapp { decision-log = info, rules = [ { side = server, policy = passive } ]";

    [Fact]
    public void Sighup_applies_new_rules_to_new_connections_only_and_refuses_a_bad_file_keeping_the_old_rules()
    {
        using var bed = Testbed.Up("two-path");
        var dir = Directory.CreateTempSubdirectory("smapp-reload-");
        try
        {
            var file = Path.Combine(dir.FullName, "smapp.conf");
            File.WriteAllText(file, Base + ", policy = fullmesh }");
            using var run = new SmappProcess("--netns", bed.ClientNs, "--config", file);
            run.WaitFor("smapp ready"); // status answers and SIGHUP reloads from then on
            using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5201);

            using var first = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5201, bed.ClientAddress1);
            ConnectionReport? a = null;
            Assert.True(Eventually.Holds(() => (a = Query(bed.ClientNs).Connections.SingleOrDefault()) is { } c && c.Subflows.Count(s => s.Phase == "established") == 2,
                TimeSpan.FromSeconds(15)), $"the first connection never had its two fullmesh subflows:\n{run.Output}");
            Assert.Equal("fullmesh", a!.Policy);

            // New rules: ndiffports, 3 subflows over the initial address pair.
            File.WriteAllText(file, Base + ", policy = ndiffports, policies.ndiffports.subflows = 3 }");
            run.Signal("HUP");
            run.WaitFor("configuration reloaded: default policy ndiffports");
            using var second = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5201, bed.ClientAddress1);
            ConnectionReport? b = null;
            Assert.True(Eventually.Holds(() => (b = Query(bed.ClientNs).Connections.SingleOrDefault(c => c.Token != a.Token)) is { } c &&
                c.Subflows.Count(s => s.Phase == "established") == 3, TimeSpan.FromSeconds(15)), $"the second connection never had three ndiffports subflows:\n{run.Output}");
            Assert.Equal("ndiffports", b!.Policy);
            Assert.All(b.Subflows, s => Assert.StartsWith($"{bed.ClientAddress1}:", s.Local));

            // The first connection kept its policy, its instance and its subflows.
            var kept = Query(bed.ClientNs).Connections.Single(c => c.Token == a.Token);
            Assert.Equal("fullmesh", kept.Policy);
            Assert.Equal(a.Subflows.Select(s => (s.Id, s.Local, s.Remote)), kept.Subflows.Select(s => (s.Id, s.Local, s.Remote)));
            Assert.Equal(1, run.Count("connection " + a.Token + " [fullmesh] open"));

            // A bad file is refused, with the key and the reason; the rules in force stay.
            File.WriteAllText(file, Base + ", policy = ndiffports, policies.ndiffports.subflows = many }");
            run.Signal("HUP");
            run.WaitFor("configuration reload refused: smapp.policies.ndiffports.subflows: 'many' is not a whole number");
            Assert.Contains(run.Output.Split('\n'), l => l.Contains(" ERR configuration reload refused"));
            using var third = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5201, bed.ClientAddress1);
            ConnectionReport? c3 = null;
            Assert.True(Eventually.Holds(() => (c3 = Query(bed.ClientNs).Connections.SingleOrDefault(c => c.Token != a.Token && c.Token != b.Token)) is { } c &&
                c.Subflows.Count(s => s.Phase == "established") == 3, TimeSpan.FromSeconds(15)), $"the third connection did not follow the rules in force:\n{run.Output}");
            Assert.Equal("ndiffports", c3!.Policy);
            Assert.False(run.HasExited);
            Assert.Equal(0, run.Terminate());
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
