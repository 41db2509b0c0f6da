using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>
/// bench/reaction.sh at a tiny size, as CI runs it: the side-by-side reaction benchmark still measures every path
/// manager (in-kernel, mptcpd with its plugin, Smapp fullmesh) and writes one sample per connection.
/// </summary>
public class ReactionBenchmarkTests
{
    private static readonly string[] PathManagers = ["kernel", "mptcpd", "smapp"];

    [Fact]
    public void Reaction_benchmark_measures_the_three_path_managers_and_summarizes_them()
    {
        var outDir = Path.Combine(Path.GetTempPath(), $"smapp-reaction-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            var script = Path.Combine(Repo.Root, "bench", "reaction.sh");
            var (code, stdout, stderr) = Shell.Run(script, ["--connections", "5", "--warmup", "5", "--out", outDir, "--smapp-dll", Repo.SmappDll],
                TimeSpan.FromMinutes(15));
            Assert.True(code == 0, $"reaction.sh failed ({code}):\n{stderr}\n{stdout}");

            var rows = File.ReadAllLines(Path.Combine(outDir, "samples.csv"));
            var header = rows[0].Split(',');
            int pm = Array.IndexOf(header, "pm"), delay = Array.IndexOf(header, "delay_ms");
            Assert.True(pm >= 0 && delay >= 0, $"samples.csv header: {rows[0]}");
            var samples = rows.Skip(1).Select(r => r.Split(',')).ToList();
            foreach (var name in PathManagers)
            {
                var mine = samples.Where(s => s[pm] == name).ToList();
                Assert.True(mine.Count == 5, $"{name}: {mine.Count} connections in the capture, expected 5\n{stderr}");
                var joined = mine.Where(s => s[delay] != "").Select(s => double.Parse(s[delay], System.Globalization.CultureInfo.InvariantCulture)).ToList();
                Assert.True(joined.Count > 0, $"{name}: no connection got its second subflow\n{stderr}");
                // A real, non-negative delay; the upper bound only catches a hang (speed is the benchmark's to report, never asserted).
                Assert.All(joined, d => Assert.InRange(d, 0.0, 30_000.0));
            }

            var summary = File.ReadAllText(Path.Combine(outDir, "summary.md"));
            Assert.Contains(summary, stdout);
            foreach (var name in PathManagers)
            {
                Assert.Matches($@"\| idle \| {name} \| 5 \| [1-5] \(", summary);
            }

            Assert.Contains("idle: Smapp added", summary);
        }
        finally
        {
            if (Directory.Exists(outDir))
            {
                Directory.Delete(outDir, recursive: true);
            }
        }
    }
}
