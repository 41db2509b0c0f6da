using System.Diagnostics;

namespace Smapp.Tests.Support;

/// <summary>A `smapp run` process (the smapp built next to the tests) whose output is collected line by line.</summary>
public sealed class SmappProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];

    public SmappProcess(IReadOnlyDictionary<string, string>? env, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
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

    public SmappProcess(params string[] args)
        : this(null, args)
    {
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
        Assert.True(Eventually.Holds(() => Count(text) >= count, timeout ?? TimeSpan.FromSeconds(20)), $"no{(count > 1 ? $" {count} x" : "")} '{text}' in:\n{Output}");

    /// <summary>Sends a signal to this process only (by its pid).</summary>
    public void Signal(string signal) => Shell.Run("kill", [$"-{signal}", _process.Id.ToString()], TimeSpan.FromSeconds(5));

    /// <summary>Sends SIGTERM, as systemd would, and returns the exit code.</summary>
    public int Terminate()
    {
        Signal("TERM");
        Assert.True(_process.WaitForExit(20_000), $"smapp run did not stop on SIGTERM:\n{Output}");
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            // A failed test still stops the daemon cleanly first (it removes its status socket), then for good.
            Signal("TERM");
            if (!_process.WaitForExit(10_000))
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
        }

        _process.Dispose();
    }
}
