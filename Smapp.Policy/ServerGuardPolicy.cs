namespace Smapp.Policy;

/// <summary>
/// The accepting side's guard (paper, section 3: "a server could use this event to limit the number of subflows
/// that it currently accepts"): destroys a subflow beyond <c>max-subflows</c> per connection, or from a remote
/// address that already has one.
/// </summary>
public sealed class ServerGuardPolicy(int maxSubflows, bool onePerAddress) : SubflowPolicy
{
    public override string Name => "server-guard";

    public override PolicyEvents Subscriptions =>
        PolicyEvents.Established | PolicyEvents.SubflowEstablished;

    public override void OnEstablished(IConnectionContext ctx)
    {
        // Taken over at start: enforce on what is already there, keeping the oldest. Each subflow is checked
        // against the initial one and the older ones kept so far, never against younger ones.
        var kept = ctx.Subflows.Where(s => s.Phase == SubflowPhase.Established && !s.Abandoned && s.Initial).ToList();
        foreach (var s in ctx.Subflows.Where(s => s.Phase == SubflowPhase.Established && !s.Abandoned && !s.Initial).OrderBy(s => s.EstablishedAt).ThenBy(s => s.Id).ToList())
        {
            if (Check(ctx, s, kept))
            {
                kept.Add(s);
            }
        }
    }

    public override void OnSubflowEstablished(IConnectionContext ctx, Subflow subflow) =>
        Check(ctx, subflow, ctx.Subflows.Where(s => s.Phase == SubflowPhase.Established && !s.Abandoned && s.Id != subflow.Id).ToList());

    /// <summary>Closes <paramref name="subflow"/> if it breaks a rule next to <paramref name="others"/>; true when it stays.</summary>
    private bool Check(IConnectionContext ctx, Subflow subflow, IReadOnlyList<Subflow> others)
    {
        if (onePerAddress && others.Any(s => AddressForm.Same(s.Remote.Address, subflow.Remote.Address)))
        {
            ctx.Log("refuse", $"subflow {subflow}: {subflow.Remote.Address} already has a subflow on this connection");
            ctx.CloseSubflow(subflow);
            return false;
        }

        if (others.Count + 1 > maxSubflows)
        {
            ctx.Log("refuse", $"subflow {subflow}: the connection already has {others.Count} subflows, the most allowed is {maxSubflows}");
            ctx.CloseSubflow(subflow);
            return false;
        }

        return true;
    }
}
