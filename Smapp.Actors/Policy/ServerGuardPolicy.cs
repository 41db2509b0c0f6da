namespace Smapp.Actors.Policy;

/// <summary>
/// The accepting side's guard (paper, section 3: "a server could use this event to limit the number of subflows
/// that it currently accepts"): destroys a subflow beyond <c>max-subflows</c> per connection, or from a remote
/// address that already has one.
/// </summary>
public sealed class ServerGuardPolicy(int maxSubflows, bool onePerAddress) : SubflowPolicy
{
    public override string Name => "server-guard";

    public override void OnEstablished(IConnectionContext ctx)
    {
        // Taken over at start: enforce on what is already there, keeping the oldest.
        foreach (var s in ctx.Subflows.Where(s => s.Phase == SubflowPhase.Established && !s.Initial).OrderBy(s => s.EstablishedAt).ToList())
        {
            Check(ctx, s);
        }
    }

    public override void OnSubflowEstablished(IConnectionContext ctx, Subflow subflow) => Check(ctx, subflow);

    private void Check(IConnectionContext ctx, Subflow subflow)
    {
        var others = ctx.Subflows.Where(s => s.Phase == SubflowPhase.Established && !s.Abandoned && s.Id != subflow.Id).ToList();
        if (onePerAddress && others.Any(s => FullmeshPolicy.SameAddress(s.Remote.Address, subflow.Remote.Address)))
        {
            ctx.Log("refuse", $"subflow {subflow}: {subflow.Remote.Address} already has a subflow on this connection");
            ctx.CloseSubflow(subflow);
        }
        else if (others.Count + 1 > maxSubflows)
        {
            ctx.Log("refuse", $"subflow {subflow}: the connection already has {others.Count} subflows, the most allowed is {maxSubflows}");
            ctx.CloseSubflow(subflow);
        }
    }
}
