using System.Collections.Concurrent;
using Akka.Dispatch;
using Smapp.Netlink;

namespace Smapp.Actors.EventLoop;

/// <summary>
/// The netlink event loop: one dedicated thread that waits on the netlink sockets and on a wake-up eventfd, and
/// that is also the executor of the actors that run on it (the gateway, the supervisor, the connections). When it
/// fills a mailbox — say by routing a kernel event — it runs that mailbox itself before it waits again, so an event
/// reaches its policy and the policy's command reaches the kernel with no thread hop, the way mptcpd's
/// single-threaded loop works; actor semantics are kept. Work queued from other threads (timers, the sampler)
/// wakes the loop through the eventfd.
/// </summary>
public sealed class NetlinkEventLoop : IDisposable
{
    private readonly ConcurrentQueue<IRunnable> _remote = new();
    private readonly Queue<IRunnable> _local = new();
    private readonly WakeupFd _wakeup = new();
    private readonly List<Source> _sources = [];
    private readonly Thread _thread;
    private readonly bool _busyPoll;
    private volatile bool _stopping;
    private int _sleeping;
    private int _threadId = -1;

    private sealed class Source(int fd, Action onReadable)
    {
        public int Fd { get; } = fd;

        public Action OnReadable { get; } = onReadable;

        public bool Armed { get; set; } = true;
    }

    /// <param name="name">Thread name.</param>
    /// <param name="busyPoll">Spin on the sockets instead of sleeping in poll: lower latency, one core burnt.</param>
    /// <param name="ns">The network namespace the loop thread enters first: the sockets its actors open are there.</param>
    /// <param name="realtimePriority">
    /// 1–99: the loop thread runs in SCHED_FIFO at that priority, so that a kernel event is handled the moment it
    /// comes, not after the slice of whatever else runs on that CPU (<see cref="ThreadScheduling"/>); 0: the ordinary
    /// class. If the kernel refuses, the loop runs in the ordinary class and <see cref="Scheduling"/> says why.
    /// </param>
    public NetlinkEventLoop(string name = "smapp-netlink-loop", bool busyPoll = false, NetworkNamespace? ns = null, int realtimePriority = 0)
    {
        _busyPoll = busyPoll;
        Namespace = ns ?? NetworkNamespace.Current;
        Action onThreadStart = Namespace.EnterOnThisThread;
        var started = new ManualResetEventSlim();
        Exception? startFailure = null;
        _thread = new Thread(() =>
        {
            _threadId = Environment.CurrentManagedThreadId;
            try
            {
                onThreadStart();
            }
            catch (Exception e)
            {
                startFailure = e;
                started.Set();
                return;
            }

            if (realtimePriority > 0)
            {
                var refused = ThreadScheduling.TrySetRealtime(realtimePriority);
                Scheduling = refused is null ? $"SCHED_FIFO {realtimePriority}" : $"{ThreadScheduling.Current()} (SCHED_FIFO {realtimePriority} refused: {refused})";
                SchedulingRefused = refused is not null;
            }
            else
            {
                Scheduling = ThreadScheduling.Current();
            }

            started.Set();
            Run();
        })
        {
            IsBackground = true,
            Name = name,
        };
        _thread.Start();
        started.Wait();
        if (startFailure is not null)
        {
            throw new InvalidOperationException($"event loop could not start: {startFailure.Message}", startFailure);
        }
    }

    /// <summary>The loop thread's scheduling class, as set at start ("SCHED_FIFO 10", or why not).</summary>
    public string Scheduling { get; private set; } = "";

    /// <summary>A real-time priority was asked for and the kernel refused it.</summary>
    public bool SchedulingRefused { get; private set; }

    /// <summary>The network namespace the loop thread lives in.</summary>
    public NetworkNamespace Namespace { get; }

    /// <summary>Loop iterations so far (for metrics).</summary>
    public long Iterations { get; private set; }

    /// <summary>Runnables executed so far.</summary>
    public long Executed { get; private set; }

    /// <summary>Wake-ups written to the eventfd by other threads.</summary>
    public long Wakeups;

    public bool IsLoopThread => Environment.CurrentManagedThreadId == _threadId;

    /// <summary>Queues a runnable (a mailbox) to run on the loop thread.</summary>
    public void Execute(IRunnable run)
    {
        if (IsLoopThread)
        {
            _local.Enqueue(run);
            return;
        }

        _remote.Enqueue(run);
        if (Volatile.Read(ref _sleeping) == 1 && Interlocked.Exchange(ref _sleeping, 0) == 1)
        {
            Interlocked.Increment(ref Wakeups);
            _wakeup.Signal();
        }
    }

    /// <summary>
    /// Watches <paramref name="fd"/>: when it is readable, <paramref name="onReadable"/> runs on the loop thread
    /// once, and the descriptor is not watched again until <see cref="Rearm"/> (the reader drains it first).
    /// Call from the loop thread.
    /// </summary>
    public void AddSource(int fd, Action onReadable)
    {
        EnsureLoopThread();
        _sources.Add(new Source(fd, onReadable));
    }

    public void RemoveSource(int fd)
    {
        EnsureLoopThread();
        _sources.RemoveAll(s => s.Fd == fd);
    }

    /// <summary>Watches the descriptor again after its reader drained it. Call from the loop thread.</summary>
    public void Rearm(int fd)
    {
        EnsureLoopThread();
        foreach (var s in _sources)
        {
            if (s.Fd == fd)
            {
                s.Armed = true;
            }
        }
    }

    private void EnsureLoopThread()
    {
        if (!IsLoopThread)
        {
            throw new InvalidOperationException("event-loop sources are changed from the loop thread only");
        }
    }

    private void Run()
    {
        var fds = new PollSet();
        while (!_stopping)
        {
            Iterations++;
            RunQueued();

            fds.Reset();
            fds.Add(_wakeup.Fd);
            foreach (var s in _sources)
            {
                if (s.Armed)
                {
                    fds.Add(s.Fd);
                }
            }

            var timeout = _busyPoll ? 0 : -1;
            if (!_busyPoll)
            {
                Volatile.Write(ref _sleeping, 1);
                Interlocked.MemoryBarrier();
                if (!_remote.IsEmpty || _local.Count > 0)
                {
                    timeout = 0;
                }
            }

            fds.Wait(timeout);
            Volatile.Write(ref _sleeping, 0);
            if (fds.Ready(0))
            {
                _wakeup.Drain();
            }

            for (var i = 1; i < fds.Count; i++)
            {
                if (!fds.Ready(i))
                {
                    continue;
                }

                foreach (var s in _sources)
                {
                    if (s.Fd == fds.Fd(i) && s.Armed)
                    {
                        s.Armed = false;
                        s.OnReadable();
                    }
                }
            }
        }
    }

    /// <summary>Runs what is queued, including what running it queues, with a bound so the sockets are not starved.</summary>
    private void RunQueued()
    {
        for (var budget = 4096; budget > 0; budget--)
        {
            if (!_local.TryDequeue(out var run) && !_remote.TryDequeue(out run))
            {
                return;
            }

            Executed++;
            try
            {
                run.Run();
            }
            catch (Exception e)
            {
                // A mailbox run never throws in Akka; anything else must not kill the loop.
                Console.Error.WriteLine($"smapp: event loop task failed: {e}");
            }
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _wakeup.Signal();
        if (!IsLoopThread)
        {
            _thread.Join(TimeSpan.FromSeconds(5));
        }

        _wakeup.Dispose();
    }
}
