using System.Net;
using Smapp.Policy;

namespace Smapp.Actors.Configuration;

/// <summary>One rule of smapp.rules: every condition given must hold; the first matching rule picks the policy.</summary>
public sealed record PolicyRule(string Name, Side? Side, IReadOnlySet<ushort>? RemotePorts, IPNetwork? RemotePrefix, IPNetwork? LocalPrefix, string Policy)
{
    public bool Matches(Side side, Endpoint local, Endpoint remote) =>
        (Side is null || Side == side) &&
        (RemotePorts is null || RemotePorts.Contains(remote.Port)) &&
        (RemotePrefix is null || RemotePrefix.Value.Contains(AddressForm.Canonical(remote.Address))) &&
        (LocalPrefix is null || LocalPrefix.Value.Contains(AddressForm.Canonical(local.Address)));
}

/// <summary>Picks each connection's policy by the rules, with the configured parameters of that policy.</summary>
public sealed class PolicySelector
{
    private readonly IReadOnlyDictionary<string, (PolicyDefinition Definition, PolicyParameters Parameters)> _policies;

    public PolicySelector(string defaultPolicy, IReadOnlyList<PolicyRule> rules, IReadOnlyDictionary<string, (PolicyDefinition Definition, PolicyParameters Parameters)> policies)
    {
        DefaultPolicy = defaultPolicy;
        Rules = rules;
        _policies = policies;
        foreach (var name in rules.Select(r => r.Policy).Append(defaultPolicy))
        {
            if (!policies.ContainsKey(name))
            {
                throw new ArgumentException($"unknown policy {name}");
            }
        }
    }

    public string DefaultPolicy { get; }

    public IReadOnlyList<PolicyRule> Rules { get; }

    /// <summary>A selector with every built-in policy at its defaults.</summary>
    public static PolicySelector Defaults(string defaultPolicy = "fullmesh", params PolicyRule[] rules) =>
        new(defaultPolicy, rules, BuiltInPolicies.All.ToDictionary(kv => kv.Key, kv => (kv.Value, PolicyParameters.Defaults(kv.Value.Parameters))));

    /// <summary>A selector whose every connection gets the given policy instances (tests and embedding).</summary>
    public static PolicySelector Of(string name, Func<SubflowPolicy> create) =>
        new(name, [], new Dictionary<string, (PolicyDefinition, PolicyParameters)>
        {
            [name] = (new PolicyDefinition(name, "custom", [], _ => create()), PolicyParameters.Defaults([])),
        });

    /// <summary>The policy for a connection. Choices are made once per rule and shared by every connection it picks.</summary>
    public PolicyChoice Select(Side side, Endpoint local, Endpoint remote)
    {
        var rule = Rules.FirstOrDefault(r => r.Matches(side, local, remote));
        var key = rule?.Name ?? "default";
        lock (_choices)
        {
            if (_choices.TryGetValue(key, out var cached))
            {
                return cached;
            }

            var name = rule?.Policy ?? DefaultPolicy;
            var (definition, parameters) = _policies[name];
            var sample = definition.Create(parameters);
            var choice = new PolicyChoice(name, () => definition.Create(parameters), sample.Subscriptions, sample.SampleInterval, key);
            _choices[key] = choice;
            return choice;
        }
    }

    private readonly Dictionary<string, PolicyChoice> _choices = [];

    /// <summary>
    /// A choice made for one connection on an application's request: <paramref name="name"/> with its configured
    /// parameters, and <paramref name="parameters"/> (HOCON values as text: "3", "500ms", "[wifi, eth0]") over them,
    /// checked as smapp.policies.NAME.KEY would be. A bad name, key or value is a <see cref="ConfigError"/>.
    /// </summary>
    public PolicyChoice Custom(string name, IReadOnlyDictionary<string, string> parameters, string rule)
    {
        if (!_policies.TryGetValue(name, out var entry))
        {
            throw new ConfigError("policy", $"no policy named '{name}' (known: {string.Join(", ", _policies.Keys.Order())})");
        }

        var (definition, configured) = entry;
        var merged = configured;
        if (parameters.Count > 0)
        {
            var hocon = new System.Text.StringBuilder();
            foreach (var (key, value) in parameters)
            {
                if (key.Length == 0 || !key.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
                {
                    throw new ConfigError($"smapp.policies.{name}.{key}", "not a parameter name (letters, digits and '-')");
                }

                var v = value.TrimStart().StartsWith('[') ? value : System.Text.Json.JsonSerializer.Serialize(value);
                hocon.Append(key).Append(" = ").Append(v).Append('\n');
            }

            Akka.Configuration.Config section;
            try
            {
                section = Akka.Configuration.ConfigurationFactory.ParseString(hocon.ToString());
            }
            catch (Exception e)
            {
                throw new ConfigError($"smapp.policies.{name}", $"the parameters do not parse: {e.Message}");
            }

            var parsed = SmappSettings.ParseParameters(section, $"smapp.policies.{name}", definition.Parameters);
            foreach (var key in parameters.Keys)
            {
                merged = merged.With(key, parsed.All[key]);
            }
        }

        var p = merged;
        var sample = definition.Create(p);
        return new PolicyChoice(name, () => definition.Create(p), sample.Subscriptions, sample.SampleInterval, rule);
    }
}
