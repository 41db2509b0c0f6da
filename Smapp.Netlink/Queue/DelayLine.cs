using System.Diagnostics;
using System.Runtime.InteropServices;
using Smapp.Netlink.Native;
using Smapp.Netlink.Wire;

namespace Smapp.Netlink.Queue;

/// <summary>What a delay line did, read after <see cref="DelayLine.Run"/> returns.</summary>
public sealed class DelayLineStats
{
    public long Packets;
    public int MaxDepth;

    /// <summary>Release runs: one verdict message each (a batch verdict when the run has more than one packet).</summary>
    public long Releases;

    /// <summary>Packets accepted before their time because the line was stopping.</summary>
    public long ReleasedAtStop;

    /// <summary>How late packets left after their due time, in nanoseconds (timer and scheduling latency).</summary>
    public long LateMaxNs;

    public long LateSumNs;

    public long DecodeErrors;

    /// <summary>Upper bounds (µs) of the lateness histogram's buckets; the last bucket takes the rest.</summary>
    public static ReadOnlySpan<int> LateBucketsUs => Buckets;

    private static readonly int[] Buckets = [25, 50, 100, 200, 500, 1000, 2000, 5000];

    /// <summary>Packets by how late they left: <see cref="LateBucketsUs"/>, then one more bucket for anything later.</summary>
    public long[] LateHistogram { get; } = new long[LateBucketsUs.Length + 1];

    /// <summary>Bytes the loop thread allocated while it ran (0 in steady state: nothing per packet).</summary>
    public long AllocatedBytes;

    internal void CountLate(long lateNs)
    {
        var us = lateNs / 1000;
        var b = 0;
        while (b < Buckets.Length && us > Buckets[b])
        {
            b++;
        }

        LateHistogram[b]++;
    }

    /// <summary>The histogram as "25:n,50:n,...,inf:n".</summary>
    public string LateHistogramText()
    {
        var parts = new string[LateHistogram.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            parts[i] = $"{(i < LateBucketsUs.Length ? LateBucketsUs[i].ToString(System.Globalization.CultureInfo.InvariantCulture) : "inf")}:{LateHistogram[i]}";
        }

        return string.Join(',', parts);
    }

    public double LateMeanNs => Packets - ReleasedAtStop > 0 ? (double)LateSumNs / (Packets - ReleasedAtStop) : 0;
}

/// <summary>
/// Holds every packet of a queue for a fixed delay, then accepts it, in arrival order. One thread: it polls the
/// socket with a timeout that ends at the next due time (ppoll, nanoseconds, 1 ns timer slack), accepts every
/// packet then due with one message (NFQNL_MSG_VERDICT for one packet, NFQNL_MSG_VERDICT_BATCH for a run: the
/// kernel's queue and this FIFO share the arrival order, so "every id up to the run's last" is exactly the run),
/// and reads what arrived. Nothing is allocated per packet.
/// </summary>
public sealed unsafe class DelayLine : INfQueueSink
{
    private readonly NfQueue _queue;
    private readonly long _delayTicks;
    private readonly int _wakeFd;
    private readonly DelayFifo _fifo;
    private readonly double _nsPerTick = 1e9 / Stopwatch.Frequency;

    /// <param name="queue">A bound queue, used on the thread that calls <see cref="Run"/>.</param>
    /// <param name="delay">How long each packet is held.</param>
    /// <param name="wakeFd">A descriptor (an eventfd) that becomes readable to stop the loop; -1 for none.</param>
    public DelayLine(NfQueue queue, TimeSpan delay, int wakeFd = -1, int initialCapacity = 16384)
    {
        if (delay < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(delay), "a delay cannot be negative");
        }

        _queue = queue;
        _delayTicks = (long)(delay.TotalSeconds * Stopwatch.Frequency);
        _wakeFd = wakeFd;
        _fifo = new DelayFifo(initialCapacity);
    }

    public DelayLineStats Stats { get; } = new();

    /// <summary>
    /// Makes the calling thread a SCHED_FIFO thread of <paramref name="priority"/> (1–99), so that a busy machine's
    /// other work cannot hold a due packet back by milliseconds (the kernel's RT throttling still leaves others 5 %).
    /// Returns the errno on failure (EPERM without CAP_SYS_NICE), 0 on success.
    /// </summary>
    public static int UseRealtimePriority(int priority) => ThreadScheduling.SetRealtime(priority);

    /// <summary>Packets held right now.</summary>
    public int Depth => _fifo.Count;

    /// <summary>
    /// Runs until <paramref name="stop"/> is cancelled (signal the wake descriptor so that the poll returns) or
    /// <paramref name="duration"/> has passed; then stops queueing, accepts what it still holds, and unbinds.
    /// </summary>
    public void Run(CancellationToken stop, TimeSpan? duration = null)
    {
        // Timers of this thread fire within 1 ns of their time instead of the default 50 µs slack.
        Libc.prctl(Libc.PR_SET_TIMERSLACK, 1, 0, 0, 0);
        var end = duration is { } d ? Stopwatch.GetTimestamp() + (long)(d.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        var fds = stackalloc PollFd[2];
        fds[0] = new PollFd { Fd = _queue.Fd, Events = Libc.POLLIN };
        fds[1] = new PollFd { Fd = _wakeFd, Events = Libc.POLLIN };
        var nfds = _wakeFd >= 0 ? 2u : 1u;
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            WarmUp();
            allocated = GC.GetAllocatedBytesForCurrentThread();
            while (!stop.IsCancellationRequested)
            {
                var now = Stopwatch.GetTimestamp();
                if (now >= end)
                {
                    break;
                }

                Release(now);
                var until = _fifo.Count > 0 ? Math.Min(_fifo.HeadDue, end) : end;
                Timespec timeout;
                Timespec* tp = null;
                if (until != long.MaxValue)
                {
                    var wait = until - Stopwatch.GetTimestamp();
                    if (wait <= 0)
                    {
                        continue;
                    }

                    timeout = Timespec.FromNanoseconds((long)(wait * _nsPerTick));
                    tp = &timeout;
                }

                fds[0].Revents = 0;
                fds[1].Revents = 0;
                var n = Libc.ppoll(fds, nfds, tp, null);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Errno.EINTR)
                    {
                        continue;
                    }

                    throw new NetlinkException(errno, null, "ppoll");
                }

                if ((fds[0].Revents & (Libc.POLLIN | Libc.POLLERR)) != 0)
                {
                    _queue.Receive(this);
                }

                // The wake descriptor is only a doorbell: the loop condition reads the token.
            }
        }
        finally
        {
            Stats.AllocatedBytes = GC.GetAllocatedBytesForCurrentThread() - allocated;
            Stop();
        }
    }

    /// <summary>
    /// Runs the per-packet paths once before the first packet, so that the JIT does not hold that packet a millisecond
    /// or two longer: a made-up NFQNL_MSG_PACKET (every attribute the kernel sends) through the decoder into the FIFO,
    /// then a verdict and a batch verdict for id 0 — which no packet has, ids start at 1 — and the kernel's two
    /// ENOENTs. The counters are left as if nothing happened; real packets that arrive meanwhile are kept.
    /// </summary>
    private void WarmUp()
    {
        var w = new NetlinkWriter(128);
        var start = w.BeginMessage(NfqnlMsg.PacketType, NetlinkFlags.None, 0);
        Span<byte> gen = stackalloc byte[NfGenMsg.Size];
        new NfGenMsg(0, Nfnl.Version0, _queue.Queue).Write(gen);
        w.PutRaw(gen);
        Span<byte> hdr = stackalloc byte[NfQueuePacket.PacketHdrSize];
        hdr.Clear();
        w.PutAttribute(NfqaAttr.PacketHdr, hdr);
        Span<byte> be32 = stackalloc byte[4];
        be32.Clear();
        foreach (var type in (ReadOnlySpan<ushort>)[NfqaAttr.IfIndexInDev, NfqaAttr.IfIndexOutDev, NfqaAttr.Mark, NfqaAttr.Priority, NfqaAttr.SkbInfo, NfqaAttr.CapLen])
        {
            w.PutAttribute(type, be32);
        }

        w.PutAttribute(NfqaAttr.Payload, be32);
        w.EndMessage(start);

        var q = _queue.Stats;
        var (verdicts, batches, refusals, lastErrno) = (q.Verdicts, q.BatchVerdicts, q.Refusals, q.LastRefusalErrno);
        new NfQueueBatchDecoder().Dispatch(w.Written, this);
        Release(long.MaxValue);                 // NFQNL_MSG_VERDICT for id 0
        _fifo.Push(0, 0);
        _fifo.Push(0, 0);
        Release(long.MaxValue);                 // NFQNL_MSG_VERDICT_BATCH up to id 0
        Stats.Packets = 0;
        Stats.MaxDepth = 0;
        Stats.Releases = 0;
        Stats.LateSumNs = 0;
        Stats.LateMaxNs = 0;
        Array.Clear(Stats.LateHistogram);
        _queue.Receive(this);                   // the two ENOENTs (and any real packet)
        q.Verdicts = verdicts;
        q.BatchVerdicts = batches;
        q.Refusals = Math.Max(refusals, q.Refusals - 2);
        if (q.Refusals == refusals)
        {
            q.LastRefusalErrno = lastErrno;
        }
    }

    private void Release(long now)
    {
        var n = 0;
        uint last = 0;
        while (_fifo.Count > 0 && _fifo.HeadDue <= now)
        {
            var lateNs = (long)((now - _fifo.HeadDue) * _nsPerTick);
            Stats.LateSumNs += lateNs;
            if (lateNs > Stats.LateMaxNs)
            {
                Stats.LateMaxNs = lateNs;
            }

            Stats.CountLate(lateNs);
            last = _fifo.Pop();
            n++;
        }

        if (n == 0)
        {
            return;
        }

        if (n == 1)
        {
            _queue.Accept(last);
        }
        else
        {
            _queue.AcceptUpTo(last);
        }

        Stats.Releases++;
    }

    /// <summary>New packets pass at once (queue length 0, fail-open); those still held are accepted; then unbind.</summary>
    private void Stop()
    {
        try
        {
            _queue.Quiesce(this);
            var n = _fifo.TakeAll(out var last);
            if (n > 0)
            {
                _queue.AcceptUpTo(last);
                Stats.ReleasedAtStop += n;
            }

            _queue.Unbind();
        }
        catch (NetlinkException)
        {
            // Closing the socket unbinds too (the kernel then drops what the queue holds).
        }
    }

    void INfQueueSink.OnPacket(in NfQueuePacket packet)
    {
        _fifo.Push(packet.PacketId, Stopwatch.GetTimestamp() + _delayTicks);
        Stats.Packets++;
        if (_fifo.Count > Stats.MaxDepth)
        {
            Stats.MaxDepth = _fifo.Count;
        }
    }

    void INfQueueSink.OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram) => Stats.DecodeErrors++;
}
