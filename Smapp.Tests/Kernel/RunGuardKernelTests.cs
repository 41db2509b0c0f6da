using System.Net;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>
/// `smapp run` refusing what it cannot or must not do, and ending when it must, as the built binary on the real
/// kernel: without CAP_NET_ADMIN, beside another path manager in the same namespace, on SIGHUP, and when its namespace
/// is deleted under it.
/// </summary>
public class RunGuardKernelTests
{
    private static void OneClearLine(string stderr, string expected)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line, got:\n{stderr}");
        Assert.StartsWith("smapp: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", stderr);
        Assert.DoesNotContain("Exception", stderr);
    }

    [Fact]
    public void Without_cap_net_admin_run_fails_at_start_with_one_clear_line_as_a_non_root_user_and_inside_a_namespace()
    {
        using var bed = Testbed.Up("two-path");
        var home = Directory.CreateTempSubdirectory("smapp-nobody-").FullName;
        try
        {
            // dotnet as nobody needs a home it can write.
            Shell.Run("chmod", ["777", home], TimeSpan.FromSeconds(5));
            var nobody = Shell.Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "env", $"HOME={home}", $"DOTNET_CLI_HOME={home}",
                "dotnet", Repo.SmappDll, "run"], TimeSpan.FromSeconds(60));
            Assert.True(nobody.Code == 1, $"exit {nobody.Code}: {nobody.Stdout}{nobody.Stderr}");
            OneClearLine(nobody.Stderr, "needs CAP_NET_ADMIN");

            // As nobody, --netns cannot even enter the namespace.
            var nobodyNs = Shell.Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "env", $"HOME={home}", $"DOTNET_CLI_HOME={home}",
                "dotnet", Repo.SmappDll, "run", "--netns", bed.ClientNs], TimeSpan.FromSeconds(60));
            Assert.True(nobodyNs.Code == 1, $"exit {nobodyNs.Code}: {nobodyNs.Stdout}{nobodyNs.Stderr}");
            OneClearLine(nobodyNs.Stderr, $"cannot enter namespace {bed.ClientNs}");
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }

        // Root, inside the namespace, with CAP_NET_ADMIN dropped: it used to keep running and manage nothing.
        var inside = Shell.Run("ip", ["netns", "exec", bed.ClientNs, "setpriv", "--inh-caps=-all", "--bounding-set=-net_admin",
            "dotnet", Repo.SmappDll, "run"], TimeSpan.FromSeconds(60));
        Assert.True(inside.Code == 1, $"exit {inside.Code}: {inside.Stdout}{inside.Stderr}");
        OneClearLine(inside.Stderr, "needs CAP_NET_ADMIN");

        // The same through --netns: entering works (CAP_SYS_ADMIN is kept), subscribing does not.
        var viaOption = Shell.Run("setpriv", ["--inh-caps=-all", "--bounding-set=-net_admin", "dotnet", Repo.SmappDll, "run", "--netns", bed.ClientNs], TimeSpan.FromSeconds(60));
        Assert.True(viaOption.Code == 1, $"exit {viaOption.Code}: {viaOption.Stdout}{viaOption.Stderr}");
        OneClearLine(viaOption.Stderr, $"no permission to manage MPTCP connections in namespace {bed.ClientNs}");
    }

    [Fact]
    public void A_second_smapp_on_the_same_namespace_is_refused_and_the_first_keeps_managing_with_exactly_two_subflows()
    {
        using var bed = Testbed.Up("two-path");
        // An interface the namespace lacks is a warning at start, not an error (it may come later).
        using var first = SmappProcess.Start("--netns", bed.ClientNs, "--set", "smapp.interfaces=[wifi, cell, nosuchif0]");
        first.WaitFor("start-up takeover");
        Assert.Contains("WRN smapp.interfaces: no interface 'nosuchif0' in the namespace now", first.Output);

        var second = Shell.Smapp("run", "--netns", bed.ClientNs);
        Assert.True(second.Code == 1, $"exit {second.Code}: {second.Stdout}{second.Stderr}");
        OneClearLine(second.Stderr, $"another smapp (pid {first.Pid}) already manages namespace {bed.ClientNs}");

        // Another namespace is another lock: a daemon there starts.
        using var elsewhere = SmappProcess.Start("--netns", bed.ServerNs, "--switch-pm");
        elsewhere.WaitFor("start-up takeover");
        Assert.Equal(0, elsewhere.Terminate());

        Assert.False(first.HasExited, first.Output);
        using var events = new EventCollector(bed.ClientNs);
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5201);
        using var socket = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5201);
        var token = events.WaitFor(MptcpEventType.Established, e => e.DestinationPort == 5201).Token!.Value;
        events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == token, TimeSpan.FromSeconds(10));
        var subflows = NetworkNamespace.Named(bed.ClientNs).Run(() =>
        {
            using var diag = SockDiagClient.Open();
            return diag.Subflows().Count(s => s.Token == token && s.TcpState == 1);
        });
        Assert.Equal(2, subflows);
        Assert.Equal(0, first.Terminate());
    }

    [Fact]
    public void Run_is_refused_where_an_mptcpd_process_lives_in_the_namespace()
    {
        using var bed = Testbed.Up("two-path");

        // A process named mptcpd in the client namespace (a copy of sleep: what is detected is the name and the namespace).
        var dir = Directory.CreateTempSubdirectory("smapp-mptcpd-").FullName;
        var fake = Path.Combine(dir, "mptcpd");
        File.Copy("/bin/sleep", fake);
        Shell.Run("chmod", ["755", fake], TimeSpan.FromSeconds(5));
        using var mptcpd = System.Diagnostics.Process.Start("ip", ["netns", "exec", bed.ClientNs, fake, "120"])!;
        try
        {
            Assert.True(Eventually.Holds(() => File.Exists($"/proc/{mptcpd.Id}/comm") && File.ReadAllText($"/proc/{mptcpd.Id}/comm").Trim() == "mptcpd", TimeSpan.FromSeconds(10)));
            var r = Shell.Smapp("run", "--netns", bed.ClientNs);
            Assert.True(r.Code == 1, $"exit {r.Code}: {r.Stdout}{r.Stderr}");
            OneClearLine(r.Stderr, $"mptcpd (pid {mptcpd.Id}) already manages namespace {bed.ClientNs}");

            // mptcpd in another namespace is none of our business.
            using var other = SmappProcess.Start("--netns", bed.ServerNs, "--switch-pm");
            other.WaitFor("start-up takeover");
            Assert.Equal(0, other.Terminate());
        }
        finally
        {
            mptcpd.Kill();
            mptcpd.WaitForExit(10_000);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Sighup_reloads_without_stopping_and_sigterm_then_undoes_switch_pm()
    {
        using var bed = Testbed.Up("two-path");
        Assert.Equal("kernel", bed.Exec(bed.ServerNs, "cat", "/proc/sys/net/mptcp/path_manager").Trim());
        using var run = SmappProcess.Start("--netns", bed.ServerNs, "--switch-pm");
        run.WaitFor("smapp ready");
        Assert.Equal("userspace", bed.Exec(bed.ServerNs, "cat", "/proc/sys/net/mptcp/path_manager").Trim());

        // SIGHUP is the operations issue's reload: the daemon stays, and so does the userspace mode it switched to.
        run.Signal("HUP");
        run.WaitFor("configuration reloaded");
        Assert.Equal("userspace", bed.Exec(bed.ServerNs, "cat", "/proc/sys/net/mptcp/path_manager").Trim());

        Assert.Equal(0, run.Terminate());
        Assert.Contains("back to the kernel path manager", run.Output);
        Assert.Contains("smapp stopped", run.Output);
        Assert.Equal("kernel", bed.Exec(bed.ServerNs, "cat", "/proc/sys/net/mptcp/path_manager").Trim());
    }

    [Fact]
    public void A_namespace_deleted_under_the_daemon_ends_it_with_a_clear_message_and_a_non_zero_exit()
    {
        var name = $"{Testbed.NewPrefix("del")}-ns";
        var add = Shell.Run("ip", ["netns", "add", name], TimeSpan.FromSeconds(10));
        Assert.True(add.Code == 0, add.Stderr);
        try
        {
            Shell.Run("ip", ["netns", "exec", name, "sysctl", "-q", "net.mptcp.path_manager=userspace"], TimeSpan.FromSeconds(10));
            using var run = SmappProcess.Start("--netns", name);
            run.WaitFor("smapp ready"); // the deletion watch is in place from then on

            var del = Shell.Run("ip", ["netns", "del", name], TimeSpan.FromSeconds(10));
            Assert.True(del.Code == 0, del.Stderr);
            Assert.Equal(1, run.WaitForExit(TimeSpan.FromSeconds(60)));
            Assert.Contains($"namespace {name} was deleted (/run/netns/{name} is gone)", run.Output);
            Assert.Contains("smapp stopped", run.Output);
        }
        finally
        {
            Shell.Run("ip", ["netns", "del", name], TimeSpan.FromSeconds(10));
        }
    }
}
