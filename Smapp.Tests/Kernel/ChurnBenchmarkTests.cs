using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>
/// bench/churn.sh and bench/idle.sh at a tiny size, as CI runs them: every path manager (the in-kernel PM, mptcpd
/// with its plugin, Smapp) gives connections their second subflow, and the scripts write their tables and leave no
/// namespace behind.
/// </summary>
public class ChurnBenchmarkTests
{
    private static string Bench(string script) => Path.Combine(Repo.Root, "bench", script);

    /// <summary>The rows of a CSV as header name → value dictionaries.</summary>
    private static List<Dictionary<string, string>> Csv(string path)
    {
        var lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToList();
        var header = lines[0].Split(',');
        return lines.Skip(1)
            .Select(l => l.Split(','))
            .Select(v => header.Select((h, i) => (h, v: i < v.Length ? v[i] : "")).ToDictionary(p => p.h, p => p.v))
            .ToList();
    }

    /// <summary>The scripts name their namespaces on stderr: "namespaces ch1234-*".</summary>
    private static string Prefix(string stderr, string tag)
    {
        var prefix = System.Text.RegularExpressions.Regex.Match(stderr, $@"namespaces ({tag}\d+)-\*").Groups[1].Value;
        Assert.False(prefix.Length == 0, $"no namespace prefix in the script's output:\n{stderr}");
        return prefix;
    }

    private static void AssertNoNamespaceLeft(string prefix) =>
        Assert.DoesNotContain(prefix + "-", Shell.Run("ip", ["netns", "list"], TimeSpan.FromSeconds(5)).Stdout);

    [Fact]
    public void Churn_script_gives_every_path_manager_a_row_with_joined_connections()
    {
        var dir = Directory.CreateTempSubdirectory("smapp-churn-").FullName;
        try
        {
            var r = Shell.Run(Bench("churn.sh"),
                ["--rates", "50", "--seconds", "1", "--ceiling-rates", "50", "--smapp-dll", Repo.SmappDll, "--out", dir],
                TimeSpan.FromMinutes(5));
            Assert.True(r.Code == 0, $"churn.sh exited {r.Code}:\n{r.Stderr}\n{r.Stdout}");
            var rows = Csv(Path.Combine(dir, "churn.csv"));

            var none = Assert.Single(rows, row => row["pm"] == "none");
            Assert.True(int.Parse(none["started"]) > 0, "the generator alone started nothing");
            Assert.Equal(none["started"], none["connected"]);
            foreach (var pm in new[] { "kernel", "mptcpd", "smapp" })
            {
                var row = Assert.Single(rows, row => row["pm"] == pm);
                Assert.Equal("50", row["rate"]);
                Assert.True(int.Parse(row["started"]) > 0, $"{pm}: nothing started");
                Assert.True(double.Parse(row["joined_pct"], System.Globalization.CultureInfo.InvariantCulture) > 0,
                    $"{pm}: no connection got its second subflow ({string.Join(", ", row.Select(kv => $"{kv.Key}={kv.Value}"))})");
                Assert.Equal("", row["note"]);
            }

            Assert.Equal("n/a", rows.Single(row => row["pm"] == "kernel")["drops"]);
            Assert.Equal("0", rows.Single(row => row["pm"] == "smapp")["drops"]);
            Assert.Contains("| smapp | 50 |", r.Stdout);
            Assert.Contains("- Smapp: ", r.Stdout);
            Assert.Contains("of the in-kernel PM's rate", r.Stdout);
            Assert.True(File.Exists(Path.Combine(dir, "summary.md")));
            AssertNoNamespaceLeft(Prefix(r.Stderr, "ch"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Idle_script_measures_smapp_and_mptcpd()
    {
        var dir = Directory.CreateTempSubdirectory("smapp-idle-").FullName;
        try
        {
            var r = Shell.Run(Bench("idle.sh"), ["--seconds", "1", "--smapp-dll", Repo.SmappDll, "--out", dir], TimeSpan.FromMinutes(3));
            Assert.True(r.Code == 0, $"idle.sh exited {r.Code}:\n{r.Stderr}\n{r.Stdout}");
            var rows = Csv(Path.Combine(dir, "idle.csv"));
            foreach (var daemon in new[] { "smapp", "mptcpd" })
            {
                var row = Assert.Single(rows, row => row["daemon"] == daemon);
                Assert.Equal("", row["note"]);
                Assert.True(int.Parse(row["threads"]) >= 1, $"{daemon}: no thread count");
                Assert.True(int.Parse(row["rss_kib"]) > 0, $"{daemon}: no RSS");
                Assert.True(double.Parse(row["cpu_pct_of_core"], System.Globalization.CultureInfo.InvariantCulture) >= 0);
            }

            Assert.Contains("| smapp |", r.Stdout);
            Assert.Contains("| mptcpd |", r.Stdout);
            AssertNoNamespaceLeft(Prefix(r.Stderr, "id"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
