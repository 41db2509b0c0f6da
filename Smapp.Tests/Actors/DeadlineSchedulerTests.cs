using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Smapp.Actors.EventLoop;

namespace Smapp.Tests.Actors;

/// <summary>
/// The scheduler that sleeps until its next deadline. It is real time by nature, so these tests use short delays
/// and bounded waits, and assert order and cancellation rather than exact timings.
/// </summary>
public sealed class DeadlineSchedulerTests : IDisposable
{
    private readonly DeadlineScheduler _scheduler = new(ConfigurationFactory.Empty, NoLogger.Instance);

    public void Dispose() => _scheduler.Dispose();

    private IActionScheduler Actions => ((IScheduler)_scheduler).Advanced;

    [Fact]
    public void Actions_run_in_deadline_order_not_in_the_order_they_were_scheduled()
    {
        var ran = new ConcurrentQueue<int>();
        using var done = new CountdownEvent(3);
        foreach (var (ms, id) in new[] { (60, 3), (20, 1), (40, 2) })
        {
            Actions.ScheduleOnce(TimeSpan.FromMilliseconds(ms), () => { ran.Enqueue(id); done.Signal(); });
        }

        Assert.True(done.Wait(TimeSpan.FromSeconds(5)));
        Assert.Equal([1, 2, 3], ran.ToArray());
        Assert.Equal(0, _scheduler.Scheduled);
    }

    [Fact]
    public void Nothing_runs_before_its_deadline()
    {
        var watch = Stopwatch.StartNew();
        var at = TimeSpan.Zero;
        using var done = new ManualResetEventSlim();
        Actions.ScheduleOnce(TimeSpan.FromMilliseconds(50), () => { at = watch.Elapsed; done.Set(); });
        Assert.True(done.Wait(TimeSpan.FromSeconds(5)));
        Assert.True(at >= TimeSpan.FromMilliseconds(50), $"ran after {at.TotalMilliseconds} ms");
    }

    [Fact]
    public void A_cancelled_action_never_runs_and_a_repeated_one_stops_when_cancelled()
    {
        var once = 0;
        var cancel = new Cancelable((IScheduler)_scheduler);
        Actions.ScheduleOnce(TimeSpan.FromMilliseconds(30), () => Interlocked.Increment(ref once), cancel);
        cancel.Cancel();

        var repeats = 0;
        var stop = new Cancelable((IScheduler)_scheduler);
        using var thrice = new CountdownEvent(3);
        Actions.ScheduleRepeatedly(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(10), () =>
        {
            Interlocked.Increment(ref repeats);
            if (!thrice.IsSet)
            {
                thrice.Signal();
            }
        }, stop);
        Assert.True(thrice.Wait(TimeSpan.FromSeconds(5)));
        stop.Cancel();
        var seen = Volatile.Read(ref repeats);
        using var later = new ManualResetEventSlim();
        Actions.ScheduleOnce(TimeSpan.FromMilliseconds(100), later.Set);
        Assert.True(later.Wait(TimeSpan.FromSeconds(5)));
        Assert.Equal(0, once);
        Assert.InRange(Volatile.Read(ref repeats), seen, seen + 1); // at most the one already due when cancelled
    }
}
