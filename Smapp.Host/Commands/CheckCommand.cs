using System.CommandLine;
using Smapp.Host.Output;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Generic;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Route;
using Smapp.Netlink.Wire;

namespace Smapp.Host.Commands;

/// <summary>One line of `smapp check`.</summary>
public sealed record CheckItem(string Name, CheckStatus Status, string Detail, string? Fix = null);

public enum CheckStatus
{
    Ok,
    Warn,
    Fail,
}

/// <summary>`smapp check`: can Smapp run here (this host or a namespace), and if not, why and how to fix it.</summary>
public static class CheckCommand
{
    public static Command Build()
    {
        var netns = CommonOptions.Netns();
        var json = CommonOptions.Json();
        var cmd = new Command("check", "Report whether Smapp can run here: MPTCP, path managers, the mptcp_pm family and its events, CAP_NET_ADMIN, netem") { netns, json };
        cmd.SetAction(r =>
        {
            NetworkNamespace ns;
            try
            {
                ns = CommonOptions.EnterNamespace(r.GetValue(netns));
            }
            catch (Exception e)
            {
                return CommonOptions.Fail(e.Message);
            }

            var items = Run(ns);
            foreach (var i in items)
            {
                Console.WriteLine(r.GetValue(json)
                    ? EventFormat.WriteJson(w =>
                    {
                        w.WriteString("check", i.Name);
                        w.WriteString("status", i.Status.ToString().ToLowerInvariant());
                        w.WriteString("detail", i.Detail);
                        if (i.Fix is not null) w.WriteString("fix", i.Fix);
                    })
                    : $"{(i.Status switch { CheckStatus.Ok => "ok  ", CheckStatus.Warn => "warn", _ => "FAIL" })}  {i.Name}: {i.Detail}{(i.Fix is null ? "" : $"\n      fix: {i.Fix}")}");
            }

            var failed = items.Count(i => i.Status == CheckStatus.Fail);
            if (!r.GetValue(json))
            {
                Console.WriteLine(failed == 0 ? "Smapp can run here." : $"Smapp cannot run here: {failed} check(s) failed.");
            }

            return failed == 0 ? 0 : 1;
        });
        return cmd;
    }

    /// <summary>Runs every check on the calling thread, which must already be in the namespace to check.</summary>
    public static List<CheckItem> Run(NetworkNamespace ns)
    {
        var items = new List<CheckItem>();
        var where = ns.Name is null ? "this host" : $"namespace {ns.Name}";
        var enabled = ReadSysctl("net.mptcp.enabled");
        items.Add(enabled switch
        {
            null => new CheckItem("mptcp", CheckStatus.Fail, "this kernel has no MPTCP (/proc/sys/net/mptcp is missing)", "use a kernel built with CONFIG_MPTCP=y (Linux 5.19+ for the userspace path manager)"),
            "1" => new CheckItem("mptcp", CheckStatus.Ok, $"enabled in {where} (net.mptcp.enabled=1)"),
            _ => new CheckItem("mptcp", CheckStatus.Fail, $"disabled in {where} (net.mptcp.enabled={enabled})", "sysctl -w net.mptcp.enabled=1"),
        });

        var available = ReadSysctl("net.mptcp.available_path_managers");
        var pathManager = ReadSysctl("net.mptcp.path_manager");
        var pmType = ReadSysctl("net.mptcp.pm_type");
        var hasUserspace = available?.Split(' ').Contains("userspace") ?? pmType is not null;
        items.Add(hasUserspace
            ? new CheckItem("path managers", CheckStatus.Ok, $"available: {available ?? "kernel, userspace (pm_type 0/1)"}")
            : new CheckItem("path managers", CheckStatus.Fail, $"no userspace path manager (available: {available ?? "none"})", "use Linux 5.19 or newer"));
        var userspace = pathManager == "userspace" || (pathManager is null && pmType == "1");
        items.Add(userspace
            ? new CheckItem("path manager in force", CheckStatus.Ok, $"userspace in {where}")
            : new CheckItem("path manager in force", CheckStatus.Warn, $"{pathManager ?? $"pm_type={pmType}"} in {where}: new connections are managed by the kernel, not by Smapp",
                $"kernel-pm/pm-mode.sh userspace{(ns.Name is null ? "" : $" --netns {ns.Name}")}  (or smapp run --switch-pm)"));

        var capEff = ReadCapEff();
        const int CapNetAdmin = 12;
        items.Add(capEff is { } caps && (caps & (1UL << CapNetAdmin)) != 0
            ? new CheckItem("CAP_NET_ADMIN", CheckStatus.Ok, "this process has it")
            : new CheckItem("CAP_NET_ADMIN", CheckStatus.Fail, "this process lacks it: it cannot subscribe to mptcp_pm events or send commands", "run as root, or grant it: setcap cap_net_admin+ep (or AmbientCapabilities=CAP_NET_ADMIN in a systemd unit)"));

        GenlFamily? family = null;
        try
        {
            using var s = NetlinkSocket.Open(Netlink.NetlinkProtocol.Generic);
            family = GenericNetlink.Resolve(s, MptcpPmNames.Family);
            items.Add(new CheckItem("mptcp_pm family", CheckStatus.Ok, $"id {family.Id}, version {family.Version}"));
        }
        catch (NetlinkException e)
        {
            items.Add(new CheckItem("mptcp_pm family", CheckStatus.Fail, $"does not resolve: {e.Message}", "use a kernel with MPTCP and its netlink path manager (CONFIG_MPTCP=y)"));
        }

        if (family is not null)
        {
            try
            {
                using var sub = MptcpEventSubscription.Open();
                items.Add(new CheckItem("mptcp_pm_events group", CheckStatus.Ok, $"id {sub.Family.Group(MptcpPmNames.EventsGroup)}, joined (receive buffer {sub.Socket.ReceiveBufferSize / 1024} KiB)"));
            }
            catch (Exception e) when (e is NetlinkException or KeyNotFoundException)
            {
                items.Add(new CheckItem("mptcp_pm_events group", CheckStatus.Fail, $"cannot join: {e.Message}", "needs CAP_NET_ADMIN"));
            }
        }

        try
        {
            using var diag = SockDiagClient.Open();
            var n = diag.Connections().Count;
            items.Add(new CheckItem("sock_diag", CheckStatus.Ok, $"MPTCP sockets visible ({n} connection{(n == 1 ? "" : "s")} now)"));
        }
        catch (NetlinkException e)
        {
            items.Add(new CheckItem("sock_diag", CheckStatus.Fail, $"cannot dump MPTCP sockets: {e.Message}", "load mptcp_diag (CONFIG_INET_MPTCP_DIAG)"));
        }

        items.Add(Qdisc.NetemAvailable(out var netem)
            ? new CheckItem("netem", CheckStatus.Ok, "available (testbeds can add delay)")
            : new CheckItem("netem", CheckStatus.Warn, $"not available ({netem}): testbeds cannot add delay with netem; Smapp itself does not need it"));
        return items;
    }

    private static string? ReadSysctl(string key)
    {
        var path = "/proc/sys/" + key.Replace('.', '/');
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }

    private static ulong? ReadCapEff()
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("CapEff:"));
        return line is null ? null : Convert.ToUInt64(line["CapEff:".Length..].Trim(), 16);
    }
}
