using System.CommandLine;
using System.Globalization;
using Smapp.Netlink;
using Smapp.Netlink.Queue;
using Smapp.Netlink.Wire;

namespace Smapp.Host.Commands;

/// <summary>
/// `smapp delayline`: a userspace delay line for kernels without netem. Binds an nfnetlink_queue queue in a
/// namespace, holds every packet an NFQUEUE rule sends there for a fixed time, then accepts it, in arrival order.
/// kernel-pm/testbed.sh starts one per direction of a link that has --delay.
/// </summary>
internal static class DelayLineCommand
{
    public static Command Build()
    {
        var netns = CommonOptions.Netns();
        var queue = new Option<ushort>("--queue") { Description = "The NFQUEUE queue number to bind (iptables ... -j NFQUEUE --queue-num Q)", Required = true };
        var delay = new Option<double>("--delay") { Description = "Milliseconds to hold each packet (one way)", Required = true };
        var stats = new Option<bool>("--stats") { Description = "At exit, print packets, the deepest the queue got, verdict errors, ENOBUFS and how late packets left" };
        var maxQueue = new Option<uint>("--max-queue") { Description = "Packets the kernel may hold for the queue; beyond that it lets packets pass undelayed (fail-open)", DefaultValueFactory = _ => 65536 };
        var rcvbuf = new Option<int>("--rcvbuf") { Description = "Socket receive buffer in bytes (a burst beyond it is ENOBUFS: those packets pass undelayed)", DefaultValueFactory = _ => 8 * 1024 * 1024 };
        var timeout = new Option<double?>("--timeout") { Description = "Exit after S seconds" };
        var rt = new Option<int>("--rt-priority") { Description = "Run the delay loop as a SCHED_FIFO thread of this priority (1-99; 0: an ordinary thread), so that other work on a busy machine does not hold due packets back", DefaultValueFactory = _ => 0 };
        var cmd = new Command("delayline", "Delay every packet of an NFQUEUE queue by a fixed time (the testbed's delay on kernels without netem); SIGTERM or Ctrl+C stops it")
        {
            netns, queue, delay, stats, maxQueue, rcvbuf, timeout, rt,
        };
        cmd.SetAction(r =>
        {
            var ms = r.GetValue(delay);
            if (double.IsNaN(ms) || ms < 0 || ms > 60_000)
            {
                return CommonOptions.Fail("--delay takes 0 to 60000 milliseconds", 2);
            }

            if (r.GetValue(rt) is < 0 or > 99)
            {
                return CommonOptions.Fail("--rt-priority takes 0 (off) to 99", 2);
            }

            var options = new NfQueueOptions { MaxLength = r.GetValue(maxQueue), ReceiveBuffer = r.GetValue(rcvbuf) };
            var seconds = r.GetValue(timeout);
            return Run(r.GetValue(netns), r.GetValue(queue), TimeSpan.FromMilliseconds(ms), options, r.GetValue(stats), seconds is { } s ? TimeSpan.FromSeconds(s) : null, r.GetValue(rt));
        });
        return cmd;
    }

    private static int Run(string? netns, ushort queueNumber, TimeSpan delay, NfQueueOptions options, bool printStats, TimeSpan? duration, int rtPriority)
    {
        NetworkNamespace ns;
        try
        {
            ns = NetworkNamespace.FromOption(netns);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return CommonOptions.Fail(e.Message);
        }

        using var wakeup = new WakeupFd();
        using var cts = CommonOptions.CancelOnSignals(wakeup);
        string? failure = null;
        DelayLine? line = null;
        NfQueue? queue = null;

        // A dedicated thread: it enters the namespace, binds the queue there, and runs the loop.
        var thread = new Thread(() =>
        {
            try
            {
                ns.EnterOnThisThread();
                queue = NfQueue.Bind(queueNumber, options);
                line = new DelayLine(queue, delay, wakeup.Fd);
                var sched = "an ordinary thread";
                if (rtPriority > 0)
                {
                    var errno = DelayLine.UseRealtimePriority(rtPriority);
                    sched = errno == 0 ? $"SCHED_FIFO {rtPriority}" : $"an ordinary thread (SCHED_FIFO refused: {Netlink.Errno.Name(errno)})";
                }

                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"smapp delayline: queue {queueNumber} bound in {ns}, delay {delay.TotalMilliseconds} ms, max queue {options.MaxLength}, rcvbuf {queue.ReceiveBufferSize}, {sched}"));
                line.Run(cts.Token, duration);
            }
            catch (Exception e) when (e is NetlinkException or InvalidOperationException)
            {
                failure = e.Message;
            }
            finally
            {
                queue?.Dispose();
            }
        })
        {
            Name = $"delayline-{queueNumber}",
            IsBackground = true,
        };
        thread.Start();
        thread.Join();

        if (failure is not null)
        {
            return CommonOptions.Fail($"delayline: {failure}");
        }

        if (printStats && line is not null && queue is not null)
        {
            var s = line.Stats;
            var q = queue.Stats;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"delayline queue={queueNumber} delay_ms={delay.TotalMilliseconds} packets={s.Packets} max_depth={s.MaxDepth} releases={s.Releases} verdicts={q.Verdicts} batch_verdicts={q.BatchVerdicts} verdict_errors={q.Refusals + q.SendFailures} enobufs={q.Overruns} decode_errors={q.DecodeErrors} released_at_stop={s.ReleasedAtStop} late_mean_us={s.LateMeanNs / 1000:F1} late_max_us={s.LateMaxNs / 1000.0:F1} late_hist_us={s.LateHistogramText()} allocated_bytes={s.AllocatedBytes}"));
        }

        return 0;
    }
}
