using Smapp.Netlink;

namespace Smapp.Host.Configuration;

/// <summary>Reads and switches the MPTCP path manager of a namespace (net.mptcp.path_manager, or pm_type on older kernels).</summary>
public static class PathManagerMode
{
    /// <summary>"userspace" or "kernel" (or null when the kernel has no MPTCP).</summary>
    public static string? Read(NetworkNamespace ns)
    {
        var pm = ns.ReadSysctl("net.mptcp.path_manager");
        if (pm is not null)
        {
            return pm;
        }

        return ns.ReadSysctl("net.mptcp.pm_type") switch
        {
            "1" => "userspace",
            "0" => "kernel",
            null => null,
            var other => $"pm_type={other}",
        };
    }

    public static void Set(NetworkNamespace ns, string mode)
    {
        if (ns.ReadSysctl("net.mptcp.path_manager") is not null)
        {
            ns.WriteSysctl("net.mptcp.path_manager", mode);
        }
        else
        {
            ns.WriteSysctl("net.mptcp.pm_type", mode == "userspace" ? "1" : "0");
        }
    }
}
