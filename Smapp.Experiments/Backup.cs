using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ScottPlot;
using Smapp.Host.Traffic;
using Smapp.Netlink;
using Smapp.Netlink.Diag;

namespace Smapp.Experiments;

/// <summary>
/// Paper figure 2a: a bulk transfer (cubic) over the two-path testbed, 30 % loss on WiFi from t = 3 s; bytes acknowledged
/// per path every 100 ms, for the in-kernel PM with a backup endpoint, Smapp fullmesh and Smapp backup.
/// </summary>
public static class Backup
{
    private const int Port = 5201;
    private const double FaultAt = 3.0;
    private static readonly IPAddress Wifi = IPAddress.Parse("192.0.2.1"), Cell = IPAddress.Parse("198.51.100.1");
    private static readonly string[] Runs = ["kernel", "fullmesh", "backup"];

    private sealed record Sample(string Run, double T, ulong Wifi, ulong Cell, int Subflows);

    public static int Run(string dir, string smappDll, int seconds)
    {
        if (seconds <= FaultAt)
        {
            throw new ArgumentException($"--seconds must be more than {FaultAt}");
        }

        var all = new List<Sample>();
        foreach (var run in Runs)
        {
            Console.Error.WriteLine($"backup: run {run}, {seconds} s");
            all.AddRange(RunOne(run, smappDll, seconds, dir));
        }

        var csv = new StringBuilder("run,t_s,path,bytes_acked\n");
        foreach (var s in all)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{s.Run},{s.T:0.000},wifi,{s.Wifi}\n");
            csv.Append(CultureInfo.InvariantCulture, $"{s.Run},{s.T:0.000},cell,{s.Cell}\n");
        }

        Experiment.Write(Path.Combine(dir, "data.csv"), csv);

        // One figure with every run (colour: path; line style: run), and one per run.
        var combined = new Plot();
        var patterns = new Dictionary<string, LinePattern> { ["kernel"] = LinePattern.Dotted, ["fullmesh"] = LinePattern.Dashed, ["backup"] = LinePattern.Solid };
        foreach (var run in Runs)
        {
            var single = new Plot();
            foreach (var plot in new[] { combined, single })
            {
                var mine = all.Where(s => s.Run == run).ToList();
                var xs = mine.Select(s => s.T).ToArray();
                foreach (var (path, color, ys) in new[] { ("wifi", Colors.Blue, mine.Select(s => s.Wifi / 1e6).ToArray()), ("cell", Colors.OrangeRed, mine.Select(s => s.Cell / 1e6).ToArray()) })
                {
                    var line = plot.Add.ScatterLine(xs, ys);
                    line.Color = color;
                    line.LineWidth = 2;
                    line.LinePattern = plot == combined ? patterns[run] : LinePattern.Solid;
                    line.LegendText = plot == combined ? $"{run}: {path}" : path;
                }

                var fault = plot.Add.VerticalLine(FaultAt);
                fault.Color = Colors.Gray;
                fault.LinePattern = LinePattern.Dashed;
                plot.XLabel("time (s)");
                plot.YLabel("bytes acknowledged (MB, cumulative)");
                plot.ShowLegend(Alignment.UpperLeft);
            }

            single.Title($"{run}: 30 % loss on WiFi from t = {FaultAt} s");
            single.SavePng(Path.Combine(dir, $"figure-{run}.png"), 900, 560);
        }

        combined.Title($"Bytes delivered per path, 30 % loss on WiFi from t = {FaultAt} s");
        combined.SavePng(Path.Combine(dir, "figure.png"), 1000, 620);

        var sb = new StringBuilder();
        sb.AppendLine("# backup (paper figure 2a): a bulk transfer when WiFi turns lossy");
        sb.AppendLine();
        sb.AppendLine($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, kernel {Experiment.KernelVersion}, {Environment.ProcessorCount} cores. " +
                      $"Two-path testbed, wifi and cell shaped to 8 Mbit/s (tbf), {seconds} s of bulk transfer client -> server, " +
                      $"30 % loss both ways on WiFi (iptables statistic) from t = {FaultAt} s; sock_diag every 100 ms.");
        sb.AppendLine("Congestion control: cubic (TCP_CONGESTION on the MPTCP socket: every subflow runs it). " +
                      "Delay source: none added (the links' own delay, sub-millisecond; no netem, no delay line).");
        sb.AppendLine();
        sb.AppendLine("Runs: kernel = in-kernel PM, endpoint 198.51.100.1 dev cell subflow backup, limits subflow 2; " +
                      "fullmesh / backup = `smapp run --policy fullmesh|backup` in the client namespace (userspace PM).");
        sb.AppendLine();
        sb.AppendLine("| run | cell bytes before the fault | fault -> cell carries data (s) | wifi bytes | cell bytes | total bytes | longest stall after the fault (s) |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var run in Runs)
        {
            var mine = all.Where(s => s.Run == run).ToList();
            if (mine.Count == 0)
            {
                sb.AppendLine($"| {run} | - | - | - | - | - | - |");
                continue;
            }

            var atFault = mine.LastOrDefault(s => s.T <= FaultAt) ?? mine[0];
            // Carrying data: the cell path acknowledged 64 KB more than at the fault.
            var carry = mine.FirstOrDefault(s => s.T > FaultAt && s.Cell > atFault.Cell + 64 * 1024);
            var last = mine[^1];
            sb.AppendLine($"| {run} | {atFault.Cell} | {(carry is null ? "never" : Experiment.F(carry.T - FaultAt, "0.0"))} | {last.Wifi} | {last.Cell} | {last.Wifi + last.Cell} | {Experiment.F(LongestStall(mine), "0.0")} |");
        }

        sb.AppendLine();
        sb.AppendLine("Paper (2015 kernel): with the backup controller no byte goes over cellular before the fault, and the backup " +
                      "path takes over within seconds of it (the kernel's backup subflow took ~12 minutes).");
        sb.AppendLine("\"Carries data\": the first sample after the fault with 64 KB more acknowledged on cell than at the fault " +
                      "(fullmesh uses cell from the start: for it, how soon cell's count grows after the fault). " +
                      "Longest stall: the longest span after the fault with less than 64 KB acknowledged over both paths. " +
                      "Bytes per path: the sum over that path's subflows of the largest bytes_acked seen (closed subflows keep their count).");
        sb.AppendLine();
        sb.AppendLine("Files: data.csv (run, t_s, path, cumulative bytes_acked), figure.png (all runs), figure-RUN.png, RUN.log.");
        Experiment.Write(Path.Combine(dir, "summary.md"), sb);
        Console.Error.Write(sb.ToString());
        return 0;
    }

    private static List<Sample> RunOne(string run, string smappDll, int seconds, string dir)
    {
        var prefix = $"bx{Environment.ProcessId % 10000}{run[0]}";
        var up = new List<string> { "up", "two-path", prefix, "--rate", "wifi=8mbit", "--rate", "cell=8mbit" };
        if (run == "kernel")
        {
            up.AddRange(["--client-pm", "kernel"]);
        }

        var env = new Dictionary<string, string> { ["SMAPP_DLL"] = smappDll };
        var log = new StringBuilder();
        Process? daemon = null;
        try
        {
            var (code, stdout, stderr) = Experiment.Sh(Experiment.Testbed, up, TimeSpan.FromSeconds(60), env);
            if (code != 0)
            {
                throw new InvalidOperationException($"testbed.sh up failed ({code}): {stderr}{stdout}");
            }

            var info = stdout.Split('\n').Where(l => l.Contains('=')).ToDictionary(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 1)..].Trim());
            string cli = info["client_ns"], srv = info["server_ns"];
            var server = IPAddress.Parse(info["server_addr"]);

            if (run == "kernel")
            {
                Ip(cli, "mptcp", "endpoint", "add", Cell.ToString(), "dev", "cell", "subflow", "backup");
                Ip(cli, "mptcp", "limits", "set", "subflow", "2");
            }
            else
            {
                daemon = StartDaemon(smappDll, cli, run, log);
            }

            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(seconds + 30));
            using var listener = NetworkNamespace.Named(srv).Run(() => MptcpTraffic.Listen(IPAddress.Any, Port));
            var accept = Task.Run(async () =>
            {
                try
                {
                    using var s = await listener.AcceptAsync(cts.Token);
                    await MptcpTraffic.ReceiveAsync(s, cts.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                }
            });

            using var socket = ConnectCubic(cli, server);
            var localPort = ((IPEndPoint)socket.LocalEndPoint!).Port;
            using var diag = NetworkNamespace.Named(cli).Run(SockDiagClient.Open);
            var token = Enumerable.Range(0, 50).Select(_ =>
            {
                var t = diag.Subflows().FirstOrDefault(s => s.Id.SourcePort == localPort)?.Token;
                if (t is null)
                {
                    Thread.Sleep(20);
                }

                return t;
            }).FirstOrDefault(t => t is not null) ?? throw new InvalidOperationException("the connection's initial subflow is not in sock_diag");

            var bulk = Task.Run(async () =>
            {
                var block = new byte[64 * 1024];
                BitConverter.TryWriteBytes(block.AsSpan(8, 4), (uint)block.Length);
                while (!cts.IsCancellationRequested)
                {
                    try
                    {
                        await socket.SendAsync(block, SocketFlags.None, cts.Token);
                    }
                    catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                    {
                        return;
                    }
                }
            });

            // Per subflow (source address and port): the largest bytes_acked seen.
            var maxAcked = new Dictionary<(IPAddress, ushort), ulong>();
            var samples = new List<Sample>();
            var clock = Stopwatch.StartNew();
            var faulted = false;
            for (var tick = 0; tick <= seconds * 10; tick++)
            {
                var due = TimeSpan.FromMilliseconds(tick * 100);
                var wait = due - clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    Thread.Sleep(wait);
                }

                if (!faulted && clock.Elapsed.TotalSeconds >= FaultAt)
                {
                    faulted = true;
                    var (c, _, e) = Experiment.Sh(Experiment.Testbed, ["set", prefix, "wifi", "--loss", "0.3"], TimeSpan.FromSeconds(30), env);
                    log.AppendLine(CultureInfo.InvariantCulture, $"+{clock.Elapsed.TotalSeconds:0.000} s fault: testbed set wifi --loss 0.3 ({c}) {e}");
                }

                var t = clock.Elapsed.TotalSeconds;
                var subs = diag.Subflows().Where(s => s.Token == token).ToList();
                foreach (var s in subs)
                {
                    var key = (Unmap(s.Id.Source), s.Id.SourcePort);
                    maxAcked[key] = Math.Max(maxAcked.GetValueOrDefault(key), s.Info.BytesAcked);
                }

                ulong Sum(IPAddress a) => maxAcked.Where(kv => kv.Key.Item1.Equals(a)).Aggregate(0UL, (acc, kv) => acc + kv.Value);
                samples.Add(new Sample(run, t, Sum(Wifi), Sum(Cell), subs.Count));
            }

            log.AppendLine(CultureInfo.InvariantCulture, $"subflows seen: {string.Join(", ", maxAcked.Select(kv => $"{kv.Key.Item1}:{kv.Key.Item2}={kv.Value}"))}");
            cts.Cancel();
            socket.Dispose();
            listener.Dispose();
            Task.WaitAll([bulk, accept], TimeSpan.FromSeconds(5));
            return samples;
        }
        finally
        {
            if (daemon is not null)
            {
                StopDaemon(daemon, log);
            }

            Experiment.Sh(Experiment.Testbed, ["down", prefix], TimeSpan.FromSeconds(60), env);
            File.WriteAllText(Path.Combine(dir, $"{run}.log"), log.ToString());
        }
    }

    /// <summary>The longest time after the fault in which both paths together acknowledged less than 64 KB (head-of-line blocking).</summary>
    private static double LongestStall(List<Sample> samples)
    {
        var after = samples.Where(s => s.T >= FaultAt).ToList();
        double longest = 0;
        for (int i = 0, j = 0; i < after.Count; i++)
        {
            // after[j..i] is the longest window ending at i with less than 64 KB of progress.
            while (after[i].Wifi + after[i].Cell - (after[j].Wifi + after[j].Cell) >= 64 * 1024)
            {
                j++;
            }

            longest = Math.Max(longest, after[i].T - after[j].T);
        }

        return longest;
    }

    private static IPAddress Unmap(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    private static void Ip(string ns, params string[] args)
    {
        var (code, _, stderr) = Experiment.Sh("ip", ["-n", ns, .. args], TimeSpan.FromSeconds(30));
        if (code != 0)
        {
            throw new InvalidOperationException($"ip -n {ns} {string.Join(' ', args)} failed: {stderr}");
        }
    }

    /// <summary>`dotnet smapp.dll run --netns NS --policy P`, waited for until it has done its start-up takeover (at most 15 s).</summary>
    internal static Process StartDaemon(string dll, string ns, string policy, StringBuilder log, IEnumerable<string>? extra = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        // Decisions at info: every experiment's daemon log shows what the policy did and why.
        foreach (var a in new[] { dll, "run", "--netns", ns, "--policy", policy, "--set", "smapp.decision-log=info" }.Concat(extra ?? []))
        {
            psi.ArgumentList.Add(a);
        }

        var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start smapp");
        var ready = new ManualResetEventSlim();
        void OnLine(object _, DataReceivedEventArgs e)
        {
            if (e.Data is null)
            {
                return;
            }

            lock (log)
            {
                log.AppendLine(e.Data);
            }

            if (e.Data.Contains("start-up takeover", StringComparison.OrdinalIgnoreCase)) // not "takeover on" in the first line
            {
                ready.Set();
            }
        }

        p.OutputDataReceived += OnLine;
        p.ErrorDataReceived += OnLine;
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!ready.Wait(TimeSpan.FromSeconds(15)) && p.HasExited)
        {
            throw new InvalidOperationException($"smapp exited ({p.ExitCode}): {log}");
        }

        return p;
    }

    internal static void StopDaemon(Process p, StringBuilder log)
    {
        try
        {
            if (!p.HasExited)
            {
                // SIGTERM by PID (the process this experiment started), then a bounded wait.
                Process.Start("kill", ["-TERM", p.Id.ToString(CultureInfo.InvariantCulture)])?.WaitForExit(5000);
                if (!p.WaitForExit(10_000))
                {
                    p.Kill();
                }
            }
        }
        catch (InvalidOperationException)
        {
        }

        lock (log)
        {
            log.AppendLine("smapp stopped");
        }

        p.Dispose();
    }

    /// <summary>An MPTCP socket running cubic (TCP_CONGESTION before connect: the kernel gives it to every subflow), with a first block sent.</summary>
    internal static Socket ConnectCubic(string ns, IPAddress server, int port = Port)
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
}
