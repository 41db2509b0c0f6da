namespace Smapp.Policy;

/// <summary>
/// The paper's first controller (section 4.1): a subflow for every (local address, remote address) pair, following
/// the host's addresses and the peer's announcements. A closed subflow is re-opened after a backoff chosen by the
/// error (short after a reset, longer after unreachable), up to a bound; a subflow whose address went away is
/// closed and never retried.
/// </summary>
public sealed class FullmeshPolicy(BackoffSettings backoff, IReadOnlyList<string> interfaces, bool useAnnounced, int maxSubflows) : SubflowPolicy
{
    public FullmeshPolicy()
        : this(BackoffSettings.Default, [], true, 8)
    {
    }

    public override string Name => "fullmesh";

    public override PolicyEvents Subscriptions =>
        PolicyEvents.Established | PolicyEvents.LocalAddressAdded | PolicyEvents.LocalAddressRemoved |
        PolicyEvents.Announced | PolicyEvents.Removed | PolicyEvents.SubflowClosed | PolicyEvents.SubflowEstablished | PolicyEvents.Timer;

    private const string RefillTimer = "fullmesh-refill";

    /// <summary>How long until the pairs are looked at again when subflows given up on (on their way out) fill the cap.</summary>
    public static readonly TimeSpan RefillDelay = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// The subflows the connection holds against its cap: every one the kernel may have (connecting or up, even one
    /// given up on whose destroy has not gone through yet, and those the kernel reports that we did not open), and
    /// those waiting to be re-opened.
    /// </summary>
    public static int Held(IConnectionContext ctx) =>
        ctx.Subflows.Count(s => s.Phase is SubflowPhase.Connecting or SubflowPhase.Established || s.Phase == SubflowPhase.Pending && !s.Abandoned);

    /// <summary>A subflow came up that would put the connection over its cap (one we did not open, or found by a reconcile): it is closed.</summary>
    public override void OnSubflowEstablished(IConnectionContext ctx, Subflow subflow)
    {
        if (ctx.Connection.Side == Side.Server || subflow.Initial || subflow.Abandoned)
        {
            return;
        }

        var held = Held(ctx);
        if (held > maxSubflows)
        {
            ctx.Log("close", $"subflow {subflow}: the connection holds {held} subflows, over the most allowed ({maxSubflows})");
            ctx.CloseSubflow(subflow);
        }
    }

    public override void OnEstablished(IConnectionContext ctx) => Fill(ctx, "connection established");

    public override void OnLocalAddressAdded(IConnectionContext ctx, LocalAddress address) => Fill(ctx, $"local address {address} added");

    public override void OnAnnounced(IConnectionContext ctx, RemoteAddress address)
    {
        if (useAnnounced)
        {
            Fill(ctx, $"peer announced {address}");
        }
    }

    public override void OnTimer(IConnectionContext ctx, string key)
    {
        if (key == RefillTimer)
        {
            Fill(ctx, "subflows given up on have gone");
        }
    }

    public override void OnLocalAddressRemoved(IConnectionContext ctx, LocalAddress address)
    {
        foreach (var s in ctx.Subflows.Where(s => AddressForm.Same(s.Local.Address, address.Address) && !s.Abandoned).ToList())
        {
            ctx.Log("close", $"subflow {s}: its local address {address} went away; not retried");
            ctx.CloseSubflow(s);
        }
    }

    public override void OnRemoved(IConnectionContext ctx, RemoteAddress address)
    {
        foreach (var s in ctx.Subflows.Where(s => AddressForm.Same(s.Remote.Address, address.Address) && !s.Abandoned && !s.Initial).ToList())
        {
            ctx.Log("close", $"subflow {s}: the peer withdrew {address}");
            ctx.CloseSubflow(s);
        }
    }

    public override void OnSubflowClosed(IConnectionContext ctx, Subflow subflow, CloseReason reason)
    {
        if (subflow.Abandoned || ctx.Connection.Side == Side.Server && !subflow.OpenedByUs)
        {
            return;
        }

        var local = ctx.LocalAddresses.FirstOrDefault(a => AddressForm.Same(a.Address, subflow.Local.Address));
        if (local is null || !Usable(local))
        {
            ctx.Log("give up", $"subflow {subflow} closed ({reason}) and its local address is gone");
            ctx.CloseSubflow(subflow);
            return;
        }

        if (!ctx.RemoteAddresses.Any(r => AddressForm.Same(r.Address, subflow.Remote.Address)))
        {
            ctx.Log("give up", $"subflow {subflow} closed ({reason}) and the peer no longer has {subflow.Remote.Address}");
            ctx.CloseSubflow(subflow);
            return;
        }

        var delay = Backoff.Delay(backoff, reason.Errno, subflow.Failures);
        if (delay is null)
        {
            ctx.Log("give up", $"subflow {subflow} closed ({reason}) after {subflow.Failures - 1} retries");
            ctx.CloseSubflow(subflow);
            return;
        }

        ctx.Log("reopen", $"subflow {subflow} closed ({reason}, {Backoff.Classify(reason.Errno).ToString().ToLowerInvariant()}): attempt {subflow.Failures} in {delay.Value.TotalMilliseconds:0} ms");
        ctx.Reopen(subflow, delay.Value);
    }

    /// <summary>Opens whatever (local, remote) pair has no subflow yet.</summary>
    private void Fill(IConnectionContext ctx, string why)
    {
        if (ctx.Connection.Side == Side.Server)
        {
            return;
        }

        foreach (var remote in ctx.RemoteAddresses)
        {
            if (remote.Id != 0 && !useAnnounced)
            {
                continue;
            }

            foreach (var local in ctx.LocalAddresses.Where(Usable))
            {
                if (!AddressForm.SameFamily(local.Address, remote.Address))
                {
                    continue;
                }

                var live = Held(ctx);
                if (ctx.Subflows.Any(s => !s.Abandoned && AddressForm.Same(s.Local.Address, local.Address) && AddressForm.Same(s.Remote.Address, remote.Address)))
                {
                    continue;
                }

                if (live >= maxSubflows)
                {
                    ctx.Log("skip", $"{local} -> {remote}: the connection has {live} subflows, the most allowed ({maxSubflows})");
                    if (ctx.Subflows.Any(s => s.Abandoned))
                    {
                        // Some of them are on their way out (destroyed, or to be once the kernel tells their port): look again.
                        ctx.StartTimer(RefillTimer, RefillDelay);
                    }

                    return;
                }

                var port = remote.Port ?? ctx.Connection.Remote.Port;
                var s = ctx.OpenSubflow(local, new Endpoint(remote.Address, port));
                ctx.Log("open", $"subflow {s}: {why}; no subflow yet from {local} to {remote.Address}");
            }
        }
    }

    private bool Usable(LocalAddress a) => interfaces.Count == 0 || a.InterfaceName is not null && interfaces.Contains(a.InterfaceName);
}
