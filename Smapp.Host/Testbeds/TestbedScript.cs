using System.Diagnostics;

namespace Smapp.Host.Testbeds;

/// <summary>kernel-pm/testbed.sh as shipped next to the executable, for the demo and the benchmarks.</summary>
public static class TestbedScript
{
    public static string Path => System.IO.Path.Combine(AppContext.BaseDirectory, "kernel-pm", "testbed.sh");

    /// <summary>Runs the script with <paramref name="args"/> (up, down, set, state …) and returns its exit code and output.</summary>
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var psi = new ProcessStartInfo(Path) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {Path}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Like <see cref="Run"/>, but a failure throws with the script's own message.</summary>
    public static string RunOrThrow(params string[] args)
    {
        var (code, stdout, stderr) = Run(args);
        return code == 0 ? stdout : throw new InvalidOperationException($"testbed.sh {string.Join(' ', args)}: {stderr}{stdout}");
    }
}
