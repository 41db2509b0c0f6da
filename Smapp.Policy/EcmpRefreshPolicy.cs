using static Smapp.Policy.PolicyHelpers;

namespace Smapp.Policy;

/// <summary>
/// The paper's smarter exploitation of flow-based load balancing (section 4.4): <c>subflows</c> (5, the initial one
/// included) over the connection's initial address pair, each from its own source port (the kernel picks one per
/// SUBFLOW_CREATE, as for ndiffports), and every <c>refresh</c> (2.5 s) the subflow with the lowest pacing rate is
/// closed and a new one opened at once, so that ECMP hashing ends up spreading the subflows over every path.
/// <para>
/// Decisions: the refresh runs at the first sample at or after its deadline (so it reads fresh pacing rates); the
/// next deadline is one refresh after that. The candidates are the established subflows whose latest sample was
/// taken since they were established and that have been up for at least one refresh period (a younger one is still
/// in slow start: its rate says nothing yet). At least two candidates are needed (there is nothing to compare
/// otherwise). The one with the lowest pacing rate is replaced; among equal rates, the youngest (latest
/// <see cref="Subflow.EstablishedAt"/>), then the lowest id. With <c>skip-idle</c>, a refresh is skipped when no
/// subflow had any more bytes acknowledged since the previous refresh: an idle connection (or one that only
/// receives) has pacing rates that say nothing about its paths, and replacing its subflows would only churn.
/// </para>
/// <para>
/// The subflow count is kept: a subflow the kernel closes is re-opened with the backoff, as ndiffports does (given
/// up after <c>max-attempts</c>); the subflows of a local address that goes away are closed. Client side only.
/// </para>
/// </summary>
public sealed class EcmpRefreshPolicy(int subflows, TimeSpan refresh, bool skipIdle, TimeSpan sampleInterval, BackoffSettings backoff) : SubflowPolicy
{
    /// <summary>Per subflow id: its establishment time (to tell a re-opened socket) and bytes_acked at the latest sample.</summary>
    private readonly Dictionary<int, (DateTimeOffset? EstablishedAt, ulong Bytes)> _acked = [];
    private DateTimeOffset? _nextRefresh;
    private bool _sentSinceRefresh;

    public EcmpRefreshPolicy()
        : this(5, TimeSpan.FromMilliseconds(2500), true, TimeSpan.FromMilliseconds(500), BackoffSettings.Default)
    {
    }

    public override string Name => "ecmp-refresh";

    public override PolicyEvents Subscriptions =>
        PolicyEvents.Established | PolicyEvents.Sample | PolicyEvents.SubflowClosed | PolicyEvents.LocalAddressRemoved;

    public override TimeSpan? SampleInterval => sampleInterval;

    public int Target => subflows;

    /// <summary>When the next refresh is due (null before established, or on the server side).</summary>
    public DateTimeOffset? NextRefresh => _nextRefresh;

    public override void OnEstablished(IConnectionContext ctx)
    {
        if (ctx.Connection.Side == Side.Server)
        {
            return;
        }

        var local = InitialLocal(ctx);
        var live = ctx.Subflows.Count(Live);
        for (var i = live; i < subflows; i++)
        {
            var s = ctx.OpenSubflow(local, ctx.Connection.Remote);
            ctx.Log("open", $"subflow {s}: {i + 1} of {subflows} over {ctx.Connection.Local.Address} -> {ctx.Connection.Remote}");
        }

        _nextRefresh = ctx.Now + refresh;
    }

    public override void OnSample(IConnectionContext ctx)
    {
        if (_nextRefresh is not { } due)
        {
            return;
        }

        TrackAcked(ctx);
        if (ctx.Now < due)
        {
            return;
        }

        _nextRefresh = ctx.Now + refresh;
        var sent = _sentSinceRefresh;
        _sentSinceRefresh = false;
        if (skipIdle && !sent)
        {
            return;
        }

        var oldEnough = ctx.Now - refresh;
        var candidates = ctx.Subflows
            .Where(s => s.Phase == SubflowPhase.Established && Live(s) && s.EstablishedAt is { } at && at <= oldEnough && FreshSample(s) is not null)
            .ToList();
        if (candidates.Count < 2)
        {
            return;
        }

        var slowest = candidates
            .OrderBy(s => FreshSample(s)!.PacingRate)
            .ThenByDescending(s => s.EstablishedAt)
            .ThenBy(s => s.Id)
            .First();
        var rates = string.Join(", ", candidates.OrderBy(s => s.Id).Select(s => $"#{s.Id} {FreshSample(s)!.PacingRate}"));
        ctx.CloseSubflow(slowest);
        var next = ctx.OpenSubflow(InitialLocal(ctx), ctx.Connection.Remote);
        ctx.Log("refresh", $"subflow {slowest} has the lowest pacing rate ({FreshSample(slowest)!.PacingRate} B/s; {rates}): closed it and opened subflow {next}");
    }

    public override void OnSubflowClosed(IConnectionContext ctx, Subflow subflow, CloseReason reason)
    {
        if (subflow.Abandoned || ctx.Connection.Side == Side.Server)
        {
            return;
        }

        ReopenOrGiveUp(ctx, subflow, reason, backoff);
    }

    public override void OnLocalAddressRemoved(IConnectionContext ctx, LocalAddress address)
    {
        foreach (var s in ctx.Subflows.Where(s => AddressForm.Same(s.Local.Address, address.Address) && Live(s)).ToList())
        {
            ctx.Log("close", $"subflow {s}: its local address went away");
            ctx.CloseSubflow(s);
        }
    }

    /// <summary>Notes whether any subflow had more bytes acknowledged since its previous sample (a new socket's first sample is its baseline).</summary>
    private void TrackAcked(IConnectionContext ctx)
    {
        foreach (var s in ctx.Subflows)
        {
            if (s.Phase != SubflowPhase.Established || FreshSample(s) is not { } x)
            {
                continue;
            }

            if (_acked.TryGetValue(s.Id, out var seen) && seen.EstablishedAt == s.EstablishedAt && x.BytesAcked > seen.Bytes)
            {
                _sentSinceRefresh = true;
            }

            _acked[s.Id] = (s.EstablishedAt, x.BytesAcked);
        }

        foreach (var id in _acked.Keys.Where(id => !ctx.Subflows.Any(s => s.Id == id)).ToList())
        {
            _acked.Remove(id);
        }
    }
}
