using System.Diagnostics;

namespace Smapp.Tests.Support;

/// <summary>
/// `smapp run` as a process of its own (so that it can be stopped, continued and killed with real signals), its output
/// collected line by line. Only this process is ever signalled, by its PID.
/// </summary>
public sealed class SmappProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];

    public SmappProcess(params string[] args)
        : this(null, args)
    {
    }

    /// <summary>With <paramref name="env"/> added to its environment (the test's own NOTIFY_SOCKET, JOURNAL_STREAM: never inherited).</summary>
    public SmappProcess(IReadOnlyDictionary<string, string>? env, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.ArgumentList.Add(Repo.SmappDll);
        psi.ArgumentList.Add("run");
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment.Remove("NOTIFY_SOCKET");
        psi.Environment.Remove("JOURNAL_STREAM");
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => Add(e.Data);
        _process.ErrorDataReceived += (_, e) => Add(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

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

    /// <summary>How many output lines contain <paramref name="text"/>.</summary>
    public int Count(string text)
    {
        lock (_lines)
        {
            return _lines.Count(l => l.Contains(text));
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

    public void WaitFor(string text, TimeSpan? timeout = null, int count = 1) =>
        Assert.True(Eventually.Holds(() => Count(text) >= count, timeout ?? TimeSpan.FromSeconds(60)), $"no{(count > 1 ? $" {count} x" : "")} '{text}' in:\n{Tail()}");

    /// <summary>The last lines of output (for failure messages).</summary>
    public string Tail(int lines = 60)
    {
        lock (_lines)
        {
            return string.Join('\n', _lines.Skip(Math.Max(0, _lines.Count - lines)));
        }
    }

    /// <summary>Sends a signal (STOP, CONT, TERM, KILL) to this process only.</summary>
    public void Signal(string name)
    {
        var r = Shell.Run("kill", [$"-{name}", _process.Id.ToString()], TimeSpan.FromSeconds(10));
        Assert.True(r.Code == 0, $"kill -{name} {_process.Id} failed: {r.Stderr}");
    }

    /// <summary>Sends SIGTERM, as systemd would, and returns the exit code.</summary>
    public int Terminate()
    {
        Signal("TERM");
        return WaitForExit(TimeSpan.FromSeconds(20));
    }

    /// <summary>Waits for the process to exit (bounded) and returns its exit code.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        Assert.True(_process.WaitForExit(timeout), $"smapp run (pid {Pid}) did not exit within {timeout.TotalSeconds:0} s:\n{Tail()}");
        _process.WaitForExit(); // the output is read to its end
        return _process.ExitCode;
    }

    private bool _disposed;

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            if (!_process.HasExited)
            {
                // Left stopped by a failed test: let it go; then a clean stop first (it removes its status socket), then for good.
                Shell.Run("kill", ["-CONT", _process.Id.ToString()], TimeSpan.FromSeconds(5));
                Shell.Run("kill", ["-TERM", _process.Id.ToString()], TimeSpan.FromSeconds(5));
                if (!_process.WaitForExit(10_000))
                {
                    _process.Kill();
                    _process.WaitForExit(10_000);
                }
            }
        }
        finally
        {
            _process.Dispose();
        }
    }
}
