using System.Runtime.InteropServices;
using Smapp.Netlink.Native;

namespace Smapp.Netlink;

/// <summary>
/// The scheduling class of the calling thread. A path manager's event thread is woken by every kernel event; under
/// the ordinary class (SCHED_OTHER) a wake-up that lands on a busy CPU waits for the running task's slice, which on a
/// two-core host is most of the time between a connection's ESTABLISHED and its next subflow. SCHED_FIFO runs it at
/// once. The kernel's real-time throttling (sched_rt_runtime_us, 95 % by default) still leaves the CPU to others if
/// the thread ever spins.
/// </summary>
public static class ThreadScheduling
{
    /// <summary>
    /// Puts the calling thread in SCHED_FIFO at <paramref name="priority"/> (1–99). Returns 0 when done, otherwise the
    /// errno (EPERM without CAP_SYS_NICE or with RLIMIT_RTPRIO 0, or in a cgroup without a real-time budget).
    /// </summary>
    public static unsafe int SetRealtime(int priority)
    {
        if (priority is < 1 or > 99)
        {
            throw new ArgumentOutOfRangeException(nameof(priority), priority, "a SCHED_FIFO priority is 1-99");
        }

        var p = new Libc.SchedParam { Priority = priority };
        return Libc.sched_setscheduler(0, Libc.SCHED_FIFO, &p) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary><see cref="SetRealtime"/>, with the refusal as text ("EPERM: Operation not permitted"), or null.</summary>
    public static string? TrySetRealtime(int priority) =>
        SetRealtime(priority) is var errno and not 0 ? $"{Errno.Name(errno)}: {Errno.Describe(errno)}" : null;

    /// <summary>The calling thread's scheduling policy: "SCHED_FIFO", "SCHED_OTHER", ...</summary>
    public static string Current() => Libc.sched_getscheduler(0) switch
    {
        Libc.SCHED_OTHER => "SCHED_OTHER",
        Libc.SCHED_FIFO => "SCHED_FIFO",
        2 => "SCHED_RR",
        3 => "SCHED_BATCH",
        5 => "SCHED_IDLE",
        var other => $"policy {other}",
    };
}
