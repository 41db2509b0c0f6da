using System.Diagnostics;
using System.Globalization;
using System.Net;
using Smapp.Netlink;
using Smapp.Netlink.Diag;

namespace Smapp.Tests.Support;

/// <summary>
/// What the fault tests share: bench/tools' C load generator and sink (built once), background processes in a
/// namespace, the kernel's count of dropped netlink messages per process, and the kernel's view of the subflows.
/// </summary>
public static class FaultTools
{
    private static readonly Lazy<string> BuildDir = new(() =>
    {
        var dir = Directory.CreateTempSubdirectory("smapp-fault-tools-").FullName;
        foreach (var tool in new[] { "loadgen", "sink" })
        {
            var r = Shell.Run("gcc", ["-O2", "-Wall", "-o", Path.Combine(dir, tool), Path.Combine(Repo.Root, "bench", "tools", tool + ".c")], TimeSpan.FromMinutes(2));
            if (r.Code != 0)
            {
                throw new InvalidOperationException($"gcc {tool}.c failed ({r.Code}): {r.Stderr}");
            }
        }

        return dir;
    });

    public static string Tool(string name) => Path.Combine(BuildDir.Value, name);

    /// <summary>An integer from the environment (for the documented full-size runs), else the CI size.</summary>
    public static int Size(string variable, int ciSize) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } v ? int.Parse(v, CultureInfo.InvariantCulture) : ciSize;

    /// <summary>The key=value pairs of the load generator's one line of output.</summary>
    public static Dictionary<string, long> KeyValues(string line) =>
        line.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(kv => kv.Split('=', 2))
            .Where(p => p.Length == 2 && long.TryParse(p[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
            .ToDictionary(p => p[0], p => long.Parse(p[1], CultureInfo.InvariantCulture));

    /// <summary>
    /// The Drops column of /proc/net/netlink (as the namespace sees it) summed over the netlink sockets that process
    /// <paramref name="pid"/> holds: messages the kernel could not queue to it.
    /// </summary>
    public static long NetlinkDrops(string ns, int pid, int? protocol = null)
    {
        var inodes = new HashSet<string>();
        foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith("socket:[", StringComparison.Ordinal))
                {
                    inodes.Add(target[8..^1]);
                }
            }
            catch (IOException)
            {
                // closed meanwhile
            }
        }

        var table = Shell.Run("ip", ["netns", "exec", ns, "cat", "/proc/net/netlink"], TimeSpan.FromSeconds(10)).Stdout;
        long drops = 0;
        foreach (var line in table.Split('\n').Skip(1))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 10 && inodes.Contains(f[9]) && (protocol is null || f[1] == protocol.Value.ToString(CultureInfo.InvariantCulture)))
            {
                drops += long.Parse(f[8], CultureInfo.InvariantCulture);
            }
        }

        return drops;
    }

    /// <summary>Every MPTCP subflow the kernel has in <paramref name="ns"/>, grouped by connection token.</summary>
    public static Dictionary<uint, List<SubflowDiag>> SubflowsByToken(string ns) => NetworkNamespace.Named(ns).Run(() =>
    {
        using var d = SockDiagClient.Open();
        return d.Subflows().GroupBy(s => s.Token).ToDictionary(g => g.Key, g => g.ToList());
    });

    /// <summary>The subflows the kernel holds for its connection: up, or being opened (SYN_SENT, SYN_RECV).</summary>
    public static bool Held(SubflowDiag s) => s.TcpState is 1 or 2 or 3;

    public static bool From(SubflowDiag s, IPAddress local) => Smapp.Policy.AddressForm.Same(s.Id.Source, local);
}

/// <summary>A process started in a namespace (`ip netns exec`), its output collected; killed by PID when disposed.</summary>
public sealed class NsProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];

    public NsProcess(string ns, string file, params string[] args)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "netns", "exec", ns, file }.Concat(args))
        {
            psi.ArgumentList.Add(a);
        }

        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => Add(e.Data);
        _process.ErrorDataReceived += (_, e) => Add(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        Name = $"{Path.GetFileName(file)} {string.Join(' ', args)}";
    }

    public string Name { get; }

    public string Output
    {
        get
        {
            lock (_lines)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    public string LastLine
    {
        get
        {
            lock (_lines)
            {
                return _lines.LastOrDefault() ?? "";
            }
        }
    }

    private void Add(string? line)
    {
        if (line is not null)
        {
            lock (_lines)
            {
                _lines.Add(line);
            }
        }
    }

    public void WaitFor(string text, TimeSpan timeout) =>
        Assert.True(Eventually.Holds(() => Output.Contains(text), timeout), $"{Name}: no '{text}' in:\n{Output}");

    public bool HasExited => _process.HasExited;

    public int WaitForExit(TimeSpan timeout)
    {
        Assert.True(_process.WaitForExit(timeout), $"{Name} did not exit within {timeout.TotalSeconds:0} s:\n{Output}");
        Assert.True(_process.WaitForExitAsync().Wait(timeout), $"{Name} exited, but its output did not end within {timeout.TotalSeconds:0} s:\n{Output}"); // bounded, a child may hold the pipes
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }

        _process.Dispose();
    }
}
