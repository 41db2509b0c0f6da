using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Event;

namespace Smapp.Actors.EventLoop;

/// <summary>
/// An Akka scheduler that sleeps until its next deadline. Akka's default (a hashed wheel) ticks every
/// <c>tick-duration</c> whether anything is due or not, and each tick wakes the runtime's thread pool; an idle
/// daemon on a phone must not wake hundreds of times a second. Here one thread waits on a monitor with the time
/// left to the earliest deadline (forever when nothing is scheduled), runs what is due — a scheduled Tell only
/// enqueues, so nothing long runs on it — and goes back to sleep. Select it with
/// <c>akka.scheduler.implementation = "Smapp.Actors.EventLoop.DeadlineScheduler, Smapp.Actors"</c>.
/// </summary>
public sealed class DeadlineScheduler : SchedulerBase, IDateTimeOffsetNowTimeProvider, IDisposable
{
    private readonly object _gate = new();
    private readonly PriorityQueue<Entry, (long Due, long Sequence)> _queue = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Thread _thread;
    private readonly ILoggingAdapter _log;
    private long _nextSequence;
    private bool _stopping;

    public DeadlineScheduler(Config config, ILoggingAdapter log)
        : base(config, log)
    {
        _log = log;
        _thread = new Thread(Run) { IsBackground = true, Name = "smapp-scheduler" };
        _thread.Start();
    }

    /// <summary>Runs (on the scheduler's thread) when its deadline comes, unless cancelled; repeats if it has an interval.</summary>
    private sealed class Entry(Action action, ICancelable? cancelable, TimeSpan? interval)
    {
        public Action Action { get; } = action;

        public ICancelable? Cancelable { get; } = cancelable;

        public TimeSpan? Interval { get; } = interval;

        public long Due { get; set; }
    }

    /// <summary>Entries waiting now (for tests and metrics).</summary>
    public int Scheduled
    {
        get
        {
            lock (_gate)
            {
                return _queue.Count;
            }
        }
    }

    protected override DateTimeOffset TimeNow => DateTimeOffset.Now;

    public override TimeSpan MonotonicClock => _clock.Elapsed;

    public override TimeSpan HighResMonotonicClock => _clock.Elapsed;

    protected override void InternalScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Add(() => receiver.Tell(message, sender), delay, null, cancelable);

    protected override void InternalScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Add(() => receiver.Tell(message, sender), initialDelay, interval, cancelable);

    protected override void InternalScheduleOnce(TimeSpan delay, Action action, ICancelable cancelable) =>
        Add(action, delay, null, cancelable);

    protected override void InternalScheduleOnce(TimeSpan delay, IRunnable action, ICancelable cancelable) =>
        Add(action.Run, delay, null, cancelable);

    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action, ICancelable cancelable) =>
        Add(action, initialDelay, interval, cancelable);

    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, IRunnable action, ICancelable cancelable) =>
        Add(action.Run, initialDelay, interval, cancelable);

    private void Add(Action action, TimeSpan delay, TimeSpan? interval, ICancelable? cancelable)
    {
        var entry = new Entry(action, cancelable, interval) { Due = Ticks(delay) };
        lock (_gate)
        {
            if (_stopping)
            {
                return;
            }

            var wasFirst = !_queue.TryPeek(out _, out var first) || entry.Due < first.Due;
            _queue.Enqueue(entry, (entry.Due, _nextSequence++));
            if (wasFirst)
            {
                Monitor.Pulse(_gate);
            }
        }
    }

    private long Ticks(TimeSpan delay) => _clock.Elapsed.Ticks + Math.Max(0, delay.Ticks);

    private void Run()
    {
        var due = new List<Entry>();
        while (true)
        {
            lock (_gate)
            {
                while (!_stopping)
                {
                    if (!_queue.TryPeek(out _, out var first))
                    {
                        Monitor.Wait(_gate);
                        continue;
                    }

                    var wait = first.Due - _clock.Elapsed.Ticks;
                    if (wait <= 0)
                    {
                        break;
                    }

                    // Monitor.Wait takes whole milliseconds: round up so that nothing runs early.
                    Monitor.Wait(_gate, (int)Math.Min(int.MaxValue, (wait + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond));
                }

                if (_stopping)
                {
                    return;
                }

                var now = _clock.Elapsed.Ticks;
                while (_queue.TryPeek(out var e, out var at) && at.Due <= now)
                {
                    _queue.Dequeue();
                    due.Add(e);
                }
            }

            foreach (var e in due)
            {
                if (e.Cancelable?.IsCancellationRequested == true)
                {
                    continue;
                }

                try
                {
                    e.Action();
                }
                catch (Exception ex)
                {
                    _log.Error(ex, "scheduled action failed");
                }

                if (e.Interval is { } interval && e.Cancelable?.IsCancellationRequested != true)
                {
                    e.Due += Math.Max(1, interval.Ticks);
                    lock (_gate)
                    {
                        if (!_stopping)
                        {
                            _queue.Enqueue(e, (e.Due, _nextSequence++));
                        }
                    }
                }
            }

            due.Clear();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            _queue.Clear();
            Monitor.Pulse(_gate);
        }

        if (Thread.CurrentThread != _thread)
        {
            _thread.Join(TimeSpan.FromSeconds(2));
        }
    }
}
