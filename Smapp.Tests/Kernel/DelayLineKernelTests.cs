using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Smapp.Netlink;
using Smapp.Netlink.Native;
using Smapp.Netlink.Queue;
using Smapp.Netlink.Route;
using Smapp.Netlink.Wire;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>
/// Delay on this kernel (no netem): nfnetlink_queue, the delay line in-process, and the testbed's --delay through
/// `smapp delayline` processes. Bounds leave room for a busy 2-core machine: a delay line can only add time, so
/// the lower bounds are hard, and the upper ones are medians with a wide margin.
/// </summary>
public partial class DelayLineKernelTests
{
    [GeneratedRegex(@"time=([0-9.]+) ms")]
    private static partial Regex PingTime();

    /// <summary>Round-trip times (ms) of <paramref name="count"/> pings from the client's <paramref name="from"/> to the server.</summary>
    private static List<double> Ping(Testbed bed, string from, int count = 20)
    {
        var (code, stdout, stderr) = Shell.Run("ip", ["netns", "exec", bed.ClientNs, "ping", "-n", "-c", $"{count}", "-i", "0.05", "-W", "2", "-I", from, "203.0.113.1"], TimeSpan.FromSeconds(60));
        var times = PingTime().Matches(stdout).Select(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
        Assert.True(times.Count >= count * 3 / 4, $"ping from {from}: {times.Count}/{count} replies (exit {code}): {stderr}{stdout}");
        return times;
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s[s.Count / 2];
    }

    private static string State(Testbed bed) => Shell.Run(Repo.Testbed, ["state", bed.Prefix], TimeSpan.FromSeconds(20)).Stdout;

    private static string StateDir(string prefix) => Path.Combine("/run/smapp-testbed", prefix);

    private static string? CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static List<int> ProcessesNaming(string text) =>
        Directory.GetDirectories("/proc")
            .Select(Path.GetFileName)
            .Where(n => n!.All(char.IsAsciiDigit))
            .Select(n => int.Parse(n!, CultureInfo.InvariantCulture))
            .Where(pid => CommandLine(pid)?.Contains(text, StringComparison.Ordinal) == true)
            .ToList();

    [Fact]
    public void Delay_on_wifi_adds_twice_the_delay_to_its_rtt_and_nothing_to_cell()
    {
        using var bed = Testbed.Up("two-path", "--delay", "wifi=20");
        var wifi = Ping(bed, "192.0.2.1");
        var cell = Ping(bed, "198.51.100.1");
        Assert.True(wifi.Min() >= 40, $"wifi RTTs {string.Join(", ", wifi)}: 20 ms each way cannot be under 40 ms");
        Assert.InRange(Median(wifi), 40, 80);
        Assert.True(Median(cell) < 10, $"cell RTTs {string.Join(", ", cell)}: the undelayed path");
        if (!Qdisc.NetemAvailable(out _))
        {
            var state = State(bed);
            Assert.Contains("delay wifi in 20 ms", state);
            Assert.Contains("delay wifi out 20 ms", state);
            Assert.Equal(2, Regex.Matches(state, @"\(running\)").Count);
            Assert.Contains("-i wifi -j NFQUEUE --queue-num 1 --queue-bypass", state);
            Assert.Contains("-o wifi -j NFQUEUE --queue-num 2 --queue-bypass", state);
        }
    }

    [Fact]
    public void Down_ends_every_delay_line_by_pid_and_leaves_no_process_behind()
    {
        var bed = Testbed.Up("two-path", "--delay", "wifi=5", "--delay", "cell=5");
        var pids = new List<int>();
        try
        {
            if (!Qdisc.NetemAvailable(out _))
            {
                pids = File.ReadAllLines(Path.Combine(StateDir(bed.Prefix), "delaylines"))
                    .Select(l => int.Parse(l.Split(' ')[0], CultureInfo.InvariantCulture)).ToList();
                Assert.Equal(4, pids.Count);
                Assert.All(pids, pid => Assert.Contains($"delayline --netns {bed.Prefix}-rtr", CommandLine(pid)));
            }
        }
        finally
        {
            bed.Dispose();
        }

        Assert.All(pids, pid => Assert.DoesNotContain("delayline", CommandLine(pid) ?? ""));
        Assert.Empty(ProcessesNaming($"--netns {bed.Prefix}-"));
        Assert.False(Directory.Exists(StateDir(bed.Prefix)), "down leaves the testbed's state directory behind");
        Assert.DoesNotContain(bed.Prefix + "-", Shell.Run("ip", ["netns", "list"], TimeSpan.FromSeconds(5)).Stdout);
    }

    [Fact]
    public void Set_changes_and_removes_the_delay_of_a_running_link()
    {
        using var bed = Testbed.Up("two-path", "--delay", "wifi=20");
        bed.Set("wifi", "--delay", "0");
        Assert.True(Median(Ping(bed, "192.0.2.1", 10)) < 10, "--delay 0 leaves a delay");
        if (!Qdisc.NetemAvailable(out _))
        {
            Assert.DoesNotContain("NFQUEUE", State(bed));
        }

        bed.Set("wifi", "--delay", "5");
        var rtt = Ping(bed, "192.0.2.1", 10);
        Assert.True(rtt.Min() >= 10, $"5 ms each way: RTTs {string.Join(", ", rtt)}");
        Assert.InRange(Median(rtt), 10, 40);
    }

    private static bool QueueBound(Testbed bed, int queue) =>
        bed.Exec(bed.RouterNs, "cat", "/proc/net/netfilter/nfnetlink_queue").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Any(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0] == queue.ToString(CultureInfo.InvariantCulture));

    /// <summary>
    /// The last packet id the queue gave out (id_sequence, the 8th column of /proc/net/netfilter/nfnetlink_queue): every
    /// packet that enters the queue gets one, including those passed at once because the socket was full.
    /// </summary>
    private static long QueueIdSequence(Testbed bed, int queue) =>
        bed.Exec(bed.RouterNs, "cat", "/proc/net/netfilter/nfnetlink_queue").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length >= 8 && f[0] == queue.ToString(CultureInfo.InvariantCulture))
            .Select(f => long.Parse(f[7], CultureInfo.InvariantCulture))
            .DefaultIfEmpty(0).Max();

    [Fact]
    public void The_command_binds_its_queue_and_on_sigterm_unbinds_prints_its_stats_and_exits_0()
    {
        using var bed = Testbed.Up("two-path");
        using var p = SmappProcess.Command("delayline", "--netns", bed.RouterNs, "--queue", "30", "--delay", "5", "--stats", "--timeout", "300");
        Assert.True(Eventually.Holds(() => QueueBound(bed, 30) || p.HasExited, SmappProcess.DefaultWait) && QueueBound(bed, 30),
            $"queue 30 not bound:\n{p.Tail()}");
        Assert.Equal(0, p.Terminate());
        Assert.Contains("queue 30 bound in " + bed.RouterNs, p.Output);
        Assert.Contains("delayline queue=30 delay_ms=5 packets=0", p.Output);
        Assert.Contains("verdict_errors=0 enobufs=0", p.Output);
        Assert.False(QueueBound(bed, 30), "the queue is still bound after exit");
    }

    /// <summary>Receives UDP datagrams in a namespace until <paramref name="count"/> arrived or the time is up.</summary>
    private static List<(int Seq, long At)> ReceiveUdp(Socket s, int count, TimeSpan within)
    {
        var got = new List<(int, long)>();
        var buf = new byte[2048];
        var end = Stopwatch.GetTimestamp() + (long)(within.TotalSeconds * Stopwatch.Frequency);
        while (got.Count < count && Stopwatch.GetTimestamp() < end)
        {
            if (s.Poll(TimeSpan.FromMilliseconds(50), SelectMode.SelectRead))
            {
                var n = s.Receive(buf);
                if (n >= 4)
                {
                    got.Add((BitConverter.ToInt32(buf, 0), Stopwatch.GetTimestamp()));
                }
            }
        }

        return got;
    }

    private static (Socket Receiver, Socket Sender) UdpPair(Testbed bed, int port, string from)
    {
        var receiver = NetworkNamespace.Named(bed.ServerNs).Run(() =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.ReceiveBufferSize = 4 * 1024 * 1024;
            s.Bind(new IPEndPoint(bed.ServerAddress, port));
            return s;
        });
        var sender = NetworkNamespace.Named(bed.ClientNs).Run(() =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Parse(from), 0));
            s.Connect(new IPEndPoint(bed.ServerAddress, port));
            return s;
        });
        return (receiver, sender);
    }

    private sealed class IdSink : INfQueueSink
    {
        public List<uint> Ids { get; } = [];

        public void OnPacket(in NfQueuePacket packet) => Ids.Add(packet.PacketId);

        public void OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram) => throw new InvalidOperationException(error.ToString());
    }

    [Fact]
    public void A_burst_beyond_the_receive_buffer_is_enobufs_and_fails_open_and_a_queue_binds_once()
    {
        using var bed = Testbed.Up("two-path");
        bed.Exec(bed.RouterNs, "iptables", "-w", "-t", "mangle", "-A", "FORWARD", "-i", "cell", "-p", "udp", "-j", "NFQUEUE", "--queue-num", "21", "--queue-bypass");
        var rtr = NetworkNamespace.Named(bed.RouterNs);
        using var queue = rtr.Run(() => NfQueue.Bind(21, new NfQueueOptions { ReceiveBuffer = 4096 }));
        var e = Assert.Throws<NetlinkException>(() => rtr.Run(() => NfQueue.Bind(21)));
        Assert.Equal(Errno.EPERM, e.Errno);
        Assert.Contains("bound by another socket", e.Message);

        var (receiver, sender) = UdpPair(bed, 6021, "198.51.100.1");
        using (receiver)
        using (sender)
        {
            const int burst = 400;
            for (var i = 0; i < burst; i++)
            {
                sender.Send(BitConverter.GetBytes(i).Concat(new byte[200]).ToArray());
            }

            // The socket took the first few packet messages; the kernel passed the rest at once (fail-open). The sends
            // are forwarded in their own softirq: wait until the queue has numbered every packet of the burst (each one
            // gets an id, whether it is held or passed because the socket was full).
            Assert.True(Eventually.Holds(() => QueueIdSequence(bed, 21) >= burst, TimeSpan.FromSeconds(30)),
                $"the queue numbered only {QueueIdSequence(bed, 21)} of {burst} packets");
            var sink = new IdSink();
            queue.Receive(sink, 10_000);
            Assert.True(queue.Stats.Overruns >= 1, $"no ENOBUFS for {burst} packets into a {queue.ReceiveBufferSize}-byte buffer");
            Assert.InRange(sink.Ids.Count, 1, burst - 1);
            Assert.Equal(sink.Ids.Order(), sink.Ids);
            var passed = ReceiveUdp(receiver, burst - sink.Ids.Count, TimeSpan.FromSeconds(30));
            Assert.Equal(burst - sink.Ids.Count, passed.Count);

            // One batch verdict releases every packet still held.
            Assert.True(queue.AcceptUpTo(sink.Ids[^1]));
            var released = ReceiveUdp(receiver, sink.Ids.Count, TimeSpan.FromSeconds(30));
            Assert.Equal(sink.Ids.Count, released.Count);
            queue.Receive(sink, 100);
            Assert.Equal(0, queue.Stats.Refusals);
        }
    }

    [Fact]
    public async Task The_delay_line_holds_each_packet_its_delay_in_order_and_releases_what_it_holds_when_stopped()
    {
        using var bed = Testbed.Up("two-path");
        bed.Exec(bed.RouterNs, "iptables", "-w", "-t", "mangle", "-A", "FORWARD", "-i", "cell", "-p", "udp", "-j", "NFQUEUE", "--queue-num", "22", "--queue-bypass");
        var (receiver, sender) = UdpPair(bed, 6022, "198.51.100.1");
        using (receiver)
        using (sender)
        {
            using var wakeup = new WakeupFd();
            using var stop = new CancellationTokenSource();
            DelayLine? line = null;
            NfQueue? queue = null;
            using var ready = new ManualResetEventSlim();
            Exception? failure = null;
            var thread = new Thread(() =>
            {
                try
                {
                    NetworkNamespace.Named(bed.RouterNs).EnterOnThisThread();
                    queue = NfQueue.Bind(22);
                    line = new DelayLine(queue, TimeSpan.FromMilliseconds(1000), wakeup.Fd);
                    ready.Set();
                    line.Run(stop.Token, TimeSpan.FromSeconds(60));
                }
                catch (Exception ex)
                {
                    failure = ex;
                    ready.Set();
                }
                finally
                {
                    queue?.Dispose();
                }
            }) { IsBackground = true };
            thread.Start();
            Assert.True(ready.Wait(TimeSpan.FromSeconds(10)));
            Assert.Null(failure);

            // 20 packets 5 ms apart: each arrives 1 s (and a little) after it was sent, in order.
            var sent = new long[20];
            var received = new List<(int Seq, long At)>();
            var receiving = Task.Run(() => received.AddRange(ReceiveUdp(receiver, 20, TimeSpan.FromSeconds(20))));
            for (var i = 0; i < 20; i++)
            {
                sent[i] = Stopwatch.GetTimestamp();
                sender.Send(BitConverter.GetBytes(i));
                Thread.Sleep(5); // send spacing (traffic pacing), not synchronisation
            }

            await receiving;
            Assert.Equal(Enumerable.Range(0, 20), received.Select(r => r.Seq));
            var held = received.Select(r => (r.At - sent[r.Seq]) * 1000.0 / Stopwatch.Frequency).ToList();
            Assert.True(held.Min() >= 1000, $"held {string.Join(", ", held.Select(h => h.ToString("F2", CultureInfo.InvariantCulture)))} ms");
            // Held once, not twice: the lower bound is the check; the upper one (under two delays) leaves a loaded machine room.
            Assert.InRange(Median(held), 1000, 1900);

            // Stopping releases what the line still holds at once (it does not let the unbind drop them).
            for (var i = 100; i < 110; i++)
            {
                sender.Send(BitConverter.GetBytes(i));
            }

            Assert.True(Eventually.Holds(() => line!.Depth >= 10, TimeSpan.FromSeconds(30)), $"the line holds {line!.Depth} of 10 packets");

            stop.Cancel();
            wakeup.Signal();
            Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
            Assert.Null(failure);
            var late = ReceiveUdp(receiver, 10, TimeSpan.FromSeconds(30));
            Assert.Equal(Enumerable.Range(100, 10), late.Select(r => r.Seq));
            Assert.Equal(30, line.Stats.Packets);
            Assert.Equal(10, line.Stats.ReleasedAtStop);
            Assert.Equal(0, queue!.Stats.Refusals + queue.Stats.SendFailures + queue.Stats.Overruns);
        }
    }
}
