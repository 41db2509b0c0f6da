using System.Runtime.InteropServices;

namespace Smapp.Netlink.Native;

/// <summary><c>struct timespec</c> (64-bit Linux).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Timespec
{
    public long Seconds;      // tv_sec
    public long Nanoseconds;  // tv_nsec

    public static Timespec FromNanoseconds(long ns) => new() { Seconds = ns / 1_000_000_000, Nanoseconds = ns % 1_000_000_000 };
}

/// <summary>The calls a timer-driven poll loop needs beyond poll(2).</summary>
internal static unsafe partial class Libc
{
    /// <summary>poll with a nanosecond timeout (null: forever); the sigmask is left alone (null).</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int ppoll(PollFd* fds, nuint nfds, Timespec* timeout, void* sigmask);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    /// <summary>sched_setscheduler(0, ...) applies to the calling thread.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int sched_setscheduler(int pid, int policy, SchedParam* param);

    public const int SCHED_FIFO = 1;

    /// <summary><c>struct sched_param</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SchedParam
    {
        public int Priority;  // sched_priority
    }

    /// <summary>PR_SET_TIMERSLACK (linux/prctl.h): how late the kernel may fire this thread's timers, in ns (default 50 µs).</summary>
    public const int PR_SET_TIMERSLACK = 29;
}
