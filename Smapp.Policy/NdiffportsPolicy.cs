namespace Smapp.Policy;

/// <summary>
/// n subflows over the connection's initial address pair, each from a distinct source port: the kernel picks an
/// ephemeral port for every SUBFLOW_CREATE, so distinct ports come from distinct creates. Closed ones are re-opened
/// with the same backoff as fullmesh.
/// </summary>
public sealed class NdiffportsPolicy(int subflows, BackoffSettings backoff) : SubflowPolicy
{
    public override string Name => "ndiffports";

    public override PolicyEvents Subscriptions =>
        PolicyEvents.Established | PolicyEvents.LocalAddressRemoved | PolicyEvents.SubflowClosed;

    public int Target => subflows;

    public override void OnEstablished(IConnectionContext ctx)
    {
        if (ctx.Connection.Side == Side.Server)
        {
            return;
        }

        var local = ctx.LocalAddresses.FirstOrDefault(a => AddressForm.Same(a.Address, ctx.Connection.Local.Address))
            ?? new LocalAddress(ctx.Connection.Local.Address, 0, null);
        var live = ctx.Subflows.Count(s => !s.Abandoned);
        for (var i = live; i < subflows; i++)
        {
            var s = ctx.OpenSubflow(local, ctx.Connection.Remote);
            ctx.Log("open", $"subflow {s}: {i + 1} of {subflows} over {ctx.Connection.Local.Address} -> {ctx.Connection.Remote}");
        }
    }

    public override void OnLocalAddressRemoved(IConnectionContext ctx, LocalAddress address)
    {
        foreach (var s in ctx.Subflows.Where(s => AddressForm.Same(s.Local.Address, address.Address) && !s.Abandoned).ToList())
        {
            ctx.Log("close", $"subflow {s}: its local address went away");
            ctx.CloseSubflow(s);
        }
    }

    public override void OnSubflowClosed(IConnectionContext ctx, Subflow subflow, CloseReason reason)
    {
        if (subflow.Abandoned || ctx.Connection.Side == Side.Server)
        {
            return;
        }

        PolicyHelpers.ReopenOrGiveUp(ctx, subflow, reason, backoff);
    }
}
