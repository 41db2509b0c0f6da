using System.Diagnostics;
using System.Net;

namespace Smapp.Tests.Support;

/// <summary>
/// A namespace testbed brought up by kernel-pm/testbed.sh under a per-run unique prefix, and removed on dispose.
/// Fails loudly (throws) when it cannot be brought up: tests that need the kernel never skip.
/// </summary>
public sealed class Testbed : IDisposable
{
    private static int _counter;
    private readonly Dictionary<string, string> _info;

    private Testbed(string prefix, Dictionary<string, string> info)
    {
        Prefix = prefix;
        _info = info;
    }

    public string Prefix { get; }

    public string ClientNs => _info["client_ns"];

    public string ServerNs => _info["server_ns"];

    public string RouterNs => _info["router_ns"];

    public IPAddress ClientAddress1 => IPAddress.Parse(_info["client_addr1"]);

    public IPAddress ClientAddress2 => IPAddress.Parse(_info["client_addr2"]);

    public IPAddress ServerAddress => IPAddress.Parse(_info["server_addr"]);

    public string this[string key] => _info[key];

    /// <summary>A prefix unique to this process and call: t + pid + counter, at most 12 characters.</summary>
    public static string NewPrefix(string tag = "t") => $"{tag}{Environment.ProcessId % 10000}x{Interlocked.Increment(ref _counter)}";

    /// <summary>The testbed's delay lines (--delay without netem) run the smapp built next to the tests.</summary>
    private static Dictionary<string, string> Env => new() { ["SMAPP_DLL"] = Repo.SmappDll };

    public static Testbed Up(string topology = "two-path", params string[] options)
    {
        var prefix = NewPrefix();
        var (code, stdout, stderr) = Shell.Run(Repo.Testbed, ["up", topology, prefix, .. options], TimeSpan.FromSeconds(60), Env);
        if (code != 0)
        {
            Shell.Run(Repo.Testbed, ["down", prefix], TimeSpan.FromSeconds(30));
            throw new InvalidOperationException($"testbed.sh up {topology} {prefix} failed ({code}): {stderr}{stdout}");
        }

        var info = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => l.Contains('='))
            .ToDictionary(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 1)..].Trim());
        return new Testbed(prefix, info);
    }

    /// <summary>Runs `ip netns exec NS cmd args` and throws on failure.</summary>
    public string Exec(string ns, params string[] command)
    {
        var (code, stdout, stderr) = Shell.Run("ip", ["netns", "exec", ns, .. command], TimeSpan.FromSeconds(30));
        return code == 0 ? stdout : throw new InvalidOperationException($"{string.Join(' ', command)} in {ns} failed ({code}): {stderr}");
    }

    /// <summary>Runs `ip -n NS args` and throws on failure.</summary>
    public string Ip(string ns, params string[] args)
    {
        var (code, stdout, stderr) = Shell.Run("ip", ["-n", ns, .. args], TimeSpan.FromSeconds(30));
        return code == 0 ? stdout : throw new InvalidOperationException($"ip -n {ns} {string.Join(' ', args)} failed ({code}): {stderr}");
    }

    public void Set(string link, params string[] options)
    {
        var (code, _, stderr) = Shell.Run(Repo.Testbed, ["set", Prefix, link, .. options], TimeSpan.FromSeconds(60), Env);
        if (code != 0)
        {
            throw new InvalidOperationException($"testbed.sh set {link} failed: {stderr}");
        }
    }

    public void Dispose() => Shell.Run(Repo.Testbed, ["down", Prefix], TimeSpan.FromSeconds(60));
}

public static class Shell
{
    public static (int Code, string Stdout, string Stderr) Run(string file, IEnumerable<string> args, TimeSpan timeout, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        if (env is not null)
        {
            foreach (var (k, v) in env)
            {
                psi.Environment[k] = v;
            }
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within {timeout}");
        }

        // The output read to its end, bounded too: a background child left holding the pipes must not hang the test.
        if (!Task.WhenAll(stdout, stderr).Wait(timeout))
        {
            throw new TimeoutException($"{file} {string.Join(' ', args)} exited, but its output was not closed within {timeout} (a child still holds it)");
        }

        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs the smapp CLI built next to the tests.</summary>
    public static (int Code, string Stdout, string Stderr) Smapp(params string[] args) =>
        Run("dotnet", [Repo.SmappDll, .. args], TimeSpan.FromSeconds(60));
}
