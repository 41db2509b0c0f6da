using Akka.Dispatch;
using Smapp.Actors.EventLoop;
using Smapp.Netlink;

namespace Smapp.Tests.Actors;

/// <summary>
/// The event loop's thread asks the kernel for SCHED_FIFO when told to, and the kernel's answer — read back on that
/// thread with sched_getscheduler — is what the loop reports; without a priority it stays in the ordinary class.
/// (The tests run as root, with CAP_SYS_NICE; the refusal is the daemon test's, without it.)
/// </summary>
public sealed class LoopSchedulingTests
{
    private sealed class Probe : IRunnable
    {
        public readonly TaskCompletionSource<string> Seen = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Run() => Seen.SetResult(ThreadScheduling.Current());

#pragma warning disable CS0618 // IRunnable.Run is all the loop calls
        public void Execute() => Run();
#pragma warning restore CS0618
    }

    private static string OnLoop(NetlinkEventLoop loop)
    {
        var probe = new Probe();
        loop.Execute(probe);
        Assert.True(probe.Seen.Task.Wait(TimeSpan.FromSeconds(30)), "the loop did not run the probe");
        return probe.Seen.Task.Result;
    }

    [Fact]
    public void With_a_priority_the_loop_thread_runs_in_SCHED_FIFO()
    {
        using var loop = new NetlinkEventLoop("rt-loop", realtimePriority: 10);
        Assert.Equal("SCHED_FIFO 10", loop.Scheduling);
        Assert.False(loop.SchedulingRefused);
        Assert.Equal("SCHED_FIFO", OnLoop(loop));
        Assert.Equal("SCHED_OTHER", ThreadScheduling.Current()); // only the loop's thread
    }

    [Fact]
    public void Without_one_it_stays_in_the_ordinary_class()
    {
        using var loop = new NetlinkEventLoop("plain-loop");
        Assert.Equal("SCHED_OTHER", loop.Scheduling);
        Assert.Equal("SCHED_OTHER", OnLoop(loop));
    }

    [Fact]
    public void A_priority_outside_1_to_99_is_an_argument_error()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ThreadScheduling.SetRealtime(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ThreadScheduling.SetRealtime(100));
    }
}
