using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ScottPlot;
using Smapp.Host.Traffic;
using Smapp.Netlink;

namespace Smapp.Experiments;

/// <summary>
/// Paper figure 2b: a 64 KB block every second over the two-path testbed (wifi and cell at 5 Mbit/s, 10 ms one-way
/// delay each), with loss on WiFi; the delivery delay of each block (receiver's time minus the sender's stamp), for
/// Smapp fullmesh and Smapp streaming.
/// </summary>
public static class Streaming
{
    private const int Port = 5202;
    private const int BlockSize = 64 * 1024;
    private const double DeadlineMs = 1000;
    private static readonly string[] Policies = ["fullmesh", "streaming"];

    private sealed record Row(string Policy, double Loss, int Block, double? DelayMs);

    public static int Run(string dir, string smappDll, int seconds, IReadOnlyList<double> losses)
    {
        if (seconds < 1 || losses.Count == 0)
        {
            throw new ArgumentException("--seconds must be at least 1 and --losses not empty");
        }

        var all = new List<Row>();
        foreach (var policy in Policies)
        {
            foreach (var loss in losses)
            {
                Console.Error.WriteLine($"streaming: {policy}, wifi loss {loss}, {seconds} blocks");
                all.AddRange(RunOne(policy, loss, smappDll, seconds, dir));
            }
        }

        var csv = new StringBuilder("policy,loss,block,delay_ms\n");
        foreach (var r in all)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{r.Policy},{r.Loss:0.###},{r.Block},{(r.DelayMs is { } d ? d.ToString("0.000", CultureInfo.InvariantCulture) : "")}\n");
        }

        Experiment.Write(Path.Combine(dir, "data.csv"), csv);

        Plot(all, losses, Path.Combine(dir, "figure.png"));

        var sb = new StringBuilder();
        sb.AppendLine("# streaming (paper figure 2b): a 64 KB block every second when WiFi is lossy");
        sb.AppendLine();
        sb.AppendLine($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, kernel {Experiment.KernelVersion}, {Environment.ProcessorCount} cores. " +
                      $"Two-path testbed, wifi and cell shaped to 5 Mbit/s (tbf), {seconds} blocks of 64 KB, one every 1 s, client -> server; " +
                      "loss both ways on WiFi (iptables statistic, `testbed.sh set PREFIX wifi --loss P`) from just after the connection is established, for each loss rate.");
        sb.AppendLine("Congestion control: cubic (TCP_CONGESTION on the MPTCP socket: every subflow runs it). " +
                      "Delay source: the testbed's NFQUEUE delay line (`--delay wifi=10 --delay cell=10`: 10 ms one way on each link, RTT +20 ms; no netem).");
        sb.AppendLine();
        sb.AppendLine("Runs: `smapp run --policy fullmesh|streaming` in the client namespace (userspace PM, streaming at its defaults: " +
                      "period 1 s, check at 0.5, min-progress 32 KB). Block delay: the receiver's clock when the block's last byte arrives " +
                      "minus the sender's stamp in the block (same host, same monotonic clock).");
        sb.AppendLine();
        sb.AppendLine("| policy | wifi loss | blocks sent | delivered | within 1 s | share within 1 s | p50 (ms) | p95 (ms) | max (ms) |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var policy in Policies)
        {
            foreach (var loss in losses)
            {
                var mine = all.Where(r => r.Policy == policy && r.Loss == loss).ToList();
                var d = mine.Where(r => r.DelayMs is not null).Select(r => r.DelayMs!.Value).Order().ToList();
                var within = d.Count(x => x <= DeadlineMs);
                string P(double q) => d.Count == 0 ? "-" : Experiment.F(d[Math.Min(d.Count - 1, (int)Math.Ceiling(q * d.Count) - 1)], "0.0");
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {policy} | {loss:0.##} | {mine.Count} | {d.Count} | {within} | {(mine.Count == 0 ? "-" : Experiment.F((double)within / mine.Count, "0.00"))} | {P(0.5)} | {P(0.95)} | {(d.Count == 0 ? "-" : Experiment.F(d[^1], "0.0"))} |");
            }
        }

        sb.AppendLine();
        sb.AppendLine("Paper: with fullmesh the blocks' delay grows with the WiFi loss (head-of-line blocking behind WiFi " +
                      "retransmissions); the streaming controller keeps blocks within their 1 s deadline by moving to cellular.");
        sb.AppendLine("Share within 1 s: of the blocks sent (a block not delivered by the end of the run counts as late).");
        sb.AppendLine();
        sb.AppendLine("Files: data.csv (policy, loss, block, delay_ms; empty delay: not delivered), figure.png (CDF per policy and loss), POLICY-LOSS.log.");
        Experiment.Write(Path.Combine(dir, "summary.md"), sb);
        Console.Error.Write(sb.ToString());
        return 0;
    }

    /// <summary>The CDF figure from rows (also from a run's data.csv: <see cref="Replot"/>).</summary>
    private static void Plot(List<Row> all, IReadOnlyList<double> losses, string path)
    {
        // One CDF per policy and loss: colour per loss, line style per policy; undelivered blocks keep the CDF below 1.
        var plt = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (var li = 0; li < losses.Count; li++)
        {
            foreach (var policy in Policies)
            {
                var mine = all.Where(r => r.Policy == policy && r.Loss == losses[li]).ToList();
                var delays = mine.Where(r => r.DelayMs is not null).Select(r => r.DelayMs!.Value).Order().ToList();
                if (delays.Count == 0)
                {
                    continue;
                }

                var xs = new List<double> { delays[0] };
                var ys = new List<double> { 0 };
                for (var i = 0; i < delays.Count; i++)
                {
                    xs.Add(delays[i]);
                    ys.Add((i + 1.0) / mine.Count);
                }

                var line = plt.Add.ScatterLine(xs.ToArray(), ys.ToArray());
                line.Color = palette.GetColor(li);
                line.LineWidth = 2;
                line.LinePattern = policy == "fullmesh" ? LinePattern.Dashed : LinePattern.Solid;
                line.LegendText = $"{policy}, loss {losses[li]:0.##}";
            }
        }

        var deadline = plt.Add.VerticalLine(DeadlineMs);
        deadline.Color = Colors.Gray;
        deadline.LinePattern = LinePattern.Dotted;
        plt.XLabel("block delivery delay (ms)");
        plt.YLabel("CDF (share of blocks sent)");
        plt.Title("64 KB every 1 s, wifi and cell 5 Mbit/s, 10 ms; loss on WiFi (x axis cut at 3 s)");
        plt.ShowLegend(Alignment.LowerRight);
        // Blocks later than the right edge keep their CDF line below 1 up to it (one stalled block must not squeeze the rest).
        plt.Axes.SetLimits(0, 3000, 0, 1.05);
        plt.SavePng(path, 1000, 620);
    }

    /// <summary>Redraws DIR/figure.png from DIR/data.csv (after a change to the figure, without running again).</summary>
    public static int Replot(string dir)
    {
        var rows = File.ReadAllLines(Path.Combine(dir, "data.csv")).Skip(1).Select(l => l.Split(','))
            .Select(r => new Row(r[0], double.Parse(r[1], CultureInfo.InvariantCulture), int.Parse(r[2], CultureInfo.InvariantCulture),
                r[3] == "" ? null : double.Parse(r[3], CultureInfo.InvariantCulture)))
            .ToList();
        Plot(rows, rows.Select(r => r.Loss).Distinct().Order().ToList(), Path.Combine(dir, "figure.png"));
        return 0;
    }

    private static List<Row> RunOne(string policy, double loss, string smappDll, int blocks, string dir)
    {
        var prefix = $"sx{Environment.ProcessId % 10000}{policy[0]}{(int)Math.Round(loss * 100)}";
        var up = new List<string> { "up", "two-path", prefix, "--rate", "wifi=5mbit", "--rate", "cell=5mbit", "--delay", "wifi=10", "--delay", "cell=10" };

        var env = new Dictionary<string, string> { ["SMAPP_DLL"] = smappDll };
        var log = new StringBuilder();
        Process? daemon = null;
        try
        {
            var (code, stdout, stderr) = Experiment.Sh(Experiment.Testbed, up, TimeSpan.FromSeconds(90), env);
            if (code != 0)
            {
                throw new InvalidOperationException($"testbed.sh up failed ({code}): {stderr}{stdout}");
            }

            var info = stdout.Split('\n').Where(l => l.Contains('=')).ToDictionary(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 1)..].Trim());
            string cli = info["client_ns"], srv = info["server_ns"];
            var server = IPAddress.Parse(info["server_addr"]);
            daemon = Backup.StartDaemon(smappDll, cli, policy, log);

            // The receiver records each block's delay as it arrives, so a run that stalls keeps what was delivered.
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(blocks + 20));
            using var listener = NetworkNamespace.Named(srv).Run(() => MptcpTraffic.Listen(IPAddress.Any, Port));
            var received = new List<double>();
            var accept = Task.Run(async () =>
            {
                try
                {
                    using var s = await listener.AcceptAsync(cts.Token);
                    await ReceiveBlocksAsync(s, received, cts.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                }
            });

            // The initial subflow goes over the lossy WiFi path: a lost SYN can outlast one connect's timeout.
            Socket? connected = null;
            for (var attempt = 1; connected is null; attempt++)
            {
                try
                {
                    connected = Backup.ConnectCubic(cli, server, Port);
                }
                catch (TimeoutException e) when (attempt < 4)
                {
                    log.AppendLine(CultureInfo.InvariantCulture, $"connect attempt {attempt}: {e.Message}");
                }
            }

            using var socket = connected;

            // The loss starts once the connection is up (a handshake over 40 % loss can fail to establish MPTCP at all).
            if (loss > 0)
            {
                Thread.Sleep(300);
                var (c, _, e) = Experiment.Sh(Experiment.Testbed, ["set", prefix, "wifi", "--loss", loss.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(30), env);
                log.AppendLine(CultureInfo.InvariantCulture, $"testbed set wifi --loss {loss} ({c}) {e}");
            }
            var clock = Stopwatch.StartNew();
            try
            {
                MptcpTraffic.SendStreamAsync(socket, BlockSize, TimeSpan.FromSeconds(1), blocks, cts.Token).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                log.AppendLine(CultureInfo.InvariantCulture, $"+{clock.Elapsed.TotalSeconds:0.000} s the sender stalled: {e.Message}");
            }

            // Up to 10 s more (within the run's bound) for the last blocks; ConnectCubic's header-only block counts as one.
            var until = TimeSpan.FromSeconds(blocks + 10);
            while (clock.Elapsed < until && !cts.IsCancellationRequested)
            {
                lock (received)
                {
                    if (received.Count >= blocks + 1)
                    {
                        break;
                    }
                }

                Thread.Sleep(50);
            }

            cts.Cancel();
            socket.Dispose();
            listener.Dispose();
            accept.Wait(TimeSpan.FromSeconds(5));
            List<double> delays;
            lock (received)
            {
                delays = received.Skip(1).ToList();
            }

            log.AppendLine(CultureInfo.InvariantCulture, $"+{clock.Elapsed.TotalSeconds:0.000} s done: {delays.Count} of {blocks} blocks received");
            return Enumerable.Range(0, blocks).Select(i => new Row(policy, loss, i, i < delays.Count ? delays[i] : null)).ToList();
        }
        finally
        {
            if (daemon is not null)
            {
                Backup.StopDaemon(daemon, log);
            }

            var (_, downOut, downErr) = Experiment.Sh(Experiment.Testbed, ["down", prefix], TimeSpan.FromSeconds(60), env);
            log.AppendLine(downOut).AppendLine(downErr);
            File.WriteAllText(Path.Combine(dir, string.Create(CultureInfo.InvariantCulture, $"{policy}-{loss:0.##}.log")), log.ToString());
        }
    }

    /// <summary>MptcpTraffic.ReceiveAsync's block parsing, each block's delay added to <paramref name="delays"/> (under its lock) as it completes.</summary>
    private static async Task ReceiveBlocksAsync(Socket s, List<double> delays, CancellationToken ct)
    {
        var buffer = new byte[256 * 1024];
        var header = new byte[MptcpTraffic.HeaderSize];
        var headerFill = 0;
        long remaining = 0, sentNs = 0;
        while (true)
        {
            var n = await s.ReceiveAsync(buffer, SocketFlags.None, ct);
            if (n == 0)
            {
                return;
            }

            var now = MptcpTraffic.NowNs();
            var i = 0;
            while (i < n)
            {
                if (remaining == 0)
                {
                    var take = Math.Min(MptcpTraffic.HeaderSize - headerFill, n - i);
                    buffer.AsSpan(i, take).CopyTo(header.AsSpan(headerFill));
                    headerFill += take;
                    i += take;
                    if (headerFill < MptcpTraffic.HeaderSize)
                    {
                        break;
                    }

                    headerFill = 0;
                    sentNs = BinaryPrimitives.ReadInt64LittleEndian(header);
                    remaining = Math.Max(0, (long)BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8)) - MptcpTraffic.HeaderSize);
                }
                else
                {
                    var body = (int)Math.Min(remaining, n - i);
                    remaining -= body;
                    i += body;
                }

                if (remaining == 0 && headerFill == 0)
                {
                    lock (delays)
                    {
                        delays.Add((now - sentNs) / 1e6);
                    }
                }
            }
        }
    }
}
