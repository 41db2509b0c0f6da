using System.Globalization;
using Smapp.Experiments;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>
/// The paper's experiments (Smapp.Experiments) at CI size, on the real kernel: each writes its data, figure and summary,
/// with rows for every run.
/// </summary>
public class ExperimentTests
{
    private static string TempDir(string name) => Path.Combine(Path.GetTempPath(), $"smapp-exp-{name}-{Environment.ProcessId}-{Guid.NewGuid():N}");

    private static void AssertCommonFiles(string dir)
    {
        Assert.True(new FileInfo(Path.Combine(dir, "figure.png")).Length > 1000, "figure.png missing or empty");
        var png = File.ReadAllBytes(Path.Combine(dir, "figure.png"));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        var summary = File.ReadAllText(Path.Combine(dir, "summary.md"));
        Assert.Contains("kernel " + File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), summary);
        Assert.Contains("Congestion control:", summary);
        Assert.Contains("Delay source:", summary);
    }

    [Fact]
    public void Latency_writes_delays_for_kernel_and_smapp_idle_and_under_a_hog()
    {
        var dir = TempDir("latency");
        try
        {
            var code = Experiment.Run(["latency", "--connections", "5", "--warmup", "5", "--out", dir, "--smapp-dll", Repo.SmappDll], out var outDir);
            Assert.Equal(0, code);
            Assert.Equal(dir, outDir);
            AssertCommonFiles(dir);

            var lines = File.ReadAllLines(Path.Combine(dir, "data.csv"));
            var header = lines[0].Split(',');
            int load = Array.IndexOf(header, "load"), pm = Array.IndexOf(header, "pm"), delay = Array.IndexOf(header, "delay_ms");
            var rows = lines.Skip(1).Select(l => l.Split(',')).ToList();
            foreach (var l in new[] { "idle", "hog" })
            {
                foreach (var p in new[] { "kernel", "smapp" })
                {
                    var mine = rows.Where(r => r[load] == l && r[pm] == p).ToList();
                    Assert.True(mine.Count == 5, $"{l}/{p}: {mine.Count} rows");
                    Assert.Contains(mine, r => r[delay] != "");
                }
            }

            var summary = File.ReadAllText(Path.Combine(dir, "summary.md"));
            Assert.Matches(@"\| idle \| smapp \| 5 \| [1-5] \| [0-9.]+ \| [0-9.]+ \|", summary);
            Assert.Matches(@"\| hog \| kernel \| 5 \| [1-5] \|", summary);
            Assert.Contains("+23 µs", summary);
            Assert.Contains("+37 µs", summary);
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    [Fact]
    public void Backup_writes_bytes_per_path_for_the_three_runs()
    {
        var dir = TempDir("backup");
        try
        {
            var code = Experiment.Run(["backup", "--seconds", "6", "--out", dir, "--smapp-dll", Repo.SmappDll], out _);
            Assert.Equal(0, code);
            AssertCommonFiles(dir);

            var rows = File.ReadAllLines(Path.Combine(dir, "data.csv")).Skip(1).Select(l => l.Split(',')).ToList();
            foreach (var run in new[] { "kernel", "fullmesh", "backup" })
            {
                Assert.True(File.Exists(Path.Combine(dir, $"figure-{run}.png")), $"figure-{run}.png");
                var mine = rows.Where(r => r[0] == run).ToList();
                Assert.True(mine.Count >= 2 * 50, $"{run}: {mine.Count} rows");
                var wifi = mine.Where(r => r[2] == "wifi").Select(r => ulong.Parse(r[3], CultureInfo.InvariantCulture)).ToList();
                Assert.True(wifi[^1] > 500_000, $"{run}: only {wifi[^1]} bytes over wifi");
            }

            var summary = File.ReadAllText(Path.Combine(dir, "summary.md"));
            foreach (var run in new[] { "kernel", "fullmesh", "backup" })
            {
                Assert.Matches($@"\| {run} \| \d+ \| ([0-9.]+|never) \| \d+ \| \d+ \| \d+ \| [0-9.]+ \|", summary);
            }

            // The paper's point: with the backup controller nothing goes over cellular before the fault.
            Assert.Matches(@"\| backup \| 0 \|", summary);
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    [Fact]
    public void Streaming_writes_block_delays_for_both_policies_and_both_losses()
    {
        var dir = TempDir("streaming");
        try
        {
            var err = new StringWriter();
            var stderr = Console.Error;
            Console.SetError(TextWriter.Synchronized(err));
            int code;
            try
            {
                code = Experiment.Run(["streaming", "--seconds", "4", "--losses", "0,0.3", "--out", dir, "--smapp-dll", Repo.SmappDll], out _);
            }
            finally
            {
                Console.SetError(stderr);
            }

            Assert.True(code == 0, $"exit code {code}: {err}");
            AssertCommonFiles(dir);

            var lines = File.ReadAllLines(Path.Combine(dir, "data.csv"));
            Assert.Equal("policy,loss,block,delay_ms", lines[0]);
            var rows = lines.Skip(1).Select(l => l.Split(',')).ToList();
            var summary = File.ReadAllText(Path.Combine(dir, "summary.md"));
            foreach (var policy in new[] { "fullmesh", "streaming" })
            {
                foreach (var loss in new[] { "0", "0.3" })
                {
                    var mine = rows.Where(r => r[0] == policy && r[1] == loss).ToList();
                    Assert.True(mine.Count == 4, $"{policy}/{loss}: {mine.Count} rows");
                    Assert.Contains(mine, r => r[3] != "");
                    Assert.Matches($@"\| {policy} \| {loss} \| 4 \| [0-4] \| [0-4] \| [0-9.]+ \|", summary);
                }

                // Without loss, every block arrives.
                Assert.All(rows.Where(r => r[0] == policy && r[1] == "0"), r => Assert.NotEqual("", r[3]));
            }
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    [Fact]
    public void Ecmp_writes_completion_times_and_bytes_per_path_for_both_policies()
    {
        var dir = TempDir("ecmp");
        try
        {
            var err = new StringWriter();
            var stderr = Console.Error;
            Console.SetError(TextWriter.Synchronized(err));
            int code;
            try
            {
                code = Experiment.Run(["ecmp", "--size", "2MB", "--runs", "2", "--out", dir, "--smapp-dll", Repo.SmappDll], out _);
            }
            finally
            {
                Console.SetError(stderr);
            }

            Assert.True(code == 0, $"exit code {code}: {err}");
            AssertCommonFiles(dir);

            var lines = File.ReadAllLines(Path.Combine(dir, "data.csv"));
            Assert.Equal("policy,run,seconds,paths_used,p1_bytes,p2_bytes,p3_bytes,p4_bytes", lines[0]);
            var rows = lines.Skip(1).Select(l => l.Split(',')).ToList();
            var summary = File.ReadAllText(Path.Combine(dir, "summary.md"));
            foreach (var policy in new[] { "ndiffports", "ecmp-refresh" })
            {
                var mine = rows.Where(r => r[0] == policy).ToList();
                Assert.True(mine.Count == 2, $"{policy}: {mine.Count} rows");
                foreach (var r in mine)
                {
                    // Every run finished, and the paths carried at least the 2 MB sent (payload plus headers, never less).
                    Assert.NotEqual("", r[2]);
                    var total = r[4..8].Sum(b => long.Parse(b, CultureInfo.InvariantCulture));
                    Assert.True(total >= 2_000_000, $"{policy} run {r[1]}: the paths carried only {total} bytes");
                    Assert.InRange(int.Parse(r[3], CultureInfo.InvariantCulture), 1, 4);
                }

                Assert.Matches($@"\| {policy} \| 2 \| 2 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|", summary);
            }

            Assert.Contains("27.8 s", summary);
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }
}
