using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
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

            var tick = new List<double>(ticks);
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
            });
            var me = Process.GetCurrentProcess();
            var (user0, sys0) = (me.UserProcessorTime, me.PrivilegedProcessorTime);
            worker.Start();
            worker.Join();
            me.Refresh();
            var (user, sys) = (me.UserProcessorTime - user0, me.PrivilegedProcessorTime - sys0);
            var cpu = user + sys;
            tick.Sort();
            double P(double q) => tick[(int)Math.Min(tick.Count - 1, q * tick.Count)];
            var perTickCpu = cpu.TotalMilliseconds / ticks;
            Console.WriteLine($"scale: {connections} connections, {counts.Min()}-{counts.Max()} subflows in each dump, {ticks} ticks");
            Console.WriteLine($"  sampler tick (one sock_diag dump of every subflow, grouped by token): median {P(0.5):0.00} ms, p90 {P(0.9):0.00} ms, max {tick[^1]:0.00} ms");
            Console.WriteLine($"  process CPU per tick {perTickCpu:0.00} ms ({user.TotalMilliseconds / ticks:0.00} user = decoding, {sys.TotalMilliseconds / ticks:0.00} system = the kernel walking its sockets) = {perTickCpu / 100 * 100:0.0} % of a core at 10 Hz");
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
}
