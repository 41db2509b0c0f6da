using System.Runtime.InteropServices;
using Smapp.Netlink.Native;

namespace Smapp.Netlink;

/// <summary>
/// A named network namespace (/run/netns/NAME, as `ip netns add` makes them). A socket belongs to the namespace
/// of the thread that created it, for its whole life; so sockets are created on a thread that has entered the
/// namespace, and that thread is never a thread-pool thread.
/// </summary>
public sealed class NetworkNamespace
{
    private NetworkNamespace(string? name) => Name = name;

    /// <summary>The namespace the process started in (no setns).</summary>
    public static NetworkNamespace Current { get; } = new(null);

    public string? Name { get; }

    public bool IsCurrent => Name is null;

    public static NetworkNamespace Named(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Contains('/'))
        {
            throw new ArgumentException($"'{name}' is not a network namespace name");
        }

        if (!File.Exists(PathOf(name)))
        {
            throw new InvalidOperationException($"no network namespace named '{name}' ({PathOf(name)} does not exist; see `ip netns list`)");
        }

        return new NetworkNamespace(name);
    }

    public static NetworkNamespace FromOption(string? name) => name is null ? Current : Named(name);

    private static string PathOf(string name) => $"/run/netns/{name}";

    /// <summary>Moves the calling thread into this namespace (setns). Use on a thread you own.</summary>
    public void EnterOnThisThread()
    {
        if (Name is null)
        {
            return;
        }

        var fd = Libc.open(PathOf(Name), Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            throw new InvalidOperationException($"cannot open {PathOf(Name)}: {Errno.Name(Marshal.GetLastPInvokeError())}");
        }

        try
        {
            if (Libc.setns(fd, Libc.CLONE_NEWNET) < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new InvalidOperationException($"setns({Name}): {Errno.Name(errno)} ({Errno.Describe(errno)}){(errno == Errno.EPERM ? " — entering a namespace needs CAP_SYS_ADMIN (run as root)" : "")}");
            }
        }
        finally
        {
            Libc.close(fd);
        }
    }

    /// <summary>Runs <paramref name="work"/> on a fresh thread inside this namespace and returns its result.</summary>
    public T Run<T>(Func<T> work)
    {
        if (Name is null)
        {
            return work();
        }

        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                EnterOnThisThread();
                result = work();
            }
            catch (Exception e)
            {
                failure = e;
            }
        })
        {
            IsBackground = true,
            Name = $"netns-{Name}",
        };
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }

        return result;
    }

    /// <summary>Reads a sysctl of this namespace (net.mptcp.pm_type → /proc/sys/net/mptcp/pm_type); null when absent.</summary>
    public string? ReadSysctl(string key) => Run(() =>
    {
        var path = "/proc/sys/" + key.Replace('.', '/');
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    });

    /// <summary>Writes a sysctl of this namespace.</summary>
    public void WriteSysctl(string key, string value) => Run(() =>
    {
        File.WriteAllText("/proc/sys/" + key.Replace('.', '/'), value);
        return 0;
    });

    public override string ToString() => Name ?? "(current)";
}
