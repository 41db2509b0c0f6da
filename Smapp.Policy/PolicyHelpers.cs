namespace Smapp.Policy;

/// <summary>What the sampling policies (backup, streaming, ecmp-refresh) share.</summary>
internal static class PolicyHelpers
{
    /// <summary>
    /// The subflow's latest sample if it was taken since the subflow was (re-)established. A re-opened subflow keeps
    /// its <see cref="Subflow"/> object and so its last sample from before: that one describes another socket.
    /// </summary>
    public static SubflowSample? FreshSample(Subflow s) =>
        s.LastSample is { } x && (s.EstablishedAt is not { } at || x.At >= at) ? x : null;

    /// <summary>Not given up on by the policy (it may be pending, connecting, established or just closed).</summary>
    public static bool Live(Subflow s) => !s.Abandoned;

    /// <summary>The host's entry for an address (its interface), if it still has it.</summary>
    public static LocalAddress? Local(IConnectionContext ctx, System.Net.IPAddress address) =>
        ctx.LocalAddresses.FirstOrDefault(a => AddressForm.Same(a.Address, address));

    /// <summary>How an interface is named for comparison: its name, else its index.</summary>
    public static string InterfaceKey(LocalAddress a) => a.InterfaceName ?? $"#{a.IfIndex}";

    /// <summary>
    /// A local address on another interface for a new subflow to <paramref name="remote"/>: of the remote's family,
    /// not used by a live subflow, on an interface that no live subflow uses, and (when <paramref name="interfaces"/>
    /// is not empty) on one of those interfaces. Candidates are tried in the order of <paramref name="interfaces"/>,
    /// then in the order the host lists its addresses. Null when there is none.
    /// </summary>
    public static LocalAddress? OtherInterface(IConnectionContext ctx, Endpoint remote, IReadOnlyList<string> interfaces)
    {
        var live = ctx.Subflows.Where(Live).ToList();
        var usedInterfaces = live
            .Select(s => Local(ctx, s.Local.Address))
            .Where(a => a is not null)
            .Select(a => InterfaceKey(a!))
            .ToHashSet(StringComparer.Ordinal);
        var candidates = ctx.LocalAddresses
            .Where(a => interfaces.Count == 0 || a.InterfaceName is not null && interfaces.Contains(a.InterfaceName))
            .Where(a => AddressForm.SameFamily(a.Address, remote.Address))
            .Where(a => !live.Any(s => AddressForm.Same(s.Local.Address, a.Address)))
            .Where(a => !usedInterfaces.Contains(InterfaceKey(a)));
        if (interfaces.Count > 0)
        {
            candidates = candidates.OrderBy(a => IndexOf(interfaces, a.InterfaceName!));
        }

        return candidates.FirstOrDefault();
    }

    private static int IndexOf(IReadOnlyList<string> list, string item)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (string.Equals(list[i], item, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return int.MaxValue;
    }

    /// <summary>The connection's initial local address as the host lists it (or a bare one if the host no longer lists it).</summary>
    public static LocalAddress InitialLocal(IConnectionContext ctx) =>
        Local(ctx, ctx.Connection.Local.Address) ?? new LocalAddress(ctx.Connection.Local.Address, 0, null);

    /// <summary>ndiffports' rule for a subflow the kernel closed: re-open it with the backoff, or give up (and close it).</summary>
    public static void ReopenOrGiveUp(IConnectionContext ctx, Subflow subflow, CloseReason reason, BackoffSettings backoff)
    {
        if (Local(ctx, subflow.Local.Address) is null)
        {
            ctx.Log("give up", $"subflow {subflow} closed ({reason}) and its local address is gone");
            ctx.CloseSubflow(subflow);
            return;
        }

        if (Backoff.Delay(backoff, reason.Errno, subflow.Failures) is { } delay)
        {
            ctx.Log("reopen", $"subflow {subflow} closed ({reason}): attempt {subflow.Failures} in {delay.TotalMilliseconds:0} ms");
            ctx.Reopen(subflow, delay);
        }
        else
        {
            ctx.Log("give up", $"subflow {subflow} closed ({reason}) after {subflow.Failures - 1} retries");
            ctx.CloseSubflow(subflow);
        }
    }

    public static string Ms(TimeSpan t) => $"{t.TotalMilliseconds:0} ms";
}
