using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Smapp.Host.Output;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Wire;

namespace Smapp.Host.Commands;

/// <summary>
/// `smapp ctl`: the userspace path manager by hand (announce, remove, subflow add / del / backup, list), and the
/// in-kernel path manager's endpoints and limits. A refused command prints the errno name and the kernel's text.
/// </summary>
internal static class CtlCommand
{
    public static Command Build()
    {
        var ctl = new Command("ctl", "Drive the MPTCP path manager by hand: announce, remove, subflow add/del/backup, list; endpoints and limits of the in-kernel one");
        ctl.Subcommands.Add(Announce());
        ctl.Subcommands.Add(Remove());
        var subflow = new Command("subflow", "Create, destroy or re-prioritise one subflow of a connection (userspace path manager)");
        subflow.Subcommands.Add(SubflowAdd());
        subflow.Subcommands.Add(SubflowDel());
        subflow.Subcommands.Add(SubflowBackup());
        ctl.Subcommands.Add(subflow);
        ctl.Subcommands.Add(List());
        ctl.Subcommands.Add(Endpoint());
        ctl.Subcommands.Add(Limits());
        return ctl;
    }

    private static Option<uint> TokenOption() => Parse.TokenOption();

    private static Command Announce()
    {
        var token = TokenOption();
        var addr = Parse.EndpointOption("--addr", "Local address to advertise: ADDR or ADDR:PORT", port: null);
        var id = Parse.IdOption("--id", "Local address id (1-255) the peer will know it by", min: 1);
        var listen = new Option<bool>("--listen") { Description = "Hold an MPTCP listener on ADDR:PORT until interrupted, then withdraw the address (a peer's join to an announced port nothing listens on is reset)" };
        var netns = CommonOptions.Netns();
        var cmd = new Command("announce", "Advertise a local address to the peer of one connection (ADD_ADDR)") { token, addr, id, listen, netns };
        cmd.SetAction(r => Guard(r.GetValue(netns), () =>
        {
            var t = r.GetValue(token);
            var (a, port) = r.GetValue(addr)!;
            var idv = r.GetValue(id);
            if (r.GetValue(listen) && port is null)
            {
                throw new UsageException("--addr", a.ToString(), "has no port, and --listen needs one (ADDR:PORT)");
            }

            Socket? listener = r.GetValue(listen) ? Listen(a, port!.Value) : null;
            using var pm = MptcpPmClient.Open();
            pm.Announce(t, new MptcpAddress(a, idv, port));
            Console.WriteLine($"announced {EventFormat.Endpoint(a, port)} as id {idv} on token {t:x8}");
            if (listener is null)
            {
                if (port is not null)
                {
                    Console.Error.WriteLine($"smapp: note: nothing is known to listen on {EventFormat.Endpoint(a, port)}: the peer's join there will be reset unless an MPTCP socket listens (use --listen)");
                }

                return 0;
            }

            using (listener)
            {
                Console.WriteLine($"listening on {EventFormat.Endpoint(a, port)}; Ctrl+C to withdraw");
                using var cts = CommonOptions.CancelOnSignals();
                cts.Token.WaitHandle.WaitOne();
                pm.Remove(t, idv);
                Console.WriteLine($"removed id {idv}");
            }

            return 0;
        }));
        return cmd;
    }

    private static Socket Listen(IPAddress a, ushort port)
    {
        var s = MptcpSocket.Create(a.AddressFamily);
        s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        s.Bind(new IPEndPoint(a, port));
        s.Listen(64);
        return s;
    }

    private static Command Remove()
    {
        var token = TokenOption();
        var id = Parse.IdOption("--id", "Local address id to withdraw (0: the initial subflow's address, which the kernel lets a userspace PM withdraw)", min: 0);
        var netns = CommonOptions.Netns();
        var cmd = new Command("remove", "Withdraw an advertised local address (RM_ADDR); the peer closes its subflows to it") { token, id, netns };
        cmd.SetAction(r => Guard(r.GetValue(netns), () =>
        {
            var t = r.GetValue(token);
            using var pm = MptcpPmClient.Open();
            pm.Remove(t, r.GetValue(id));
            Console.WriteLine($"removed id {r.GetValue(id)} on token {t:x8}");
            return 0;
        }));
        return cmd;
    }

    private static Command SubflowAdd()
    {
        var token = TokenOption();
        var local = Parse.EndpointOption("--local", "Local address (the kernel picks the source port)", port: false);
        var localId = Parse.IdOption("--local-id", "Local address id: 0 for the initial subflow's address, another (1-255) for each other address", min: 0);
        var remote = Parse.EndpointOption("--remote", "Remote ADDR:PORT", port: true);
        var backup = new Option<bool>("--backup") { Description = "Open the subflow as a backup (MP_JOIN with B=1)" };
        var ifIndex = Parse.CountOption("--if-idx", "Bind the subflow to this interface index", min: 1, unit: "an interface index");
        var netns = CommonOptions.Netns();
        var cmd = new Command("add", "Open a subflow from a local address to a remote endpoint (SUBFLOW_CREATE)") { token, local, localId, remote, backup, ifIndex, netns };
        cmd.SetAction(r => Guard(r.GetValue(netns), () =>
        {
            var t = r.GetValue(token);
            var la = r.GetValue(local)!.Address;
            var (ra, rp) = r.GetValue(remote)!;
            Parse.SameFamily("--local", la, "--remote", ra);

            using var pm = MptcpPmClient.Open();
            var l = new MptcpAddress(la, r.GetValue(localId), null, r.GetValue(backup) ? MptcpAddrFlags.Backup : MptcpAddrFlags.None, r.GetValue(ifIndex));
            pm.SubflowCreate(t, l, new MptcpAddress(ra, null, rp));
            Console.WriteLine($"subflow requested {la} (id {l.Id}) -> {EventFormat.Endpoint(ra, rp)} on token {t:x8}{(r.GetValue(backup) ? " as backup" : "")}");
            return 0;
        }));
        return cmd;
    }

    private static Command SubflowDel()
    {
        var token = TokenOption();
        var local = Parse.EndpointOption("--local", "Local ADDR:PORT of the subflow", port: true);
        var remote = Parse.EndpointOption("--remote", "Remote ADDR:PORT of the subflow", port: true);
        var netns = CommonOptions.Netns();
        var cmd = new Command("del", "Close one subflow, named by its 4-tuple (SUBFLOW_DESTROY)") { token, local, remote, netns };
        cmd.SetAction(r => Guard(r.GetValue(netns), () =>
        {
            var t = r.GetValue(token);
            var (la, lp) = r.GetValue(local)!;
            var (ra, rp) = r.GetValue(remote)!;
            Parse.SameFamily("--local", la, "--remote", ra);

            using var pm = MptcpPmClient.Open();
            pm.SubflowDestroy(t, new MptcpAddress(la, null, lp), new MptcpAddress(ra, null, rp));
            Console.WriteLine($"subflow {EventFormat.Endpoint(la, lp)} -> {EventFormat.Endpoint(ra, rp)} destroyed on token {t:x8}");
            return 0;
        }));
        return cmd;
    }

    private static Command SubflowBackup()
    {
        var state = new Argument<string>("state") { Description = "on | off" };
        state.AcceptOnlyFromAmong("on", "off");
        var token = TokenOption();
        var local = Parse.EndpointOption("--local", "Local ADDR[:PORT] of the subflow", port: null);
        var remote = Parse.EndpointOption("--remote", "Remote ADDR:PORT of the subflow", port: true);
        var netns = CommonOptions.Netns();
        var cmd = new Command("backup", "Mark a subflow backup or not (SET_FLAGS; the peer gets MP_PRIO)") { state, token, local, remote, netns };
        cmd.SetAction(r => Guard(r.GetValue(netns), () =>
        {
            var t = r.GetValue(token);
            var (la, lp) = r.GetValue(local)!;
            var (ra, rp) = r.GetValue(remote)!;
            Parse.SameFamily("--local", la, "--remote", ra);
            var on = r.GetValue(state) == "on";
            using var pm = MptcpPmClient.Open();
            pm.SetFlags(t, new MptcpAddress(la, null, lp, on ? MptcpAddrFlags.Backup : MptcpAddrFlags.None), new MptcpAddress(ra, null, rp));
            Console.WriteLine($"subflow {EventFormat.Endpoint(la, lp)} -> {EventFormat.Endpoint(ra, rp)} backup {(on ? "on" : "off")} on token {t:x8}");
            return 0;
        }));
        return cmd;
    }

    private static Command List()
    {
        var json = CommonOptions.Json();
        var netns = CommonOptions.Netns();
        var cmd = new Command("list", "Every MPTCP connection with its token and subflows and their tcp_info figures (sock_diag)") { json, netns };
        cmd.SetAction(r => Guard(r.GetValue(netns), () =>
        {
            using var diag = SockDiagClient.Open();
            var conns = diag.Connections();
            var subflows = diag.Subflows().GroupBy(s => s.Token).ToDictionary(g => g.Key, g => g.ToList());
            var tokens = conns.Select(c => c.Info.Token).Concat(subflows.Keys).Distinct().ToList();
            foreach (var token in tokens)
            {
                var conn = conns.FirstOrDefault(c => c.Info.Token == token);
                var sfs = subflows.GetValueOrDefault(token) ?? [];
                Console.WriteLine(r.GetValue(json) ? ListFormat.Json(token, conn, sfs) : ListFormat.Human(token, conn, sfs));
            }

            if (!r.GetValue(json) && tokens.Count == 0)
            {
                Console.WriteLine("no MPTCP connections");
            }

            return 0;
        }));
        return cmd;
    }

    private static Command Endpoint()
    {
        var ep = new Command("endpoint", "The in-kernel path manager's endpoints (what `ip mptcp endpoint` manages)");
        var addr = Parse.EndpointOption("--addr", "ADDR or ADDR:PORT", port: null);
        var id = Parse.OptionalIdOption("--id", "Endpoint id, 1-255 (the kernel picks one when absent)", min: 1);
        var flags = new Option<string[]>("--flags") { Description = "signal, subflow, backup, fullmesh", AllowMultipleArgumentsPerToken = true };
        var dev = Parse.CountOption("--if-idx", "Interface index", min: 1, unit: "an interface index");
        var netns = CommonOptions.Netns();
        var add = new Command("add", "Add an endpoint (ADD_ADDR)") { addr, id, flags, dev, netns };
        add.SetAction(r => Guard(r.GetValue(netns), () =>
        {
            var (a, p) = r.GetValue(addr)!;
            var f = MptcpAddrFlags.None;
            foreach (var name in r.GetValue(flags) ?? [])
            {
                f |= name.ToLowerInvariant() is "signal" or "subflow" or "backup" or "fullmesh" && Enum.TryParse<MptcpAddrFlags>(name, ignoreCase: true, out var v)
                    ? v
                    : throw new UsageException("--flags", name, "is not an endpoint flag (signal, subflow, backup, fullmesh)");
            }

            using var pm = MptcpPmClient.Open();
            pm.AddAddr(new MptcpAddress(a, r.GetValue(id), p, f, r.GetValue(dev)));
            Console.WriteLine($"endpoint {EventFormat.Endpoint(a, p)} added");
            return 0;
        }));
        var delId = Parse.IdOption("--id", "Endpoint id (1-255)", min: 1);
        var netns2 = CommonOptions.Netns();
        var del = new Command("del", "Delete an endpoint by id (DEL_ADDR)") { delId, netns2 };
        del.SetAction(r => Guard(r.GetValue(netns2), () =>
        {
            using var pm = MptcpPmClient.Open();
            pm.DelAddr(r.GetValue(delId));
            Console.WriteLine($"endpoint id {r.GetValue(delId)} deleted");
            return 0;
        }));
        var json = CommonOptions.Json();
        var token = Parse.OptionalTokenOption("--token", "With the userspace PM: the local addresses of this connection");
        var netns3 = CommonOptions.Netns();
        var show = new Command("show", "List endpoints (GET_ADDR dump)") { json, token, netns3 };
        show.SetAction(r => Guard(r.GetValue(netns3), () =>
        {
            using var pm = MptcpPmClient.Open();
            var t = r.GetValue(token);
            foreach (var a in pm.GetAddresses(t))
            {
                Console.WriteLine(r.GetValue(json)
                    ? EventFormat.WriteJson(w =>
                    {
                        w.WriteString("addr", a.Address.ToString());
                        if (a.Id is { } i) w.WriteNumber("id", i);
                        if (a.Port is { } p) w.WriteNumber("port", p);
                        w.WriteString("flags", a.Flags.ToString().ToLowerInvariant());
                        if (a.IfIndex is { } x) w.WriteNumber("if_idx", x);
                    })
                    : a.ToString());
            }

            return 0;
        }));
        var netns4 = CommonOptions.Netns();
        var flush = new Command("flush", "Delete every endpoint (FLUSH_ADDRS)") { netns4 };
        flush.SetAction(r => Guard(r.GetValue(netns4), () =>
        {
            using var pm = MptcpPmClient.Open();
            pm.FlushAddrs();
            Console.WriteLine("endpoints flushed");
            return 0;
        }));
        ep.Subcommands.Add(add);
        ep.Subcommands.Add(del);
        ep.Subcommands.Add(show);
        ep.Subcommands.Add(flush);
        return ep;
    }

    private static Command Limits()
    {
        var subflows = Parse.CountOption("--subflows", "Most extra subflows per connection (0-8, the kernel's MPTCP_PM_ADDR_MAX)", min: 0, max: 8);
        var accepted = Parse.CountOption("--add-addr-accepted", "Most ADD_ADDRs accepted per connection (0-8)", min: 0, max: 8);
        var netns = CommonOptions.Netns();
        var cmd = new Command("limits", "Show, or with options set, the in-kernel path manager's limits") { subflows, accepted, netns };
        cmd.SetAction(r => Guard(r.GetValue(netns), () =>
        {
            using var pm = MptcpPmClient.Open();
            if (r.GetValue(subflows) is not null || r.GetValue(accepted) is not null)
            {
                var cur = pm.GetLimits();
                pm.SetLimits(new MptcpLimits((uint?)r.GetValue(subflows) ?? cur.Subflows, (uint?)r.GetValue(accepted) ?? cur.AddAddrAccepted));
            }

            var l = pm.GetLimits();
            Console.WriteLine($"subflows {l.Subflows} add_addr_accepted {l.AddAddrAccepted}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Enters the namespace, runs the action, and turns refusals and bad arguments into one clear line.</summary>
    private static int Guard(string? netns, Func<int> action)
    {
        try
        {
            CommonOptions.EnterNamespace(netns);
            return action();
        }
        catch (NetlinkException e)
        {
            return CommonOptions.Fail($"refused by the kernel: {e.ErrnoName}: {e.KernelMessage ?? Netlink.Errno.Describe(e.Errno)}" +
                (e.Errno == Netlink.Errno.EPERM ? " (needs CAP_NET_ADMIN: run as root)" : ""));
        }
        catch (FormatException e)
        {
            return CommonOptions.Fail(e.Message, 2);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or SocketException or IOException or UnauthorizedAccessException)
        {
            return CommonOptions.Fail(e.Message);
        }
    }
}
