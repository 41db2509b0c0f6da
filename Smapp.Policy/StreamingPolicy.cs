using static Smapp.Policy.PolicyHelpers;

namespace Smapp.Policy;

/// <summary>Which byte count measures a streaming connection's progress.</summary>
public enum StreamingProgress
{
    /// <summary>Bytes this host sent that the peer acknowledged (tcp_info bytes_acked, the paper's snd_una): this host streams.</summary>
    Acked,

    /// <summary>Bytes this host received (tcp_info bytes_received): the peer streams to this host.</summary>
    Received,
}

/// <summary>
/// The paper's smarter streaming (section 4.3), for an application that sends a block (<c>block-size</c>, 64 KB) every
/// <c>period</c> (1 s) and needs each block delivered within its period. The period is the policy's own clock, started
/// when the connection is established, until the application announces a block through the application API
/// (<see cref="OnBlock"/>): from then on each block is its own period.
/// <para>
/// At each period's check point (<c>check-at</c> × <c>period</c> after it began, a policy timer), if fewer than
/// <c>min-progress</c> bytes (half a block) were acknowledged since the period began — the sum of the
/// <c>bytes_acked</c> growth of the connection's established subflows between samples — the subflows are
/// underperforming and one subflow is opened on another interface: an address of the remote's family that no live
/// subflow uses, on an interface that no live subflow uses (among <c>interfaces</c> if set, in their order), to the
/// connection's remote endpoint. One subflow per shortfall at most; none (and a log line) when there is no other
/// interface. A connection whose first subflow keeps up never gets a second one.
/// </para>
/// <para>
/// At every sample, a subflow whose RTO exceeds the period is closed at once (a block would wait longer than its
/// period for one retransmission), except the connection's last live subflow when no other interface can replace
/// it: then a replacement is opened on another interface as it is closed, or, if there is none, it is kept (and
/// that is logged once). Subflows the kernel closes are not re-opened: the next shortfall opens what is needed.
/// </para>
/// <para>
/// Bytes acknowledged count from a subflow's first sample after it was established (all of it for a subflow that
/// is new since the policy started: its count starts at zero; a subflow found at takeover only from its first
/// sample); samples come every <c>sample-interval</c>, so the check sees the progress as of the latest sample. On its own
/// clock an idle application looks like a shortfall; one that announces its blocks does not. Client side only.
/// </para>
/// </summary>
public sealed class StreamingPolicy(
    int blockSize,
    TimeSpan period,
    double checkAt,
    long minProgress,
    IReadOnlyList<string> interfaces,
    StreamingProgress progress,
    TimeSpan sampleInterval) : SubflowPolicy
{
    public const string PeriodTimer = "period";
    public const string CheckTimer = "check";

    /// <summary>Per subflow id: its establishment time (to tell a re-opened socket) and its count at the latest sample (null: not seen yet, counts from its first sample).</summary>
    private readonly Dictionary<int, (DateTimeOffset? EstablishedAt, ulong? Bytes)> _seen = [];
    private readonly HashSet<int> _keptLogged = [];
    private long _progress;
    private DateTimeOffset _periodStart;
    private bool _running;
    private long? _needed; // null: min-progress (the policy's own clock)
    private string? _block;

    /// <summary>Whether the application announces its blocks (<see cref="OnBlock"/>): then there is no clock of the policy's own.</summary>
    public bool ApplicationClock { get; private set; }

    public StreamingPolicy()
        : this(65536, TimeSpan.FromSeconds(1), 0.5, 32768, [], StreamingProgress.Acked, TimeSpan.FromMilliseconds(100))
    {
    }

    public override string Name => "streaming";

    public override PolicyEvents Subscriptions =>
        PolicyEvents.Established | PolicyEvents.Sample | PolicyEvents.Timer;

    public override TimeSpan? SampleInterval => sampleInterval;

    /// <summary>Bytes acknowledged (or received) since the current period began, as of the latest sample.</summary>
    public long ProgressThisPeriod => _progress;

    public TimeSpan CheckDelay => TimeSpan.FromTicks((long)(period.Ticks * checkAt));

    public override void OnEstablished(IConnectionContext ctx)
    {
        if (ctx.Connection.Side == Side.Server)
        {
            return;
        }

        foreach (var s in ctx.Subflows.Where(s => s.Phase == SubflowPhase.Established && Live(s)))
        {
            // A new connection's subflows count from zero; on takeover, from what they had when first sampled.
            ulong? baseline = FreshSample(s) is { } x ? Count(x) : ctx.Connection.TakenOver ? null : 0;
            _seen[s.Id] = (s.EstablishedAt, baseline);
        }

        _running = true;
        BeginPeriod(ctx);
        ctx.StartTimer(PeriodTimer, period, repeat: true);
    }

    public override void OnTimer(IConnectionContext ctx, string key)
    {
        if (!_running)
        {
            return;
        }

        switch (key)
        {
            case PeriodTimer:
                BeginPeriod(ctx);
                break;
            case CheckTimer:
                Check(ctx);
                break;
        }
    }

    public override void OnSample(IConnectionContext ctx)
    {
        if (!_running)
        {
            return;
        }

        foreach (var s in ctx.Subflows)
        {
            if (s.Phase != SubflowPhase.Established || FreshSample(s) is not { } x)
            {
                continue;
            }

            var now = Count(x);
            if (_seen.TryGetValue(s.Id, out var seen) && seen.EstablishedAt == s.EstablishedAt)
            {
                if (seen.Bytes is { } before && now > before)
                {
                    _progress += (long)(now - before);
                }
            }
            else
            {
                // A subflow established since the policy started (or re-opened): its count started at zero.
                _progress += (long)now;
            }

            _seen[s.Id] = (s.EstablishedAt, now);
        }

        foreach (var id in _seen.Keys.Where(id => !ctx.Subflows.Any(s => s.Id == id)).ToList())
        {
            _seen.Remove(id);
            _keptLogged.Remove(id);
        }

        CloseSlow(ctx);
    }

    private void BeginPeriod(IConnectionContext ctx)
    {
        _periodStart = ctx.Now;
        _progress = 0;
        ctx.StartTimer(CheckTimer, CheckDelay);
    }

    /// <summary>
    /// The application's own clock: a block of <paramref name="bytes"/> starts now, due at
    /// <paramref name="deadline"/>. From the first one on the policy's period timer stops; each block starts a period
    /// of its own whose check point is <c>check-at</c> of the time to its deadline, and whose progress needed is the
    /// same fraction of the block as <c>min-progress</c> is of <c>block-size</c>.
    /// </summary>
    public override string? OnBlock(IConnectionContext ctx, long bytes, DateTimeOffset deadline)
    {
        if (ctx.Connection.Side == Side.Server)
        {
            return null;
        }

        var window = deadline - ctx.Now;
        if (window <= TimeSpan.Zero)
        {
            return "the deadline has passed: nothing to check";
        }

        if (!ApplicationClock)
        {
            ApplicationClock = true;
            ctx.CancelTimer(PeriodTimer);
        }

        _running = true;
        _periodStart = ctx.Now;
        _progress = 0;
        _needed = Math.Max(1, (long)Math.Ceiling(bytes * (double)minProgress / blockSize));
        _block = $"block {bytes} bytes, due in {Ms(window)}";
        var needed = _needed.Value;
        var check = TimeSpan.FromTicks((long)(window.Ticks * checkAt));
        ctx.StartTimer(CheckTimer, check);
        ctx.Log("block", $"{bytes} bytes due in {Ms(window)}: progress checked after {Ms(check)}, {needed} bytes needed by then");
        return $"block of {bytes} bytes: progress checked after {Ms(check)} ({needed} bytes needed); the policy's own period clock is off";
    }

    private void Check(IConnectionContext ctx)
    {
        var needed = _needed ?? minProgress;
        if (_progress >= needed)
        {
            return;
        }

        var what = progress == StreamingProgress.Acked ? "acknowledged" : "received";
        var shortfall = $"{_progress} bytes {what} in the {Ms(ctx.Now - _periodStart)} since the period began, fewer than {needed} ({_block ?? $"block {blockSize} bytes, period {Ms(period)}"})";
        if (OtherInterface(ctx, ctx.Connection.Remote, interfaces) is not { } local)
        {
            ctx.Log("no other interface", $"{shortfall}; every usable interface already has a subflow");
            return;
        }

        var s = ctx.OpenSubflow(local, ctx.Connection.Remote);
        ctx.Log("open", $"subflow {s} from {local}: {shortfall}");
    }

    /// <summary>Closes every established subflow whose RTO exceeds the period (the last one only if it can be replaced).</summary>
    private void CloseSlow(IConnectionContext ctx)
    {
        foreach (var s in ctx.Subflows.Where(s => s.Phase == SubflowPhase.Established && Live(s)).ToList())
        {
            if (FreshSample(s) is not { } x || x.Rto <= period)
            {
                _keptLogged.Remove(s.Id);
                continue;
            }

            var why = $"its RTO {Ms(x.Rto)} exceeds the period {Ms(period)}";
            var others = ctx.Subflows.Any(o => o != s && Live(o) && o.Phase is SubflowPhase.Established or SubflowPhase.Connecting);
            if (others)
            {
                ctx.CloseSubflow(s);
                ctx.Log("close", $"subflow {s}: {why}");
                continue;
            }

            if (OtherInterface(ctx, ctx.Connection.Remote, interfaces) is { } local)
            {
                ctx.CloseSubflow(s);
                var next = ctx.OpenSubflow(local, ctx.Connection.Remote);
                ctx.Log("replace", $"subflow {s}: {why}; it was the last one: opened subflow {next} from {local}");
                continue;
            }

            if (_keptLogged.Add(s.Id))
            {
                ctx.Log("keep", $"subflow {s}: {why}, but it is the connection's last subflow and no other interface can replace it");
            }
        }
    }

    private ulong Count(SubflowSample x) => progress == StreamingProgress.Acked ? x.BytesAcked : x.BytesReceived;
}
