namespace Smapp.Policy;

/// <summary>The policies Smapp ships, by name.</summary>
public static class BuiltInPolicies
{
    public static readonly IReadOnlyList<ParameterSpec> BackoffParameters =
    [
        new("backoff-after-reset", ParameterKind.Duration, TimeSpan.FromSeconds(1), "first re-open delay after a reset (ECONNRESET, ECONNREFUSED)", Validators.Positive),
        new("backoff-after-unreachable", ParameterKind.Duration, TimeSpan.FromSeconds(5), "first re-open delay after an unreachable or timed-out path", Validators.Positive),
        new("backoff-after-other", ParameterKind.Duration, TimeSpan.FromSeconds(2), "first re-open delay after any other close", Validators.Positive),
        new("backoff-multiplier", ParameterKind.Double, 2.0, "each further attempt waits this many times longer", v => (double)v is >= 1 and <= 100 ? null : "must be between 1 and 100"),
        new("backoff-max", ParameterKind.Duration, TimeSpan.FromSeconds(30), "the longest wait between attempts", Validators.Positive),
        new("max-attempts", ParameterKind.Int, 10, "attempts before giving up on a subflow (0: never give up)", Validators.Between(0, 1_000_000)),
    ];

    public static BackoffSettings BackoffFrom(PolicyParameters p) => new(
        p.Duration("backoff-after-reset"), p.Duration("backoff-after-unreachable"), p.Duration("backoff-after-other"),
        p.Double("backoff-multiplier"), p.Duration("backoff-max"), p.Int("max-attempts"));

    public static readonly PolicyDefinition Fullmesh = new(
        "fullmesh",
        "one subflow per (local address, remote address) pair; follows local addresses and the peer's announcements; re-opens closed subflows with a backoff chosen by the error",
        [
            .. BackoffParameters,
            new("interfaces", ParameterKind.StringList, Array.Empty<string>(), "use only local addresses on these interfaces (empty: every interface)"),
            new("use-announced", ParameterKind.Bool, true, "also open subflows to addresses the peer announces"),
            new("max-subflows", ParameterKind.Int, 8, "most subflows per connection, the initial one included", Validators.Between(1, Validators.MaxSubflows)),
        ],
        p => new FullmeshPolicy(BackoffFrom(p), p.List("interfaces"), p.Bool("use-announced"), p.Int("max-subflows")));

    public static readonly PolicyDefinition Ndiffports = new(
        "ndiffports",
        "n subflows over the initial address pair, each from its own source port (the kernel picks them)",
        [
            .. BackoffParameters,
            new("subflows", ParameterKind.Int, 2, "subflows per connection, the initial one included", Validators.Between(1, Validators.MaxSubflows)),
        ],
        p => new NdiffportsPolicy(p.Int("subflows"), BackoffFrom(p)));

    /// <summary>The sampler's own minimum tick (smapp.sampler.interval).</summary>
    private static readonly TimeSpan MinSampleInterval = TimeSpan.FromMilliseconds(10);

    public static readonly PolicyDefinition Backup = new(
        "backup",
        "break-before-make backup (paper 4.2): the connection runs on its initial subflow alone; when its RTO exceeds a threshold, it is closed and a subflow is opened from a backup interface; optionally moves back once the primary address recovers",
        [
            new("rto-threshold", ParameterKind.Duration, TimeSpan.FromSeconds(1), "a subflow whose retransmission timeout exceeds this is underperforming", Validators.Positive),
            new("backup-interfaces", ParameterKind.StringList, new[] { "cell" }, "interfaces to fail over to, in order of preference", Validators.NonEmptyList),
            new("return", ParameterKind.String, "never", "never: stay on the backup; when-primary-recovers: probe the primary address and move back if it holds", Validators.OneOf("never", "when-primary-recovers")),
            new("probe-after", ParameterKind.Duration, TimeSpan.FromSeconds(10), "with return = when-primary-recovers: how long after a failover (or a failed probe) to probe the primary address", Validators.Positive),
            new("probe-hold", ParameterKind.Duration, TimeSpan.FromSeconds(2), "how long the probe's RTO must stay at or below the threshold before moving back", Validators.Positive),
            new("sample-interval", ParameterKind.Duration, TimeSpan.FromMilliseconds(100), "how often to read the subflows' RTO", Validators.AtLeast(MinSampleInterval)),
            .. BackoffParameters,
        ],
        p => new BackupPolicy(
            p.Duration("rto-threshold"), p.List("backup-interfaces"),
            p.String("return") == "when-primary-recovers" ? BackupReturn.WhenPrimaryRecovers : BackupReturn.Never,
            p.Duration("probe-after"), p.Duration("probe-hold"), p.Duration("sample-interval"), BackoffFrom(p)));

    public static readonly PolicyDefinition Streaming = new(
        "streaming",
        "for a block per period (paper 4.3): at each period's check point, opens a subflow on another interface if too few bytes were acknowledged since the period began; closes any subflow whose RTO exceeds the period",
        [
            new("block-size", ParameterKind.Int, 65536, "bytes the application sends per period (bytes)", Validators.Between(1, 1 << 30)),
            new("period", ParameterKind.Duration, TimeSpan.FromSeconds(1), "the application's period: each block must be delivered within it", Validators.Positive),
            new("check-at", ParameterKind.Double, 0.5, "when in the period progress is checked, as a fraction of the period", Validators.Fraction),
            new("min-progress", ParameterKind.Int, 32768, "bytes that must be acknowledged by the check point (bytes; half a block)", Validators.Between(1, 1 << 30)),
            new("interfaces", ParameterKind.StringList, Array.Empty<string>(), "interfaces a new subflow may use, in order of preference (empty: any)"),
            new("progress", ParameterKind.String, "acked", "acked: bytes this host sent that the peer acknowledged (this host streams); received: bytes received (the peer streams)", Validators.OneOf("acked", "received")),
            new("sample-interval", ParameterKind.Duration, TimeSpan.FromMilliseconds(100), "how often to read the subflows' byte counts and RTO", Validators.AtLeast(MinSampleInterval)),
        ],
        p => new StreamingPolicy(
            p.Int("block-size"), p.Duration("period"), p.Double("check-at"), p.Int("min-progress"), p.List("interfaces"),
            p.String("progress") == "received" ? StreamingProgress.Received : StreamingProgress.Acked, p.Duration("sample-interval")));

    public static readonly PolicyDefinition EcmpRefresh = new(
        "ecmp-refresh",
        "n subflows over the initial address pair (paper 4.4); every refresh period the one with the lowest pacing rate is closed and a new one opened, so that ECMP hashing spreads them over every path",
        [
            new("subflows", ParameterKind.Int, 5, "subflows per connection, the initial one included", Validators.Between(2, Validators.MaxSubflows)),
            new("refresh", ParameterKind.Duration, TimeSpan.FromMilliseconds(2500), "how often the slowest subflow is replaced; a subflow younger than this is never replaced", Validators.Positive),
            new("skip-idle", ParameterKind.Bool, true, "skip a refresh when no subflow had bytes acknowledged since the previous one"),
            new("sample-interval", ParameterKind.Duration, TimeSpan.FromMilliseconds(500), "how often to read the subflows' pacing rates (a refresh waits for the next sample)", Validators.AtLeast(MinSampleInterval)),
            .. BackoffParameters,
        ],
        p => new EcmpRefreshPolicy(p.Int("subflows"), p.Duration("refresh"), p.Bool("skip-idle"), p.Duration("sample-interval"), BackoffFrom(p)));

    public static readonly PolicyDefinition ServerGuard = new(
        "server-guard",
        "on the accepting side, destroys subflows beyond a per-connection limit or from a source address that already has one",
        [
            new("max-subflows", ParameterKind.Int, 2, "most subflows per connection, the initial one included", Validators.Between(1, Validators.MaxSubflows)),
            new("one-per-address", ParameterKind.Bool, true, "refuse a second subflow from the same remote address"),
        ],
        p => new ServerGuardPolicy(p.Int("max-subflows"), p.Bool("one-per-address")));

    public static readonly PolicyDefinition Passive = new(
        "passive",
        "opens and closes nothing: tracks the connection (the default for the accepting side)",
        [],
        _ => new PassivePolicy());

    public static IReadOnlyDictionary<string, PolicyDefinition> All { get; } =
        new[] { Fullmesh, Ndiffports, Backup, Streaming, EcmpRefresh, ServerGuard, Passive }.ToDictionary(d => d.Name);
}

/// <summary>Does nothing; the controller still tracks the connection.</summary>
public sealed class PassivePolicy : SubflowPolicy
{
    public override string Name => "passive";

    public override PolicyEvents Subscriptions =>
        PolicyEvents.None;
}
