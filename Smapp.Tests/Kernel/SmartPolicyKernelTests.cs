using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using Smapp.Host.Traffic;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Smapp.Tests.Support;
using Xunit.Abstractions;

namespace Smapp.Tests.Kernel;

/// <summary>
/// The paper's smarter controllers (section 4: backup, streaming, ecmp refresh) against the real kernel, each test on
/// its own testbed, asserting on what the kernel reports (an independent event socket, sock_diag).
/// </summary>
public class SmartPolicyKernelTests(ITestOutputHelper output)
{
    private const int Port = 5201;

    static SmartPolicyKernelTests()
    {
        // xunit runs these synchronous tests on thread-pool threads, and they (and the test host) block there. Seen
        // here: the pool starved for up to a second (no work item completed), and with it the daemon's sampler, which
        // runs on Akka's default dispatcher (the .NET pool): samples a second late, a streaming check that sees no
        // progress, a failover 0.6-0.8 s late. A floor of threads keeps the daemon's timing its own.
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), Math.Max(io, 32));
    }

    private static List<SubflowDiag> Subflows(string ns, uint token) => NetworkNamespace.Named(ns).Run(() =>
    {
        using var d = SockDiagClient.Open();
        return d.Subflows().Where(s => s.Token == token).ToList();
    });

    /// <summary>
    /// An MPTCP connection whose subflows run cubic: TCP_CONGESTION set on the MPTCP socket before connect (root may
    /// pick a congestion control that the namespace does not allow by default; the kernel applies it to the initial
    /// subflow and to every subflow created later). Sends a first block so that the connection is fully established.
    /// </summary>
    private static Socket ConnectCubic(string ns, IPAddress server, int port)
    {
        var s = NetworkNamespace.Named(ns).Run(() =>
        {
            var sock = MptcpSocket.Create(AddressFamily.InterNetwork);
            sock.NoDelay = true;
            sock.SetRawSocketOption(6 /* IPPROTO_TCP */, 13 /* TCP_CONGESTION */, "cubic"u8);
            return sock;
        });
        if (!s.ConnectAsync(new IPEndPoint(server, port)).Wait(TimeSpan.FromSeconds(5)))
        {
            s.Dispose();
            throw new TimeoutException($"connect to {server}:{port} timed out");
        }

        MptcpTraffic.SendBulkAsync(s, MptcpTraffic.HeaderSize, MptcpTraffic.HeaderSize, CancellationToken.None).GetAwaiter().GetResult();
        return s;
    }

    /// <summary>A background task that ends when disposed (bounded wait).</summary>
    private sealed class Background(CancellationTokenSource stop, Task task) : IDisposable
    {
        public void Dispose()
        {
            stop.Cancel();
            try
            {
                task.Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException)
            {
                // The socket was closed under the sender: the test is over.
            }
        }
    }

    /// <summary>Sends 64 KB blocks as fast as the connection takes them, until disposed.</summary>
    private static Background StartBulk(Socket socket)
    {
        var stop = new CancellationTokenSource();
        var task = Task.Run(async () =>
        {
            var block = new byte[64 * 1024];
            BitConverter.TryWriteBytes(block.AsSpan(8, 4), (uint)block.Length);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await socket.SendAsync(block, SocketFlags.None, stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }
            }
        });
        return new Background(stop, task);
    }

    /// <summary>The daemon's Info log lines (policy decisions among them), with the time they were logged.</summary>
    private sealed class LogSink : ReceiveActor
    {
        public LogSink(ConcurrentQueue<(DateTime At, string Line)> lines)
        {
            Receive<LogEvent>(e => lines.Enqueue((e.Timestamp, e.Message?.ToString() ?? "")));
        }
    }

    private static ConcurrentQueue<(DateTime At, string Line)> CaptureLog(Daemon daemon)
    {
        var lines = new ConcurrentQueue<(DateTime, string)>();
        var sink = daemon.System.ActorOf(Props.Create(() => new LogSink(lines)), "test-log-sink");
        daemon.System.EventStream.Subscribe(sink, typeof(Info));
        daemon.System.EventStream.Subscribe(sink, typeof(Warning));
        return lines;
    }

    /// <summary>
    /// Starts the daemon and waits until it listens to the kernel's events and has done its start-up takeover, so that a
    /// connection opened next is learned from its events (Daemon.Start returns before the event loop has run: a
    /// connection opened at once would be found by the takeover instead, and a policy handles a taken-over
    /// connection differently, e.g. streaming counts no bytes before its first sample).
    /// </summary>
    private static (Daemon Daemon, ConcurrentQueue<(DateTime At, string Line)> Log) StartDaemon(string ns, string hocon)
    {
        var daemon = Daemon.Start(ns, hocon);
        var log = CaptureLog(daemon);
        daemon.Connections();
        Assert.True(Eventually.Holds(() => log.Any(l => l.Line.Contains("start-up takeover")), TimeSpan.FromSeconds(30)), "the daemon logged no start-up takeover");
        return (daemon, log);
    }

    /// <summary>
    /// Waits (generously) until the daemon has sampled a subflow of the connection at or after <paramref name="t"/>: a
    /// sign of the daemon's own progress, to anchor a negative check to. Whatever the policy would have done on the
    /// samples up to then, it has had its chance.
    /// </summary>
    private static void WaitUntilSampled(Daemon daemon, uint token, DateTime t, string what) =>
        Assert.True(Eventually.Holds(() => daemon.State(token).Subflows.Any(s => s.LastSample is { } x && x.At.UtcDateTime >= t), TimeSpan.FromSeconds(60)),
            $"the daemon sampled the connection no later than {what}: " +
            string.Join(", ", daemon.State(token).Subflows.Select(s => $"{s.Local} last sample {s.LastSample?.At:HH:mm:ss.fff}")));

    private void Dump(ConcurrentQueue<(DateTime At, string Line)> log, DateTime origin)
    {
        foreach (var (at, line) in log)
        {
            output.WriteLine($"  +{(at - origin).TotalMilliseconds,7:0} ms  {line}");
        }
    }

    /// <summary>What a sock_diag poll of one subflow saw, and when.</summary>
    private sealed record Observation(DateTime At, ushort Port, TcpInfo Info);

    /// <summary>Polls the subflows of one connection every few milliseconds (its own sock_diag socket), until disposed.</summary>
    private sealed class DiagWatch : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Thread _thread;
        private readonly SockDiagClient _diag;
        private readonly uint _token;

        public DiagWatch(string ns, uint token, TimeSpan every)
        {
            _token = token;
            _diag = NetworkNamespace.Named(ns).Run(SockDiagClient.Open);
            _thread = new Thread(() =>
            {
                var deadline = DateTime.UtcNow.AddSeconds(60); // bounded, whatever the test does
                while (!_stop.IsCancellationRequested && DateTime.UtcNow < deadline)
                {
                    var now = DateTime.UtcNow;
                    foreach (var s in _diag.Subflows().Where(s => s.Token == _token))
                    {
                        Seen.Enqueue(new Observation(now, s.Id.SourcePort, s.Info));
                    }

                    Thread.Sleep(every); // the watch's polling pace, not a wait for anything
                }
            }) { IsBackground = true, Name = "diag-watch" };
            _thread.Start();
        }

        public ConcurrentQueue<Observation> Seen { get; } = new();

        public void Dispose()
        {
            _stop.Cancel();
            _thread.Join(TimeSpan.FromSeconds(2));
            _diag.Dispose();
        }
    }

    [Fact]
    public void Backup_moves_a_bulk_transfer_to_the_cellular_address_once_the_wifi_path_turns_lossy()
    {
        // Cubic, set on the socket (TCP_CONGESTION): under loss cubic backs its retransmission timer off, which is what
        // the paper's controller watches; bbr keeps delivering through random loss and its RTO stays at 0.2-0.4 s
        // (DESIGN.md), so with bbr the 1 s threshold may never be crossed. The socket option rather than a route's
        // congctl: it is this connection's alone, and it reaches the subflows the daemon creates later.
        using var bed = Testbed.Up("two-path", "--rate", "wifi=8mbit", "--rate", "cell=8mbit");
        using var events = new EventCollector(bed.ClientNs);
        var (daemon, log) = StartDaemon(bed.ClientNs, "smapp.policy = backup");
        using var _ = daemon;
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, Port);
        using var socket = ConnectCubic(bed.ClientNs, bed.ServerAddress, Port);
        var localPort = ((IPEndPoint)socket.LocalEndPoint!).Port;
        var est = events.WaitFor(MptcpEventType.Established, e => e.SourcePort == localPort);
        var token = est.Token!.Value;
        using var bulk = StartBulk(socket);

        // Before the fault: one subflow, on WiFi, running cubic, carrying the data; nothing on the cellular address.
        // A negative check: it lasts until the daemon has sampled the connection for 1.2 s of the transfer (anchored to
        // the daemon's own samples, so a slow machine only gives the policy fewer chances to err: a false pass).
        Assert.True(Eventually.Holds(() => Subflows(bed.ClientNs, token).Sum(s => (long)s.Info.BytesAcked) > 200_000, TimeSpan.FromSeconds(30)),
            "the transfer did not start on WiFi");
        WaitUntilSampled(daemon, token, DateTime.UtcNow + TimeSpan.FromMilliseconds(1200), "1.2 s into the transfer");
        Assert.DoesNotContain(events.Drain(), e => e.Type == MptcpEventType.SubEstablished && e.Token == token);
        var before = Subflows(bed.ClientNs, token);
        var initial = Assert.Single(before);
        Assert.Equal(bed.ClientAddress1, initial.Id.Source);
        Assert.True(initial.Info.BytesAcked > 200_000, $"only {initial.Info.BytesAcked} bytes acknowledged on WiFi before the fault");
        Assert.Contains(" cubic ", bed.Exec(bed.ClientNs, "ss", "-tin", "src", $"{bed.ClientAddress1}:{localPort}"));
        Assert.Equal("backup", daemon.State(token).Policy);

        // The fault: half the packets on the WiFi link are dropped, both ways.
        using var watch = new DiagWatch(bed.ClientNs, token, TimeSpan.FromMilliseconds(2));
        Assert.True(Eventually.Holds(() => !watch.Seen.IsEmpty, TimeSpan.FromSeconds(30)), "the sock_diag watch saw nothing before the fault");
        var fault = DateTime.UtcNow;
        bed.Set("wifi", "--loss", "0.5");

        var sub = events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == token, TimeSpan.FromSeconds(12));
        Assert.Equal(bed.ClientAddress2, sub.SourceAddress);
        var closed = events.WaitFor(MptcpEventType.SubClosed, e => e.Token == token && e.SourcePort == localPort, TimeSpan.FromSeconds(30));

        // After: the data moves on the cellular subflow, and the WiFi one is gone.
        var cellPort = sub.SourcePort!.Value;
        ulong Acked() => Subflows(bed.ClientNs, token).FirstOrDefault(s => s.Id.SourcePort == cellPort)?.Info.BytesAcked ?? 0;
        var start = Acked();
        Assert.True(Eventually.Holds(() => Acked() > start + 500_000, TimeSpan.FromSeconds(30)), $"cellular subflow acknowledged only {Acked() - start} bytes");
        // (the destroyed WiFi subflow may linger in FIN_WAIT1 on the lossy path: it carries nothing more)
        var established = Subflows(bed.ClientNs, token).Where(s => s.TcpState == 1).ToList();
        Assert.Equal(bed.ClientAddress2, Assert.Single(established).Id.Source);
        watch.Dispose();

        // What happened when (all from the fault on): from this test's own 2 ms sock_diag poll of the WiFi subflow,
        // the daemon's log, and this test's event socket.
        var wifi = watch.Seen.Where(o => o.Port == localPort && o.At >= fault).ToList();
        var retransBase = wifi.FirstOrDefault()?.Info.TotalRetrans ?? 0;
        double? Ms(DateTime? t) => t is { } x ? (x - fault).TotalMilliseconds : null;
        var firstRetrans = wifi.FirstOrDefault(o => o.Info.TotalRetrans > retransBase)?.At;
        var firstBackoff = wifi.FirstOrDefault(o => o.Info.Backoff > 0)?.At;
        var overThreshold = wifi.FirstOrDefault(o => o.Info.RtoUs > 1_000_000);
        var failover = log.FirstOrDefault(l => l.Line.Contains("failover")).At;
        output.WriteLine($"fault at +0; first retransmission seen +{Ms(firstRetrans):0} ms; first RTO expiry (backoff > 0) +{Ms(firstBackoff):0} ms; " +
            $"RTO > 1 s seen +{Ms(overThreshold?.At):0} ms (rto {overThreshold?.Info.RtoUs / 1000} ms, backoff {overThreshold?.Info.Backoff}); " +
            $"policy's failover logged +{Ms(failover == default ? null : failover):0} ms; sub_closed (wifi) +{Ms(events.ReceivedAt(closed)):0} ms; " +
            $"sub_established (cell) +{Ms(events.ReceivedAt(sub)):0} ms");
        if (overThreshold is not null)
        {
            // The policy logs its decision after it has sent the commands; the kernel's SUB_CLOSED of the WiFi subflow
            // is the first outside sign of it.
            output.WriteLine($"detection delay (RTO over the threshold -> the WiFi subflow's sub_closed): {(events.ReceivedAt(closed) - overThreshold.At).TotalMilliseconds:0} ms");
        }

        Dump(log, fault);
        (uint, byte)? last = null;
        foreach (var o in wifi.Where(o => o.At <= events.ReceivedAt(closed)))
        {
            if (last != (o.Info.RtoUs, o.Info.Backoff))
            {
                output.WriteLine($"  +{(o.At - fault).TotalMilliseconds,7:0} ms  wifi rto {o.Info.RtoUs / 1000} ms backoff {o.Info.Backoff} ca {o.Info.CaState} unacked {o.Info.Unacked} last ack {o.Info.LastAckRecvMs} ms");
                last = (o.Info.RtoUs, o.Info.Backoff);
            }
        }
    }

    /// <summary>
    /// The application of the paper's streaming scenario: a 64 KB block every period, the first one
    /// <paramref name="offset"/> after the policy's period began (its clock starts at ESTABLISHED), so that each
    /// block falls early in one of the policy's periods.
    /// </summary>
    private static Background StartStream(Socket socket, TimeSpan offset, TimeSpan period, int blocks)
    {
        var stop = new CancellationTokenSource();
        var task = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(offset, stop.Token); // traffic pacing: where the first block falls in a period
                await MptcpTraffic.SendStreamAsync(socket, 64 * 1024, period, blocks, stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        });
        return new Background(stop, task);
    }

    [Fact]
    public void Streaming_on_a_clean_path_that_delivers_every_block_opens_no_second_subflow()
    {
        // A 2 s period (check point at 1 s) and each block sent 250 ms into a period: a block is acknowledged within
        // milliseconds here, so the check sees it with most of a second to spare, however busy the machine.
        var period = TimeSpan.FromSeconds(2);
        using var bed = Testbed.Up("two-path");
        using var events = new EventCollector(bed.ClientNs);
        var (daemon, log) = StartDaemon(bed.ClientNs, "smapp { policy = streaming, policies.streaming.period = 2s }");
        using var _ = daemon;
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, Port);
        using var socket = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, Port);
        var localPort = ((IPEndPoint)socket.LocalEndPoint!).Port;
        var est = events.WaitFor(MptcpEventType.Established, e => e.SourcePort == localPort);
        var token = est.Token!.Value;

        // The policy's clock starts when it learns that the connection is established: the daemon's own time for it.
        var origin = daemon.State(token).Subflows.Single(s => s.Initial).EstablishedAt!.Value.UtcDateTime;
        using var watch = new DiagWatch(bed.ClientNs, token, TimeSpan.FromMilliseconds(20));
        var offset = origin + TimeSpan.FromMilliseconds(250) - DateTime.UtcNow;
        using (StartStream(socket, offset < TimeSpan.Zero ? TimeSpan.Zero : offset, period, 4))
        {
            // The four blocks delivered, then the daemon's samples past the fourth period's check point (three periods
            // and most of a fourth): a negative check ("no second subflow") anchored to the daemon's own progress; a
            // slow machine can only delay what the policy sees past the end of the window (a false pass), not fail it.
            Assert.True(Eventually.Holds(() => Subflows(bed.ClientNs, token).Sum(s => (long)s.Info.BytesAcked) >= 4 * 64 * 1024, TimeSpan.FromSeconds(60)),
                "the stream's four blocks were not acknowledged");
            WaitUntilSampled(daemon, token, origin + 3 * period + TimeSpan.FromMilliseconds(1500), "the fourth check point");
        }
        watch.Dispose();
        ulong last = 0;
        foreach (var o in watch.Seen)
        {
            if (o.Info.BytesAcked != last)
            {
                output.WriteLine($"  +{(o.At - origin).TotalMilliseconds,7:0} ms  port {o.Port} bytes_acked {o.Info.BytesAcked}");
                last = o.Info.BytesAcked;
            }
        }

        Dump(log, origin);
        Assert.Equal("streaming", daemon.State(token).Policy);
        Assert.DoesNotContain(events.Drain(), e => e.Type == MptcpEventType.SubEstablished && e.Token == token);
        var only = Assert.Single(Subflows(bed.ClientNs, token));
        Assert.Equal(bed.ClientAddress1, only.Id.Source);
        Assert.True(only.Info.BytesAcked >= 4 * 64 * 1024, $"only {only.Info.BytesAcked} bytes acknowledged: the stream did not run");
        Assert.DoesNotContain(log, l => l.Line.Contains("[streaming] open"));
    }

    [Fact]
    public void Streaming_opens_a_subflow_on_the_cellular_address_when_the_wifi_path_is_slower_than_the_stream()
    {
        // 200 kbit/s carry 25 KB a second: at the first check point (half a 1 s period) less than half a block is acknowledged.
        using var bed = Testbed.Up("two-path", "--rate", "wifi=200kbit");
        using var events = new EventCollector(bed.ClientNs);
        var (daemon, log) = StartDaemon(bed.ClientNs, "smapp.policy = streaming");
        using var _ = daemon;
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, Port);
        using var socket = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, Port);
        var localPort = ((IPEndPoint)socket.LocalEndPoint!).Port;
        var est = events.WaitFor(MptcpEventType.Established, e => e.SourcePort == localPort);
        var token = est.Token!.Value;
        var origin = events.ReceivedAt(est);
        using var stream = StartStream(socket, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), 5);

        var sub = events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == token, TimeSpan.FromSeconds(30));
        output.WriteLine($"established at +0, second subflow established +{(events.ReceivedAt(sub) - origin).TotalMilliseconds:0} ms (first check point at +500 ms)");
        Dump(log, origin);
        Assert.Equal(bed.ClientAddress2, sub.SourceAddress);
        Assert.Equal((ushort)Port, sub.DestinationPort);
        Assert.True(Eventually.Holds(() => log.Any(l => l.Line.Contains("[streaming] open"))), "no open decision in the daemon's log"); // the log is asynchronous

        // One subflow per shortfall, on an interface that has none: with both interfaces used, no third one. A negative
        // check over the next 1.5 s of the daemon's samples (anchored to them: a slow machine gives the policy fewer
        // check points in it, a false pass, never a failure).
        WaitUntilSampled(daemon, token, events.ReceivedAt(sub) + TimeSpan.FromMilliseconds(1500), "1.5 s after the second subflow");
        Assert.DoesNotContain(events.Drain(), e => e.Type == MptcpEventType.SubEstablished && e.Token == token && e.SourcePort != sub.SourcePort);
        Assert.Contains(Subflows(bed.ClientNs, token), s => s.TcpState == 1 && s.Id.Source.Equals(bed.ClientAddress2));
    }

    [Fact]
    public void Ecmp_refresh_keeps_its_subflows_and_replaces_the_slowest_every_refresh()
    {
        // Four equal-cost paths of different rates, so that subflows hashed onto different paths pace differently.
        using var bed = Testbed.Up("ecmp", "--rate", "p1=4mbit", "--rate", "p2=8mbit", "--rate", "p3=16mbit", "--rate", "p4=32mbit");
        using var events = new EventCollector(bed.ClientNs);
        var (daemon, log) = StartDaemon(bed.ClientNs, "smapp { policy = ecmp-refresh, policies.ecmp-refresh { subflows = 4, refresh = 1s, sample-interval = 100ms } }");
        using var _ = daemon;
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, Port);
        using var socket = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, Port);
        var localPort = ((IPEndPoint)socket.LocalEndPoint!).Port;
        var est = events.WaitFor(MptcpEventType.Established, e => e.SourcePort == localPort);
        var token = est.Token!.Value;
        var origin = events.ReceivedAt(est);
        using var bulk = StartBulk(socket);

        // Three joins at once: four subflows over the one address pair.
        var joins = Enumerable.Range(0, 3).Select(_ => events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == token, TimeSpan.FromSeconds(30))).ToList();
        Assert.All(joins, j => Assert.Equal(bed.ClientAddress1, j.SourceAddress));

        // Refreshes: at least two replaced subflows (about four refresh periods; the first may find the joins a few
        // milliseconds too young to replace), waited for rather than slept for.
        var closed = Enumerable.Range(0, 2).Select(_ => events.WaitFor(MptcpEventType.SubClosed, e => e.Token == token, TimeSpan.FromSeconds(60))).ToList();
        var seen = events.Drain().Where(e => e.Token == token).ToList();
        closed.AddRange(seen.Where(e => e.Type == MptcpEventType.SubClosed));
        var opened = seen.Where(e => e.Type == MptcpEventType.SubEstablished).ToList();

        // A replacement's join completes a moment after its predecessor's close: wait for those still under way.
        while (opened.Count < closed.Count)
        {
            opened.Add(events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == token && !opened.Contains(e), TimeSpan.FromSeconds(30)));
        }
        Dump(log, origin);
        foreach (var e in closed.Concat(opened).OrderBy(events.ReceivedAt))
        {
            output.WriteLine($"  +{(events.ReceivedAt(e) - origin).TotalMilliseconds,7:0} ms  {e.Name} {e.SourceAddress}:{e.SourcePort} err={e.Error}");
        }

        var refreshes = log.Count(l => l.Line.Contains("[ecmp-refresh] refresh"));
        Assert.True(closed.Count >= 2, $"{closed.Count} subflows closed in about four refresh periods (policy refreshes logged: {refreshes})");

        // Each replacement is a new subflow (the kernel picks a fresh source port) on the same address pair.
        var ports = joins.Concat(opened).Select(e => e.SourcePort!.Value).Append((ushort)localPort).ToList();
        Assert.Equal(ports.Count, ports.Distinct().Count());
        Assert.All(opened, j => Assert.Equal(bed.ClientAddress1, j.SourceAddress));

        // The count is kept: four established subflows, none of them one that was closed.
        var gone = closed.Select(e => e.SourcePort!.Value).ToHashSet();
        Assert.True(Eventually.Holds(() =>
        {
            var live = Subflows(bed.ClientNs, token).Where(s => s.TcpState == 1).ToList();
            return live.Count == 4 && !live.Any(s => gone.Contains(s.Id.SourcePort));
        }, TimeSpan.FromSeconds(30)), "not four established subflows after the refreshes: " +
            string.Join(", ", Subflows(bed.ClientNs, token).Select(s => $"{s.Id.SourcePort} state {s.TcpState}")));
    }
}
