using System.Globalization;
using System.Text.RegularExpressions;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>
/// The scale benchmark (`Smapp.Benchmarks scale N T`) at a tiny size, as CI runs it: it opens N real MPTCP
/// connections with two subflows each, times the sampler's dump and the undecoded floor, and removes its namespaces.
/// </summary>
public class ScaleBenchmarkTests
{
    [Fact]
    public void Scale_benchmark_dumps_every_subflow_and_reports_the_tick_and_the_kernels_floor()
    {
        var r = Shell.Run("dotnet", [Repo.BenchmarksDll, "scale", "5", "3"], TimeSpan.FromMinutes(3));
        Assert.True(r.Code == 0, $"scale exited {r.Code}:\n{r.Stderr}\n{r.Stdout}");

        // Five connections, two subflows each, in every dump.
        Assert.Contains("scale: 5 connections, 10-10 subflows in each dump, 3 ticks", r.Stdout);
        var tick = Regex.Match(r.Stdout, @"sampler tick .*: median ([0-9.]+) ms");
        var floor = Regex.Match(r.Stdout, @"undecoded \(the kernel's floor, same run\): median ([0-9.]+) ms");
        var cpu = Regex.Match(r.Stdout, @"CPU per tick ([0-9.]+) ms user .* \+ ([0-9.]+) ms system");
        Assert.True(tick.Success && floor.Success && cpu.Success, r.Stdout);
        Assert.True(double.Parse(tick.Groups[1].Value, CultureInfo.InvariantCulture) > 0, r.Stdout);
        Assert.True(double.Parse(floor.Groups[1].Value, CultureInfo.InvariantCulture) > 0, r.Stdout);
        var prefix = Regex.Match(r.Stderr, @"namespaces (scale\d+)-\*").Groups[1].Value;
        Assert.False(prefix.Length == 0, $"no namespace prefix in the benchmark's output:\n{r.Stderr}");
        Assert.DoesNotContain(prefix + "-", Shell.Run("ip", ["netns", "list"], TimeSpan.FromSeconds(5)).Stdout);
    }
}
