using System.Net;
using Smapp.Netlink.Mptcp;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>
/// `smapp run` puts its event-loop thread in SCHED_FIFO by default (smapp.gateway.realtime-priority = 10), as the
/// kernel reports for that thread in /proc; without CAP_SYS_NICE the kernel refuses, and the daemon says so in one
/// warning and manages connections in the ordinary class.
/// </summary>
public class SchedulingKernelTests
{
    /// <summary>The scheduling policy of the daemon's event-loop thread, field 41 of /proc/PID/task/TID/stat.</summary>
    private static int LoopPolicy(int pid)
    {
        foreach (var task in Directory.GetDirectories($"/proc/{pid}/task"))
        {
            if (File.ReadAllText(Path.Combine(task, "comm")).Trim() == "smapp-netlink-l")
            {
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                return int.Parse(fields[41 - 3]); // fields after "pid (comm)" start at field 3
            }
        }

        throw new InvalidOperationException($"no smapp-netlink-l thread in process {pid}");
    }

    private static void SecondSubflowIsOpened(Testbed bed, int port)
    {
        using var events = new EventCollector(bed.ClientNs);
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, port);
        using var socket = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, port);
        var local = ((IPEndPoint)socket.LocalEndPoint!).Port;
        var token = events.WaitFor(MptcpEventType.Established, e => e.SourcePort == local).Token!.Value;
        var join = events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == token, TimeSpan.FromSeconds(30));
        Assert.Equal(bed.ClientAddress2, join.SourceAddress);
    }

    [Fact]
    public void By_default_the_event_loop_thread_is_SCHED_FIFO()
    {
        using var bed = Testbed.Up("two-path");
        using var daemon = new SmappProcess("--netns", bed.ClientNs);
        daemon.WaitFor("smapp ready", TimeSpan.FromSeconds(60));
        Assert.Contains(daemon.Lines, l => l.Contains("netlink gateway up") && l.Contains("event loop SCHED_FIFO 10"));
        Assert.Equal(1, LoopPolicy(daemon.Pid)); // SCHED_FIFO
        SecondSubflowIsOpened(bed, 5231);
        Assert.Equal(0, daemon.Terminate());
    }

    [Fact]
    public void Without_CAP_SYS_NICE_it_warns_once_and_manages_connections_in_the_ordinary_class()
    {
        using var bed = Testbed.Up("two-path");
        using var daemon = SmappProcess.Wrapped(["setpriv", "--inh-caps=-all", "--bounding-set=-sys_nice"], "--netns", bed.ClientNs);
        daemon.WaitFor("smapp ready", TimeSpan.FromSeconds(60));
        daemon.WaitFor(" WRN ", TimeSpan.FromSeconds(30)); // the log is asynchronous: it may come after the line above
        var warning = Assert.Single(daemon.Lines, l => l.Contains(" WRN "));
        Assert.Contains("SCHED_FIFO 10 refused: EPERM", warning);
        Assert.Equal(0, LoopPolicy(daemon.Pid)); // SCHED_OTHER
        SecondSubflowIsOpened(bed, 5232);
        Assert.Equal(0, daemon.Terminate());
    }

    [Fact]
    public void Realtime_priority_0_keeps_the_ordinary_class_without_a_warning()
    {
        using var bed = Testbed.Up("two-path");
        using var daemon = new SmappProcess("--netns", bed.ClientNs, "--set", "smapp.gateway.realtime-priority=0");
        daemon.WaitFor("smapp ready", TimeSpan.FromSeconds(60)); // its lines are all written by then
        Assert.Contains(daemon.Lines, l => l.Contains("netlink gateway up") && l.Contains("event loop SCHED_OTHER"));
        Assert.Equal(0, LoopPolicy(daemon.Pid));
        Assert.Equal(0, daemon.Terminate());
    }
}
