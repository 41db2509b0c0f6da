using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using Smapp.Actors;
using Smapp.Actors.Configuration;
using Smapp.Actors.Gateway;
using Smapp.Host.Testbeds;
using Smapp.Host.Traffic;
using Smapp.Netlink;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Wire;

namespace Smapp.Benchmarks;

/// <summary>
/// Smapp under a flood of short MPTCP connections on the real kernel: a two-path testbed, Smapp (fullmesh) in the
/// client namespace, N connections opened at a target rate, each sending a block and closing after a hold. An
/// independent event socket (16 MiB buffer) times each connection's `established` and second subflow.
/// </summary>
public static class LoadBenchmark
{
    public static int Run(int connections, int rate, int holdMs)
    {
        var prefix = $"load{Environment.ProcessId % 10000}";
        TestbedScript.RunOrThrow("up", "two-path", prefix);
        ActorSystem? system = null;
        SmappRuntime? runtime = null;
        try
        {
            var cli = NetworkNamespace.Named($"{prefix}-cli");
            var srv = NetworkNamespace.Named($"{prefix}-srv");
            cli.WriteSysctl("net.ipv4.tcp_max_tw_buckets", "0");
            cli.WriteSysctl("net.ipv4.ip_local_port_range", "1024 65000");
            srv.WriteSysctl("net.core.somaxconn", "65535");
            srv.WriteSysctl("net.ipv4.tcp_max_syn_backlog", "65535");

            system = ActorSystem.Create("load", ConfigurationFactory.ParseString("akka.loglevel = WARNING").WithFallback(SmappRuntime.Hocon));
            var settings = SmappSettings.FromConfig(ConfigurationFactory.ParseString("smapp { policy = fullmesh, rules = [], interfaces = [wifi, cell] }"));
            runtime = SmappRuntime.Start(system, settings, cli);

            using var listener = srv.Run(() => MptcpTraffic.Listen(IPAddress.Any, 5201, 65535));
            var stop = new CancellationTokenSource();
            _ = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var s = await listener.AcceptAsync(stop.Token);
                    _ = Task.Run(async () =>
                    {
                        using (s)
                        {
                            var buf = new byte[4096];
                            try
                            {
                                while (await s.ReceiveAsync(buf, SocketFlags.None) > 0) { }
                            }
                            catch (SocketException) { }
                        }
                    });
                }
            });

            using var collector = new Collector(cli);
            Thread.Sleep(500);

            // Sockets are made on a thread inside the client namespace; connecting and sending are asynchronous.
            var sockets = new BlockingCollection<Socket>(boundedCapacity: 256);
            var maker = new Thread(() =>
            {
                cli.EnterOnThisThread();
                for (var i = 0; i < connections; i++)
                {
                    sockets.Add(MptcpSocket.Create(AddressFamily.InterNetwork));
                }

                sockets.CompleteAdding();
            }) { IsBackground = true };
            maker.Start();

            var failed = 0;
            var jobs = new List<Task>(connections);
            var clock = Stopwatch.StartNew();
            var block = new byte[MptcpTraffic.HeaderSize];
            BitConverter.TryWriteBytes(block.AsSpan(8, 4), (uint)block.Length);
            var remote = new IPEndPoint(IPAddress.Parse("203.0.113.1"), 5201);
            var i = 0;
            foreach (var s in sockets.GetConsumingEnumerable())
            {
                var due = TimeSpan.FromSeconds(i++ / (double)rate);
                var wait = due - clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    Thread.Sleep(wait);
                }

                jobs.Add(Task.Run(async () =>
                {
                    using (s)
                    {
                        try
                        {
                            await s.ConnectAsync(remote);
                            await s.SendAsync(block, SocketFlags.None);
                            await Task.Delay(holdMs);
                        }
                        catch (SocketException)
                        {
                            Interlocked.Increment(ref failed);
                        }
                    }
                }));
            }

            var offered = clock.Elapsed;
            Task.WaitAll(jobs.ToArray(), TimeSpan.FromSeconds(60));
            Thread.Sleep(1500);
            var stats = runtime.Gateway.Ask<GatewayProtocol.Stats>(GatewayProtocol.GetStats.Instance, TimeSpan.FromSeconds(5)).Result;
            var (established, withSecond, delays, lost) = collector.Summary();
            delays.Sort();
            string P(double q) => delays.Count == 0 ? "-" : $"{delays[(int)Math.Min(delays.Count - 1, q * delays.Count)]:0.000}";
            Console.WriteLine($"load: {connections} connections offered at {rate}/s (took {offered.TotalSeconds:0.00} s = {connections / offered.TotalSeconds:0}/s), hold {holdMs} ms, Smapp fullmesh on a two-path testbed");
            Console.WriteLine($"  connections failed to connect: {failed}");
            Console.WriteLine($"  established (kernel events): {established}; with a second subflow: {withSecond} ({100.0 * withSecond / Math.Max(1, established):0.0} %)");
            Console.WriteLine($"  established -> second sub_established: median {P(0.5)} ms, p90 {P(0.9)} ms, p99 {P(0.99)} ms");
            Console.WriteLine($"  smapp gateway: {stats.Events} events, {stats.Overruns} overruns (ENOBUFS), {stats.DecodeErrors} undecodable, {stats.CommandsSent} commands sent, {stats.CommandsFailed} refused, {stats.CommandsTimedOut} timed out; event loop {stats.LoopIterations} iterations, {stats.LoopWakeups} cross-thread wake-ups; event socket buffer {stats.EventReceiveBuffer / 1024} KiB");
            Console.WriteLine($"  independent observer lost events: {lost}");
            stop.Cancel();
            return 0;
        }
        finally
        {
            system?.Terminate().Wait(TimeSpan.FromSeconds(10));
            runtime?.Dispose();
            TestbedScript.RunOrThrow("down", prefix);
        }
    }

    /// <summary>Counts and times events on its own socket, on its own thread.</summary>
    private sealed class Collector : IDisposable, INetlinkSink<MptcpEvent>
    {
        private readonly MptcpEventSubscription _events;
        private readonly Thread _thread;
        private readonly ConcurrentDictionary<uint, long> _established = new();
        private readonly ConcurrentDictionary<uint, double> _second = new();
        private volatile bool _stop;
        private int _lost;

        public Collector(NetworkNamespace ns)
        {
            _events = ns.Run(() => MptcpEventSubscription.Open(nonBlocking: false, receiveBuffer: 16 * 1024 * 1024));
            _thread = new Thread(() =>
            {
                var poller = new PollSet(_events.Socket.Fd);
                while (!_stop)
                {
                    if (poller.Wait(100) > 0)
                    {
                        while (_events.ReceiveOnce(this, block: false) is ReceiveStatus.Datagram or ReceiveStatus.Overrun) { }
                    }
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        public void OnItem(MptcpEvent e, ReadOnlySpan<byte> raw)
        {
            var now = Stopwatch.GetTimestamp();
            if (e.Token is not { } t)
            {
                return;
            }

            if (e.Type == MptcpEventType.Established)
            {
                _established[t] = now;
            }
            else if (e.Type == MptcpEventType.SubEstablished && _established.TryGetValue(t, out var at))
            {
                _second.TryAdd(t, Stopwatch.GetElapsedTime(at, now).TotalMilliseconds);
            }
        }

        public void OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram) { }

        public void OnLost() => _lost++;

        public (int Established, int WithSecond, List<double> Delays, int Lost) Summary() =>
            (_established.Count, _second.Count, _second.Values.ToList(), _lost);

        public void Dispose()
        {
            _stop = true;
            _thread.Join(TimeSpan.FromSeconds(2));
            _events.Dispose();
        }
    }
}
