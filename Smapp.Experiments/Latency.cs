using System.Globalization;
using System.Text;
using ScottPlot;

namespace Smapp.Experiments;

/// <summary>
/// Paper figure 3: the delay from a connection's MP_CAPABLE SYN to its MP_JOIN SYN, in-kernel PM vs Smapp fullmesh,
/// idle and with a CPU hog per core, measured by bench/reaction.sh.
/// </summary>
public static class Latency
{
    // The paper's numbers (Smapp's added delay over the in-kernel PM, mean).
    private const double PaperIdleUs = 23, PaperHogUs = 37;

    public static int Run(string dir, string smappDll, int connections, int? warmup)
    {
        var raw = Path.Combine(dir, "reaction");
        var args = new List<string> { "--connections", connections.ToString(CultureInfo.InvariantCulture), "--hog", "--pms", "kernel,smapp", "--out", raw, "--smapp-dll", smappDll };
        if (warmup is { } w)
        {
            args.AddRange(["--warmup", w.ToString(CultureInfo.InvariantCulture)]);
        }

        var script = Path.Combine(Experiment.RepoRoot, "bench", "reaction.sh");
        Console.Error.WriteLine($"latency: {script} {string.Join(' ', args)}");
        var (code, stdout, stderr) = Experiment.Sh(script, args, TimeSpan.FromMinutes(5 + connections / 20.0));
        File.WriteAllText(Path.Combine(dir, "reaction.log"), stderr + stdout);
        if (code != 0)
        {
            Console.Error.WriteLine($"latency: reaction.sh failed ({code}):\n{stderr}");
            return 1;
        }

        var lines = File.ReadAllLines(Path.Combine(raw, "samples.csv"));
        File.Copy(Path.Combine(raw, "samples.csv"), Path.Combine(dir, "data.csv"), overwrite: true);
        var header = lines[0].Split(',');
        int iLoad = Array.IndexOf(header, "load"), iPm = Array.IndexOf(header, "pm"), iDelay = Array.IndexOf(header, "delay_ms");
        var rows = lines.Skip(1).Select(l => l.Split(',')).ToList();
        var groups = new List<(string Load, string Pm, int Conns, List<double> Delays)>();
        foreach (var load in new[] { "idle", "hog" })
        {
            foreach (var pm in new[] { "kernel", "smapp" })
            {
                var mine = rows.Where(r => r[iLoad] == load && r[iPm] == pm).ToList();
                var delays = mine.Where(r => r[iDelay] != "").Select(r => double.Parse(r[iDelay], CultureInfo.InvariantCulture)).Order().ToList();
                groups.Add((load, pm, mine.Count, delays));
            }
        }

        // The figure: one CDF per load and path manager.
        var plt = new Plot();
        foreach (var (load, pm, _, delays) in groups.Where(g => g.Delays.Count > 0))
        {
            // The step starts at (first delay, 0): a CDF from 0 to 1.
            // x on a log scale (log10 of the delay in ms; the ticks are labelled in ms): the body and the tail both show.
            var xs = delays.Prepend(delays[0]).Select(d => Math.Log10(Math.Max(d, 1e-3))).ToArray();
            var ys = Enumerable.Range(0, xs.Length).Select(i => (double)i / delays.Count).ToArray();
            var line = plt.Add.ScatterLine(xs, ys);
            line.ConnectStyle = ConnectStyle.StepHorizontal;
            line.LineWidth = 2;
            line.Color = pm == "kernel" ? Colors.Blue : Colors.OrangeRed;
            line.LinePattern = load == "idle" ? LinePattern.Solid : LinePattern.Dashed;
            line.LegendText = $"{pm} ({load})";
        }

        plt.Title("Reaction delay: MP_CAPABLE SYN to MP_JOIN SYN");
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = x => Math.Pow(10, x).ToString("0.###", CultureInfo.InvariantCulture),
        };
        plt.XLabel("delay (ms, log scale)");
        plt.YLabel("CDF");
        plt.ShowLegend(Alignment.LowerRight);
        plt.SavePng(Path.Combine(dir, "figure.png"), 900, 560);

        var sb = new StringBuilder();
        sb.AppendLine("# latency (paper figure 3): reaction delay, in-kernel PM vs Smapp fullmesh");
        sb.AppendLine();
        sb.AppendLine($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, kernel {Experiment.KernelVersion}, {Environment.ProcessorCount} cores; " +
                      $"{connections} connections per path manager and load (bench/reaction.sh --hog --pms kernel,smapp).");
        sb.AppendLine($"Congestion control: {Experiment.HostCongestionControl} (host default, the testbed namespaces' too; reaction.sh sets none). " +
                      "Delay source: none added (no link delay; the delay measured is the path manager's, from tcpdump timestamps in the client namespace).");
        sb.AppendLine();
        sb.AppendLine("| load | PM | connections | with join | median ms | mean ms |");
        sb.AppendLine("| --- | --- | ---: | ---: | ---: | ---: |");
        foreach (var (load, pm, conns, delays) in groups)
        {
            sb.AppendLine(delays.Count > 0
                ? $"| {load} | {pm} | {conns} | {delays.Count} | {Experiment.F(Median(delays))} | {Experiment.F(delays.Average())} |"
                : $"| {load} | {pm} | {conns} | 0 | - | - |");
        }

        sb.AppendLine();
        sb.AppendLine("| load | Smapp added, mean | Smapp added, median | paper (mean) |");
        sb.AppendLine("| --- | ---: | ---: | ---: |");
        foreach (var load in new[] { "idle", "hog" })
        {
            var k = groups.Single(g => g.Load == load && g.Pm == "kernel").Delays;
            var s = groups.Single(g => g.Load == load && g.Pm == "smapp").Delays;
            var paper = load == "idle" ? PaperIdleUs : PaperHogUs;
            sb.AppendLine(k.Count > 0 && s.Count > 0
                ? $"| {load} | {Experiment.F((s.Average() - k.Average()) * 1000, "+0;-0")} µs | {Experiment.F((Median(s) - Median(k)) * 1000, "+0;-0")} µs | +{paper} µs |"
                : $"| {load} | - | - | +{paper} µs |");
        }

        sb.AppendLine();
        sb.AppendLine("Files: data.csv (bench/reaction.sh samples.csv: one row per connection; delay_ms empty when no join came within the wait), " +
                      "figure.png (CDF per PM and load), reaction/ (the script's own summary, logs and captures).");
        Experiment.Write(Path.Combine(dir, "summary.md"), sb);
        Console.Error.Write(sb.ToString());
        return 0;
    }

    private static double Median(List<double> sorted) =>
        sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}
