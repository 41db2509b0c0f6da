using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Smapp.Host.Testbeds;
using Smapp.Host.Traffic;
using Smapp.Netlink;
using Smapp.Netlink.Diag;

namespace Smapp.Benchmarks;

/// <summary>
/// The sampler's tick at scale, on the real kernel: N concurrent MPTCP connections with two subflows each (the
/// client namespace on the in-kernel PM makes the second subflows: who made them does not change what a dump
/// costs), then the sampler's work — one sock_diag dump of every subflow, grouped by token — timed T times.
/// </summary>
public static class ScaleBenchmark
{
    public static int Run(int connections, int ticks)
    {
        var prefix = $"scale{Environment.ProcessId % 10000}";
        Console.Error.WriteLine($"scale: namespaces {prefix}-*");
        TestbedScript.RunOrThrow("up", "two-path", prefix, "--client-pm", "kernel");
        var sockets = new List<Socket>(connections);
        try
        {
            var cli = NetworkNamespace.Named($"{prefix}-cli");
            var srv = NetworkNamespace.Named($"{prefix}-srv");
            cli.WriteSysctl("net.ipv4.ip_local_port_range", "10000 65000");
            srv.WriteSysctl("net.core.somaxconn", "65535");
            srv.WriteSysctl("net.ipv4.tcp_max_syn_backlog", "65535");
            var ip = (string ns, params string[] a) => Process.Start("ip", ["-n", ns, .. a])!.WaitForExit(5000);
            ip($"{prefix}-cli", "mptcp", "endpoint", "add", "198.51.100.1", "dev", "cell", "subflow");
            ip($"{prefix}-cli", "mptcp", "limits", "set", "subflow", "2");
            ip($"{prefix}-srv", "mptcp", "limits", "set", "subflow", "8");

            using var listener = srv.Run(() => MptcpTraffic.Listen(IPAddress.Any, 5201, 65535));
            var accepted = new List<Socket>(connections);
            var acceptor = new Thread(() =>
            {
                try
                {
                    while (accepted.Count < connections)
                    {
                        accepted.Add(listener.Accept());
                    }
                }
                catch (SocketException)
                {
                }
            }) { IsBackground = true };
            acceptor.Start();

            var remote = new IPEndPoint(IPAddress.Parse("203.0.113.1"), 5201);
            var block = new byte[64];
            var opener = new Thread(() =>
            {
                cli.EnterOnThisThread();
                for (var i = 0; i < connections; i++)
                {
                    var s = MptcpSocket.Create(AddressFamily.InterNetwork);
                    s.Connect(remote);
                    s.Send(block);
                    sockets.Add(s);
                }
            });
            opener.Start();
            opener.Join();

            var cpu = default(((double User, double System) Tick, (double User, double System) Floor));
            var tick = new List<double>(ticks);
            var floor = new List<double>(ticks);
            var counts = new List<int>(ticks);
            var worker = new Thread(() =>
            {
                cli.EnterOnThisThread();
                using var diag = SockDiagClient.Open();
                var deadline = Stopwatch.StartNew();
                while (deadline.Elapsed < TimeSpan.FromSeconds(30) && diag.Subflows().Count < 2 * connections)
                {
                    Thread.Sleep(200);
                }

                var r0 = ThreadUsage();
                for (var i = 0; i < ticks; i++)
                {
                    var t = Stopwatch.GetTimestamp();
                    var subflows = diag.Subflows();
                    var byToken = new Dictionary<uint, List<SubflowDiag>>();
                    foreach (var s in subflows)
                    {
                        if (!byToken.TryGetValue(s.Token, out var list))
                        {
                            byToken[s.Token] = list = new List<SubflowDiag>(2);
                        }

                        list.Add(s);
                    }

                    tick.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                    counts.Add(subflows.Count);
                    Thread.Sleep(100);
                }

                var r1 = ThreadUsage();

                // The floor, in the same run: the same dumps with nothing decoded (the kernel's part, and the reads).
                for (var i = 0; i < ticks; i++)
                {
                    var t = Stopwatch.GetTimestamp();
                    diag.SubflowsUndecoded();
                    floor.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                    Thread.Sleep(100);
                }

                var r2 = ThreadUsage();
                cpu = (((r1.User - r0.User) / ticks, (r1.System - r0.System) / ticks), ((r2.User - r1.User) / ticks, (r2.System - r1.System) / ticks));
            });
            worker.Start();
            worker.Join();
            tick.Sort();
            floor.Sort();
            static double P(List<double> x, double q) => x[(int)Math.Min(x.Count - 1, q * x.Count)];
            Console.WriteLine($"scale: {connections} connections, {counts.Min()}-{counts.Max()} subflows in each dump, {ticks} ticks");
            Console.WriteLine($"  sampler tick (one sock_diag dump of every subflow, grouped by token): median {P(tick, 0.5):0.00} ms, p90 {P(tick, 0.9):0.00} ms, max {tick[^1]:0.00} ms");
            Console.WriteLine($"  the same dumps undecoded (the kernel's floor, same run): median {P(floor, 0.5):0.00} ms, p90 {P(floor, 0.9):0.00} ms");
            Console.WriteLine($"  the sampling thread's CPU per tick {cpu.Tick.User:0.00} ms user (decoding, grouping) + {cpu.Tick.System:0.00} ms system (the kernel) = {cpu.Tick.User + cpu.Tick.System:0.0} % of a core at 10 Hz; undecoded {cpu.Floor.User:0.00} + {cpu.Floor.System:0.00} ms");
            return 0;
        }
        finally
        {
            foreach (var s in sockets)
            {
                s.Dispose();
            }

            TestbedScript.RunOrThrow("down", prefix);
        }
    }

    /// <summary>This thread's user and system CPU time so far, in ms (getrusage RUSAGE_THREAD).</summary>
    private static unsafe (double User, double System) ThreadUsage()
    {
        var r = stackalloc long[18];
        if (getrusage(1, r) != 0)
        {
            throw new InvalidOperationException($"getrusage: errno {Marshal.GetLastPInvokeError()}");
        }

        return ((r[0] * 1e6 + r[1]) / 1000.0, (r[2] * 1e6 + r[3]) / 1000.0);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern unsafe int getrusage(int who, long* usage);
}
