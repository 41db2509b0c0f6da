using System.CommandLine;
using Smapp.Netlink;

namespace Smapp.Host.Commands;

/// <summary>Options several commands share.</summary>
internal static class CommonOptions
{
    public static Option<string?> Netns() => new("--netns")
    {
        Description = "Run in the named network namespace (as `ip netns add` made it) instead of this process's own",
    };

    public static Option<bool> Json() => new("--json") { Description = "One JSON object per line" };

    /// <summary>Moves the calling (main) thread into the namespace the user named; sockets made afterwards live there.</summary>
    public static NetworkNamespace EnterNamespace(string? name)
    {
        var ns = NetworkNamespace.FromOption(name);
        ns.EnterOnThisThread();
        return ns;
    }

    /// <summary>Cancels on Ctrl+C and SIGTERM, and wakes a poll loop through <paramref name="wakeup"/>.</summary>
    public static CancellationTokenSource CancelOnSignals(WakeupFd? wakeup = null)
    {
        var cts = new CancellationTokenSource();
        void Stop(System.Runtime.InteropServices.PosixSignalContext ctx)
        {
            ctx.Cancel = true;
            cts.Cancel();
            wakeup?.Signal();
        }

        System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, Stop);
        System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, Stop);
        return cts;
    }

    public static int Fail(string message, int code = 1)
    {
        Console.Error.WriteLine($"smapp: {message}");
        return code;
    }
}
