using System.Net.Sockets;
using System.Runtime.InteropServices;
using Smapp.Netlink;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Route;
using Smapp.Netlink.Wire;

namespace Smapp.Host.Commands;

/// <summary>
/// What `smapp run` checks before it starts, and watches while it runs: the privilege to manage the namespace, that
/// no other path manager (another Smapp, or mptcpd) manages it, and that the namespace still exists.
/// </summary>
internal static class RunGuards
{
    /// <summary>
    /// The abstract Unix socket name each Smapp binds inside the namespace it manages. Abstract names belong to the
    /// network namespace of the socket, so one name per namespace is exactly one daemon per namespace; the kernel
    /// frees the name when the daemon exits, however it exits (even kill -9): nothing stale is left behind.
    /// </summary>
    public const string LockName = "smapp-pm";

    /// <summary>
    /// Can this process manage the namespace? Tries what the daemon needs — entering the namespace and subscribing to
    /// the mptcp_pm event group, which the kernel allows only with CAP_NET_ADMIN — and returns one clear line if not.
    /// </summary>
    public static string? CheckPrivilege(NetworkNamespace ns, string where)
    {
        try
        {
            ns.Run(() =>
            {
                using var events = MptcpEventSubscription.Open(nonBlocking: true);
                return 0;
            });
            return null;
        }
        catch (InvalidOperationException e) when (e.Message.StartsWith("setns", StringComparison.Ordinal))
        {
            return $"cannot enter {where}: {e.Message}";
        }
        catch (NetlinkException e) when (e.Errno == Netlink.Errno.EPERM)
        {
            return $"no permission to manage MPTCP connections in {where}: subscribing to the mptcp_pm events was refused (EPERM). " +
                "Smapp needs CAP_NET_ADMIN: run it as root, or give the service CAP_NET_ADMIN (systemd: AmbientCapabilities=CAP_NET_ADMIN)";
        }
        catch (NetlinkException e) when (e.Errno == Netlink.Errno.ENOENT)
        {
            return $"{where} has no mptcp_pm generic netlink family: MPTCP is off or the kernel is older than 5.19";
        }
        catch (NetlinkException e)
        {
            return $"cannot open the mptcp_pm event socket in {where}: {e.Message}";
        }
    }

    /// <summary>
    /// Claims the namespace for this daemon: binds the abstract socket <see cref="LockName"/> inside it. When it is
    /// taken, returns the refusal (naming the holder's pid, from SO_PEERCRED, when it answers). Also refuses when an
    /// mptcpd process lives in the namespace: two path managers would each open subflows for every connection.
    /// </summary>
    public static (Socket? Lock, string? Refusal) Claim(NetworkNamespace ns, string where)
    {
        var mptcpd = MptcpdIn(ns);
        if (mptcpd is not null)
        {
            return (null, $"mptcpd (pid {mptcpd}) already manages {where}: two path managers would both open subflows for every connection; stop it first (systemctl stop mptcp)");
        }

        return ns.Run<(Socket?, string?)>(() =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                socket.Bind(new UnixDomainSocketEndPoint("\0" + LockName));
                socket.Listen(1);
                return (socket, null);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                socket.Dispose();
                var holder = HolderPid();
                return (null, $"another smapp{(holder is null ? "" : $" (pid {holder})")} already manages {where} (it holds the abstract socket @{LockName} there): " +
                    "two would each open subflows for every connection; stop it first");
            }
        });
    }

    /// <summary>The pid of the process listening on the lock (SO_PEERCRED of a connection to it); null if it does not answer.</summary>
    private static int? HolderPid()
    {
        try
        {
            using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            probe.Connect(new UnixDomainSocketEndPoint("\0" + LockName));
            var cred = new byte[12];  // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
            probe.GetRawSocketOption(1 /* SOL_SOCKET */, 17 /* SO_PEERCRED */, cred);
            var pid = BitConverter.ToInt32(cred, 0);
            return pid > 0 ? pid : null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    /// <summary>The pid of an mptcpd process whose network namespace is <paramref name="ns"/>, if any.</summary>
    public static int? MptcpdIn(NetworkNamespace ns)
    {
        var target = NamespaceId(ns);
        if (target is null)
        {
            return null;
        }

        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(dir);
            if (!int.TryParse(name, out var pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(dir, "comm")).Trim() == "mptcpd"
                    && new FileInfo(Path.Combine(dir, "ns", "net")).LinkTarget == target)
                {
                    return pid;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process exited meanwhile, or is not ours to look at.
            }
        }

        return null;
    }

    /// <summary>"net:[4026532...]": the namespace's identity, as /proc/PID/ns/net links show it.</summary>
    public static string? NamespaceId(NetworkNamespace ns)
    {
        try
        {
            return ns.Run(() => new FileInfo("/proc/thread-self/ns/net").LinkTarget);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The names of the namespace's interfaces now (for the warnings about configured interfaces it lacks).</summary>
    public static IReadOnlyCollection<string> InterfaceNames(NetworkNamespace ns) => ns.Run(() =>
    {
        using var socket = NetlinkSocket.Open(NetlinkProtocol.Route);
        return RtnetlinkDump.Links(socket).Select(l => l.Name).OfType<string>().ToHashSet();
    });

    /// <summary>
    /// Calls <paramref name="gone"/> once when the named namespace is deleted (`ip netns del`): its file in /run/netns
    /// is unlinked, or replaced by another namespace of the same name. The namespace object itself lives on while the
    /// daemon's threads are in it, so its interfaces do not go away: the file is what tells. inotify (through
    /// FileSystemWatcher) wakes us on the unlink at no cost while idle; a slow poll (every 30 s, so that an idle daemon hardly wakes for it) backs it up in case
    /// an event is missed (a watcher error, a /run/netns mounted over).
    /// </summary>
    public static IDisposable WatchDeletion(NetworkNamespace ns, Action<string> gone)
    {
        if (ns.Name is null)
        {
            return new Disposables([]);
        }

        var path = $"/run/netns/{ns.Name}";
        var inode = Inode(path);
        var fired = 0;
        void Check()
        {
            var now = Inode(path);
            if (now == inode)
            {
                return;
            }

            if (Interlocked.Exchange(ref fired, 1) == 0)
            {
                gone(now is null
                    ? $"namespace {ns.Name} was deleted ({path} is gone): its connections can no longer be managed"
                    : $"namespace {ns.Name} was replaced ({path} now names another namespace): its connections can no longer be managed");
            }
        }

        var watcher = new FileSystemWatcher("/run/netns", ns.Name) { NotifyFilter = NotifyFilters.FileName };
        watcher.Deleted += (_, _) => Check();
        watcher.Renamed += (_, _) => Check();
        watcher.Created += (_, _) => Check();
        watcher.EnableRaisingEvents = true;
        var poll = new Timer(_ => Check(), null, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30));
        return new Disposables([watcher, poll]);
    }

    private static ulong? Inode(string path)
    {
        try
        {
            // The bind mount's inode is the namespace's (nsfs); a deleted file has none.
            return File.Exists(path) ? Stat(path) : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static unsafe ulong? Stat(string path)
    {
        Tmds.Linux.stat st;
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
        {
            return Tmds.Linux.LibC.stat(p, &st) == 0 ? st.st_ino : null;
        }
    }

    private sealed class Disposables(IDisposable[] items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var d in items)
            {
                d.Dispose();
            }
        }
    }
}
