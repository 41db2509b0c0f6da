namespace Smapp.Policy;

public enum ParameterKind
{
    Int,
    Double,
    Duration,
    Bool,
    String,
    StringList,
}

/// <summary>One tunable of a policy: its HOCON key under smapp.policies.NAME, type, default and meaning.</summary>
public sealed record ParameterSpec(string Name, ParameterKind Kind, object Default, string Description, Func<object, string?>? Validate = null);

/// <summary>A policy's parameters, already parsed and validated from the configuration.</summary>
public sealed class PolicyParameters
{
    private readonly IReadOnlyDictionary<string, object> _values;

    public PolicyParameters(IReadOnlyDictionary<string, object> values) => _values = values;

    public static PolicyParameters Defaults(IEnumerable<ParameterSpec> specs) => new(specs.ToDictionary(s => s.Name, s => s.Default));

    public int Int(string name) => (int)_values[name];

    public double Double(string name) => (double)_values[name];

    public TimeSpan Duration(string name) => (TimeSpan)_values[name];

    public bool Bool(string name) => (bool)_values[name];

    public string String(string name) => (string)_values[name];

    public IReadOnlyList<string> List(string name) => (IReadOnlyList<string>)_values[name];

    public IReadOnlyDictionary<string, object> All => _values;

    public PolicyParameters With(string name, object value)
    {
        var d = _values.ToDictionary(k => k.Key, k => k.Value);
        d[name] = value;
        return new PolicyParameters(d);
    }
}

/// <summary>A policy as the registry knows it: name, what it is for, its parameters, and how to make one.</summary>
public sealed record PolicyDefinition(string Name, string Description, IReadOnlyList<ParameterSpec> Parameters, Func<PolicyParameters, SubflowPolicy> Create)
{
    public SubflowPolicy CreateDefault() => Create(PolicyParameters.Defaults(Parameters));
}

/// <summary>Shared validators for parameter specs.</summary>
public static class Validators
{
    public static Func<object, string?> AtLeast(int min) => v => (int)v >= min ? null : $"must be at least {min}";

    /// <summary>
    /// The most subflows a policy may ask for per connection. The kernel's MPTCP has no hard limit for a userspace PM, but
    /// a peer on the in-kernel PM accepts at most 8 and every subflow is a TCP socket: more than this is a mistake.
    /// </summary>
    public const int MaxSubflows = 64;

    /// <summary>A whole number in <paramref name="min"/>..<paramref name="max"/>.</summary>
    public static Func<object, string?> Between(int min, int max) => v =>
        (int)v >= min && (int)v <= max ? null : $"{v} is out of range: must be between {min} and {max}";

    public static Func<object, string?> Positive => v => v switch
    {
        TimeSpan t when t <= TimeSpan.Zero => "must be a positive duration",
        double d when d <= 0 => "must be positive",
        _ => null,
    };

    /// <summary>A duration of at least <paramref name="min"/>.</summary>
    public static Func<object, string?> AtLeast(TimeSpan min) => v =>
        (TimeSpan)v >= min ? null : $"must be at least {(min.TotalSeconds >= 1 ? $"{min.TotalSeconds:0.###}s" : $"{min.TotalMilliseconds:0.###}ms")}";

    /// <summary>A fraction strictly between 0 and 1.</summary>
    public static Func<object, string?> Fraction => v => (double)v is > 0 and < 1 ? null : "must be a fraction strictly between 0 and 1 (like 0.5)";

    /// <summary>One of the given words.</summary>
    public static Func<object, string?> OneOf(params string[] allowed) => v =>
        allowed.Contains((string)v, StringComparer.Ordinal) ? null : $"'{v}' is not one of {string.Join(", ", allowed)}";

    /// <summary>A list with at least one item, none of them empty.</summary>
    public static Func<object, string?> NonEmptyList => v =>
        ((IReadOnlyList<string>)v) switch
        {
            { Count: 0 } => "must name at least one",
            var l when l.Any(string.IsNullOrWhiteSpace) => "must not contain an empty name",
            _ => null,
        };
}
