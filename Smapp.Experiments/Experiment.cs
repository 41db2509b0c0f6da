using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Smapp.Experiments;

/// <summary>
/// The paper's experiments, one command each: `smapp-experiments NAME [options]` writes
/// experiments/results/NAME-DATE/ (data.csv, figure.png, summary.md).
/// </summary>
public static class Experiment
{
    public const string Usage = """
        usage: sudo dotnet run -c Release --project Smapp.Experiments -- NAME [options]
          latency  [--connections N] [--warmup W]   paper figure 3: reaction delay CDF, kernel vs smapp, idle and hog
          backup   [--seconds S]                    paper figure 2a: bytes delivered per path, kernel / fullmesh / backup
          streaming [--seconds N] [--losses 0,0.1,..]  paper figure 2b: 64 KB block per 1 s, block delay CDF, fullmesh vs streaming, WiFi loss
                   [--replot DIR]                 redraw DIR/figure.png from DIR/data.csv
          ecmp     [--size 100MB] [--runs 20]       paper figure 2c: completion time CDF over 4 ECMP paths, ndiffports (5) vs ecmp-refresh
          common:  [--out DIR] (default experiments/results/NAME-DATE) [--smapp-dll PATH]
        """;

    /// <summary>Runs one experiment; returns the exit code. The result directory is printed on stdout's last line.</summary>
    public static int Run(string[] args) => Run(args, out _);

    public static int Run(string[] args, out string? outDir)
    {
        outDir = null;
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var name = args[0];
        var opts = new Dictionary<string, string>();
        for (var i = 1; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                Console.Error.WriteLine($"experiments: bad option {args[i]}\n{Usage}");
                return 2;
            }

            opts[args[i][2..]] = args[++i];
        }

        if (name is not ("latency" or "backup" or "streaming" or "ecmp"))
        {
            Console.Error.WriteLine($"experiments: unknown experiment {name}\n{Usage}");
            return 2;
        }

        if (name == "streaming" && opts.TryGetValue("replot", out var replot))
        {
            outDir = Path.GetFullPath(replot);
            return Streaming.Replot(outDir);
        }

        var dir = opts.TryGetValue("out", out var o) ? Path.GetFullPath(o)
            : Path.Combine(RepoRoot, "experiments", "results", $"{name}-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
        Directory.CreateDirectory(dir);
        outDir = dir;
        var dll = opts.TryGetValue("smapp-dll", out var d) ? Path.GetFullPath(d) : Path.Combine(AppContext.BaseDirectory, "smapp.dll");
        try
        {
            var code = name switch
            {
                "latency" => Latency.Run(dir, dll, Int(opts, "connections", 1000), opts.TryGetValue("warmup", out var w) ? int.Parse(w, CultureInfo.InvariantCulture) : null),
                "streaming" => Streaming.Run(dir, dll, Int(opts, "seconds", 60), (opts.TryGetValue("losses", out var ls) ? ls : "0,0.1,0.2,0.3,0.4")
                    .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToList()),
                "ecmp" => Ecmp.Run(dir, dll, Size(opts.TryGetValue("size", out var sz) ? sz : "100MB"), Int(opts, "runs", 20)),
                _ => Backup.Run(dir, dll, Int(opts, "seconds", 30)),
            };
            Console.WriteLine(dir);
            return code;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"experiments: {name} failed: {e}");
            return 1;
        }
    }

    private static int Int(Dictionary<string, string> o, string key, int dflt) =>
        o.TryGetValue(key, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : dflt;

    /// <summary>A byte count: a number with an optional decimal unit (k, KB, M, MB, G, GB; 100MB = 100,000,000 bytes).</summary>
    public static long Size(string text)
    {
        var m = System.Text.RegularExpressions.Regex.Match(text.Trim(), @"^([0-9]+(?:\.[0-9]+)?)\s*([kKmMgG]?)[bB]?$");
        if (!m.Success)
        {
            throw new ArgumentException($"--size {text}: not a size (e.g. 100MB, 5M, 250000)");
        }

        var unit = m.Groups[2].Value.ToUpperInvariant() switch { "K" => 1e3, "M" => 1e6, "G" => 1e9, _ => 1.0 };
        return (long)(double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) * unit);
    }

    public static string RepoRoot
    {
        get
        {
            foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            {
                for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                {
                    if (File.Exists(Path.Combine(dir.FullName, "Smapp.sln")))
                    {
                        return dir.FullName;
                    }
                }
            }

            throw new InvalidOperationException("no Smapp.sln above the current directory or the build output");
        }
    }

    public static string Testbed => Path.Combine(RepoRoot, "kernel-pm", "testbed.sh");

    public static string KernelVersion => File.ReadAllText("/proc/sys/kernel/osrelease").Trim();

    public static string HostCongestionControl => File.ReadAllText("/proc/sys/net/ipv4/tcp_congestion_control").Trim();

    public static string F(double v, string fmt = "0.000") => v.ToString(fmt, CultureInfo.InvariantCulture);

    /// <summary>Runs a process to the end (bounded); returns exit code and output.</summary>
    public static (int Code, string Stdout, string Stderr) Sh(string file, IEnumerable<string> args, TimeSpan timeout, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within {timeout}");
        }

        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    public static void Write(string path, StringBuilder sb) => File.WriteAllText(path, sb.ToString());
}
