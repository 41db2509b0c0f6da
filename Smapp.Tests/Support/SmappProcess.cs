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
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.ArgumentList.Add(Repo.SmappDll);
        psi.ArgumentList.Add("run");
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
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

    public void WaitFor(string text, TimeSpan? timeout = null) =>
        Assert.True(Eventually.Holds(() => Output.Contains(text), timeout ?? TimeSpan.FromSeconds(60)), $"no '{text}' in:\n{Tail()}");

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
                Shell.Run("kill", ["-CONT", _process.Id.ToString()], TimeSpan.FromSeconds(5)); // left stopped by a failed test: let it go
                _process.Kill();
                _process.WaitForExit(10_000);
            }
        }
        finally
        {
            _process.Dispose();
        }
    }
}
