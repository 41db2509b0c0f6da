using System.Diagnostics;

namespace Smapp.Tests.Support;

/// <summary>
/// A `smapp run` process (the built binary) whose stdout and stderr are collected line by line; optionally started
/// through a wrapper (ip netns exec, setpriv). Disposing kills it if it still runs (by its pid, only this process).
/// </summary>
public sealed class SmappRunProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];

    public SmappRunProcess(string[] args, string[]? wrapper = null)
    {
        var command = wrapper is { Length: > 0 } ? [.. wrapper, "dotnet", Repo.SmappDll, "run", .. args] : new[] { "dotnet", Repo.SmappDll, "run" }.Concat(args).ToArray();
        var psi = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in command.Skip(1))
        {
            psi.ArgumentList.Add(a);
        }

        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => Add(e.Data);
        _process.ErrorDataReceived += (_, e) => Add(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public static SmappRunProcess Start(params string[] args) => new(args);

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
        Assert.True(Eventually.Holds(() => Output.Contains(text), timeout ?? TimeSpan.FromSeconds(30)), $"no '{text}' in:\n{Output}");

    /// <summary>Waits for the process to end by itself (generous bound) and returns its exit code, all output read.</summary>
    public int WaitForExit(TimeSpan? timeout = null)
    {
        Assert.True(_process.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)), $"smapp run did not exit:\n{Output}");
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>Sends a signal (TERM, HUP, ...) to this process and returns its exit code.</summary>
    public int Signal(string signal)
    {
        Send(signal);
        return WaitForExit(TimeSpan.FromSeconds(30));
    }

    /// <summary>Sends a signal to this process (by its pid) without waiting for anything.</summary>
    public void Send(string signal) => Shell.Run("kill", [$"-{signal}", _process.Id.ToString()], TimeSpan.FromSeconds(5));

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(10_000);
        }

        _process.Dispose();
    }
}
