using System.Diagnostics;

namespace Smapp.Tests.Support;

/// <summary>
/// A `smapp` process of its own (the built binary; `smapp run` unless another command is asked for), so that it can be
/// stopped, continued and killed with real signals; its stdout and stderr collected line by line. The one wrapper for
/// every test that runs smapp as a process: start, output capture, bounded waits and stop by PID live here only.
/// Only this process is ever signalled, by its PID.
/// </summary>
public sealed class SmappProcess : IDisposable
{
    /// <summary>The default bound of a wait for output: a .NET process starting on a loaded 2-core machine included.</summary>
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly string _what;
    private bool _disposed;

    /// <summary>`smapp run ARGS`.</summary>
    public SmappProcess(params string[] args)
        : this(null, args)
    {
    }

    /// <summary>`smapp run ARGS` with <paramref name="env"/> added to its environment (the test's own NOTIFY_SOCKET, JOURNAL_STREAM: never inherited).</summary>
    public SmappProcess(IReadOnlyDictionary<string, string>? env, params string[] args)
        : this(env, ["run", .. args], null)
    {
    }

    private SmappProcess(IReadOnlyDictionary<string, string>? env, string[] smappArgs, string[]? wrapper)
    {
        string[] command = [.. wrapper ?? [], "dotnet", Repo.SmappDll, .. smappArgs];
        _what = $"smapp {smappArgs.FirstOrDefault()}";
        var psi = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in command.Skip(1))
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment.Remove("NOTIFY_SOCKET");
        psi.Environment.Remove("JOURNAL_STREAM");
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        _process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {string.Join(' ', command)}");
        _process.OutputDataReceived += (_, e) => Add(e.Data);
        _process.ErrorDataReceived += (_, e) => Add(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>`smapp run ARGS`.</summary>
    public static SmappProcess Start(params string[] args) => new(args);

    /// <summary>`smapp run ARGS` started through a wrapper command (ip netns exec, setpriv).</summary>
    public static SmappProcess Wrapped(string[] wrapper, params string[] args) => new(null, ["run", .. args], wrapper);

    /// <summary>Any other smapp command as a process (`monitor`, `delayline`, ...): <paramref name="args"/> start with the command's name.</summary>
    public static SmappProcess Command(params string[] args) => new(null, args, null);

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public string Output => string.Join('\n', Lines);

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

    /// <summary>Waits (bounded, <see cref="DefaultWait"/> unless told) until <paramref name="count"/> output lines contain <paramref name="text"/>.</summary>
    public void WaitFor(string text, TimeSpan? timeout = null, int count = 1) =>
        Assert.True(Eventually.Holds(() => Count(text) >= count, timeout ?? DefaultWait), $"no{(count > 1 ? $" {count} x" : "")} '{text}' in:\n{Tail()}");

    /// <summary>The last lines of output (for failure messages).</summary>
    public string Tail(int lines = 60)
    {
        lock (_lines)
        {
            return string.Join('\n', _lines.Skip(Math.Max(0, _lines.Count - lines)));
        }
    }

    /// <summary>Sends a signal (STOP, CONT, HUP, TERM, KILL) to this process only, without waiting for anything.</summary>
    public void Signal(string name)
    {
        var r = Shell.Run("kill", [$"-{name}", _process.Id.ToString()], TimeSpan.FromSeconds(10));
        Assert.True(r.Code == 0, $"kill -{name} {_process.Id} failed: {r.Stderr}");
    }

    /// <summary>Sends SIGTERM, as systemd would, and returns the exit code (bounded wait).</summary>
    public int Terminate() => SignalAndWait("TERM");

    /// <summary>Sends a signal that ends the process (TERM, HUP, ...) and returns its exit code (bounded wait).</summary>
    public int SignalAndWait(string name)
    {
        Signal(name);
        return WaitForExit(TimeSpan.FromSeconds(30));
    }

    /// <summary>Waits for the process to exit by itself (bounded, <see cref="DefaultWait"/> unless told) and returns its exit code, all output read.</summary>
    public int WaitForExit(TimeSpan? timeout = null)
    {
        var bound = timeout ?? DefaultWait;
        Assert.True(_process.WaitForExit(bound), $"{_what} (pid {Pid}) did not exit within {bound.TotalSeconds:0} s:\n{Tail()}");
        // The output read to its end, bounded too: a child left holding the pipes must not hang the test.
        Assert.True(_process.WaitForExitAsync().Wait(TimeSpan.FromSeconds(30)), $"{_what} (pid {Pid}) exited, but its output did not end:\n{Tail()}");
        return _process.ExitCode;
    }

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
