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

    /// <summary>
    /// Parses and runs the command line. A usage error (an unknown option, a missing or bad argument) prints one
    /// "smapp: ..." line per problem and exits 2 before the command runs; nothing reaches the kernel. An exception no
    /// command handled is one line too, never a stack trace (SMAPP_STACK_TRACES=1 shows it).
    /// </summary>
    public static int Invoke(RootCommand root, string[] args)
    {
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
            {
                Console.Error.WriteLine($"smapp: {error.Message}");
            }

            Console.Error.WriteLine($"smapp: see '{string.Join(' ', ["smapp", .. CommandPath(parsed.CommandResult.Command, root)])} --help'");
            return 2;
        }

        try
        {
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            var inner = e is AggregateException { InnerExceptions.Count: 1 } a ? a.InnerExceptions[0] : e;
            if (inner is FormatException)
            {
                return Fail(inner.Message, 2);
            }

            Fail($"{inner.GetType().Name}: {inner.Message}");
            if (Environment.GetEnvironmentVariable("SMAPP_STACK_TRACES") == "1")
            {
                Console.Error.WriteLine(inner);
            }

            return 1;
        }
    }

    private static IEnumerable<string> CommandPath(Command command, RootCommand root)
    {
        var names = new List<string>();
        for (var c = command; c is not null && c != root; c = c.Parents.OfType<Command>().FirstOrDefault())
        {
            names.Insert(0, c.Name);
        }

        return names;
    }

    public static int Fail(string message, int code = 1)
    {
        Console.Error.WriteLine($"smapp: {message}");
        return code;
    }
}
