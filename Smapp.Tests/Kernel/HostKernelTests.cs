using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Smapp.Actors.Connections;
using Smapp.Policy;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>`smapp run` and `smapp demo` as processes, and supervision on the real kernel.</summary>
public class HostKernelTests
{
    [Fact]
    public void Run_manages_connections_picks_policies_by_port_logs_decisions_and_stops_cleanly_on_sigterm()
    {
        using var bed = Testbed.Up("two-path");
        using var run = new SmappProcess("--netns", bed.ClientNs, "--log-format", "json",
            "--set", "smapp.rules=[{ side = server, policy = passive }, { name = bulk, remote-port = 5202, policy = ndiffports }]",
            "--set", "smapp.policies.ndiffports.subflows=3", "--set", "smapp.decision-log=info");
        run.WaitFor("start-up takeover");
        using var events = new EventCollector(bed.ClientNs);
        using var server1 = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5201);
        using var server2 = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5202);

        using var toFullmesh = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5201);
        var a = events.WaitFor(MptcpEventType.Established, e => e.DestinationPort == 5201).Token;
        var sub = events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == a, TimeSpan.FromSeconds(30));
        Assert.Equal(bed.ClientAddress2, sub.SourceAddress);

        using var toNdiffports = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5202);
        var b = events.WaitFor(MptcpEventType.Established, e => e.DestinationPort == 5202).Token;
        events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == b && e.SourceAddress!.Equals(bed.ClientAddress1), TimeSpan.FromSeconds(30));
        events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == b && e.SourceAddress!.Equals(bed.ClientAddress1), TimeSpan.FromSeconds(30));

        // Structured decision logs: one JSON object per line with the decision and its reason as properties.
        run.WaitFor("\"Policy\":\"ndiffports\",\"Decision\":\"open\"");
        run.WaitFor("\"Policy\":\"fullmesh\",\"Decision\":\"open\"");
        var decisions = run.Output.Split('\n').Where(l => l.StartsWith('{') && l.Contains("\"Decision\"")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Contains(decisions, d => d.GetProperty("Properties").GetProperty("Policy").GetString() == "ndiffports");
        Assert.Contains(decisions, d => d.GetProperty("Properties").GetProperty("Policy").GetString() == "fullmesh"
            && d.GetProperty("Properties").GetProperty("Reason").GetString()!.Contains("198.51.100.1"));

        Assert.Equal(0, run.Terminate());
        Assert.Contains("smapp stopped", run.Output);
    }

    [Fact]
    public void Run_refuses_a_namespace_in_kernel_mode_and_with_switch_pm_switches_it_and_back()
    {
        using var bed = Testbed.Up("two-path");
        var refused = Shell.Smapp("run", "--netns", bed.ServerNs);
        Assert.Equal(1, refused.Code);
        Assert.Contains("uses the kernel path manager", refused.Stderr);
        Assert.Contains("--switch-pm", refused.Stderr);

        using var run = new SmappProcess("--netns", bed.ServerNs, "--switch-pm");
        run.WaitFor("start-up takeover");
        Assert.Equal("userspace", bed.Exec(bed.ServerNs, "cat", "/proc/sys/net/mptcp/path_manager").Trim());
        Assert.Equal(0, run.Terminate());
        Assert.Equal("kernel", bed.Exec(bed.ServerNs, "cat", "/proc/sys/net/mptcp/path_manager").Trim());
    }

    [Theory]
    [InlineData("smapp.policies.fullmesh.backoff-max=soon", "smapp.policies.fullmesh.backoff-max")]
    [InlineData("smapp.rules=[{ remote-port = 99999, policy = passive }]", "smapp.rules[0].remote-port")]
    [InlineData("smapp.gateway.receive-buffer=1k", "smapp.gateway.receive-buffer")]
    [InlineData("smapp.polcy=fullmesh", "smapp.polcy")]
    public void Run_with_a_bad_config_names_the_key_and_exits_2_before_touching_the_kernel(string set, string key)
    {
        var r = Shell.Smapp("run", "--netns", "smapp-no-such-namespace", "--set", set);
        Assert.Equal(2, r.Code);
        Assert.Contains($"bad configuration: {key}:", r.Stderr);
    }

    [Fact]
    public void Run_with_a_missing_config_file_says_so()
    {
        var r = Shell.Smapp("run", "--config", "/nonexistent/smapp.conf");
        Assert.Equal(2, r.Code);
        Assert.Contains("no such file", r.Stderr);
    }

    [Fact]
    public void Every_shipped_hocon_file_is_valid()
    {
        var files = Directory.GetFiles(Path.Combine(Repo.Root, "HOCON"), "*.conf", SearchOption.AllDirectories);
        Assert.True(files.Length >= 5);
        foreach (var f in files)
        {
            var (_, settings) = Smapp.Host.Configuration.ConfigLoader.Load(f, null, []);
            Assert.Contains(settings.Selector.DefaultPolicy, BuiltInPolicies.All.Keys);
        }
    }

    [Fact]
    public void Demo_runs_end_to_end_and_removes_what_it_made()
    {
        var r = Shell.Run("dotnet", [Repo.SmappDll, "demo", "--phase", "1.5"], TimeSpan.FromSeconds(60));
        Assert.True(r.Code == 0, r.Stdout + r.Stderr);
        Assert.Contains("fullmesh opened the cellular subflow right after the connection was established", r.Stdout);
        Assert.Contains("closed by fullmesh: its local address went away", r.Stdout);
        Assert.Contains("removed the testbed", r.Stdout);
        var prefix = System.Text.RegularExpressions.Regex.Match(r.Stdout, @"namespaces (demo\d+)-cli").Groups[1].Value;
        Assert.NotEmpty(prefix);
        Assert.DoesNotContain(prefix + "-", Shell.Run("ip", ["netns", "list"], TimeSpan.FromSeconds(5)).Stdout);
    }

    [Fact]
    public void A_connection_whose_policy_fails_restarts_alone_with_its_state_rebuilt_from_sock_diag()
    {
        using var bed = Testbed.Up("two-path");
        using var daemon = Daemon.Start(bed.ClientNs);
        using var events = new EventCollector(bed.ClientNs);
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5201);
        using var first = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5201);
        var a = events.WaitFor(MptcpEventType.Established).Token!.Value;
        events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == a, TimeSpan.FromSeconds(30));
        using var second = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5201);
        var b = events.WaitFor(MptcpEventType.Established, e => e.Token != a).Token!.Value;
        events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == b, TimeSpan.FromSeconds(30));

        daemon.Runtime.Supervisor.Tell(new ConnectionSupervisor.ToConnection(a, new ConnectionProtocol.Crash("test")), Akka.Actor.ActorRefs.NoSender);
        Assert.True(Eventually.Holds(() => daemon.State(a) is { Restarts: 1, TakenOver: true }));
        var rebuilt = daemon.State(a);
        Assert.True(rebuilt.TakenOver);
        Assert.Equal(2, rebuilt.Subflows.Count);
        Assert.Equal(0, daemon.State(b).Restarts);
        Assert.False(daemon.State(b).TakenOver);

        // Still managed after the restart.
        bed.Set("cell", "--addr-del");
        events.WaitFor(MptcpEventType.SubClosed, e => e.Token == a, TimeSpan.FromSeconds(30));
        events.WaitFor(MptcpEventType.SubClosed, e => e.Token == b, TimeSpan.FromSeconds(30));
    }
}
