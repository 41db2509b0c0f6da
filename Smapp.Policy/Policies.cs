namespace Smapp.Policy;

/// <summary>The policies Smapp ships, by name.</summary>
public static class BuiltInPolicies
{
    public static readonly IReadOnlyList<ParameterSpec> BackoffParameters =
    [
        new("backoff-after-reset", ParameterKind.Duration, TimeSpan.FromSeconds(1), "first re-open delay after a reset (ECONNRESET, ECONNREFUSED)", Validators.Positive),
        new("backoff-after-unreachable", ParameterKind.Duration, TimeSpan.FromSeconds(5), "first re-open delay after an unreachable or timed-out path", Validators.Positive),
        new("backoff-after-other", ParameterKind.Duration, TimeSpan.FromSeconds(2), "first re-open delay after any other close", Validators.Positive),
        new("backoff-multiplier", ParameterKind.Double, 2.0, "each further attempt waits this many times longer", v => (double)v >= 1 ? null : "must be at least 1"),
        new("backoff-max", ParameterKind.Duration, TimeSpan.FromSeconds(30), "the longest wait between attempts", Validators.Positive),
        new("max-attempts", ParameterKind.Int, 10, "attempts before giving up on a subflow (0: never give up)", Validators.AtLeast(0)),
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
            new("max-subflows", ParameterKind.Int, 8, "most subflows per connection, the initial one included", Validators.AtLeast(1)),
        ],
        p => new FullmeshPolicy(BackoffFrom(p), p.List("interfaces"), p.Bool("use-announced"), p.Int("max-subflows")));

    public static readonly PolicyDefinition Ndiffports = new(
        "ndiffports",
        "n subflows over the initial address pair, each from its own source port (the kernel picks them)",
        [
            .. BackoffParameters,
            new("subflows", ParameterKind.Int, 2, "subflows per connection, the initial one included", Validators.AtLeast(1)),
        ],
        p => new NdiffportsPolicy(p.Int("subflows"), BackoffFrom(p)));

    public static readonly PolicyDefinition ServerGuard = new(
        "server-guard",
        "on the accepting side, destroys subflows beyond a per-connection limit or from a source address that already has one",
        [
            new("max-subflows", ParameterKind.Int, 2, "most subflows per connection, the initial one included", Validators.AtLeast(1)),
            new("one-per-address", ParameterKind.Bool, true, "refuse a second subflow from the same remote address"),
        ],
        p => new ServerGuardPolicy(p.Int("max-subflows"), p.Bool("one-per-address")));

    public static readonly PolicyDefinition Passive = new(
        "passive",
        "opens and closes nothing: tracks the connection (the default for the accepting side)",
        [],
        _ => new PassivePolicy());

    public static IReadOnlyDictionary<string, PolicyDefinition> All { get; } =
        new[] { Fullmesh, Ndiffports, ServerGuard, Passive }.ToDictionary(d => d.Name);
}

/// <summary>Does nothing; the controller still tracks the connection.</summary>
public sealed class PassivePolicy : SubflowPolicy
{
    public override string Name => "passive";

    public override PolicyEvents Subscriptions =>
        PolicyEvents.None;
}
