using System.Net;
using Akka.Configuration;
using Akka.Configuration.Hocon;
using Smapp.Policy;

namespace Smapp.Actors.Configuration;

/// <summary>
/// Everything under <c>smapp</c> in the HOCON configuration, parsed and checked: a bad key or value is a
/// <see cref="ConfigError"/> that names the key and the reason, before anything touches the kernel.
/// </summary>
public sealed record SmappSettings(
    PolicySelector Selector,
    GatewaySettings Gateway,
    bool Takeover,
    bool SwitchPathManager,
    bool BusyPoll,
    IReadOnlyList<string> Interfaces,
    TimeSpan SampleInterval,
    bool DecisionsAtInfo = false)
{
    /// <summary>
    /// Every interface name the configuration relies on, with the key that names it: smapp.interfaces and the interface
    /// lists of the policies in use (the default policy and those rules pick). `smapp run` warns about those missing
    /// from the namespace at start (an interface may come later: a modem, a VPN).
    /// </summary>
    public IReadOnlyList<(string Key, string Interface)> InterfaceNames { get; init; } = [];

    /// <summary>smapp.gateway.realtime-priority: the event-loop thread's SCHED_FIFO priority, 0 for the ordinary class.</summary>
    public int RealtimePriority { get; init; }

    /// <summary>The longest command timeout: a command unanswered for longer holds its connection's pending entry.</summary>
    public static readonly TimeSpan MaxCommandTimeout = TimeSpan.FromMinutes(5);

    private static readonly string[] TopKeys = ["policy", "rules", "policies", "gateway", "sampler", "takeover", "switch-path-manager", "interfaces", "decision-log",
        "status", "metrics", "app-api"]; // status, metrics, app-api: read by the host (Smapp.Host/Configuration/OperationsSettings.cs)
    private static readonly string[] SamplerKeys = ["interval"];
    private static readonly string[] RuleKeys = ["name", "side", "remote-port", "remote-prefix", "local-prefix", "policy"];
    private static readonly string[] GatewayKeys = ["receive-buffer", "command-timeout", "busy-poll", "realtime-priority"];

    public static SmappSettings FromConfig(Config root, IReadOnlyDictionary<string, PolicyDefinition>? registry = null)
    {
        registry ??= BuiltInPolicies.All;
        if (!root.HasPath("smapp"))
        {
            throw new ConfigError("smapp", "missing: the configuration has no smapp section");
        }

        var smapp = root.GetConfig("smapp");
        CheckKeys(smapp, "smapp", TopKeys);

        var policies = new Dictionary<string, (PolicyDefinition, PolicyParameters)>();
        var policiesConfig = smapp.HasPath("policies") ? smapp.GetConfig("policies") : ConfigurationFactory.Empty;
        if (smapp.HasPath("policies"))
        {
            foreach (var name in Keys(policiesConfig))
            {
                if (!registry.ContainsKey(name))
                {
                    throw new ConfigError($"smapp.policies.{name}", $"no policy named '{name}' (known: {string.Join(", ", registry.Keys)})");
                }
            }
        }

        foreach (var (name, def) in registry)
        {
            var section = policiesConfig.HasPath(name) ? policiesConfig.GetConfig(name) : ConfigurationFactory.Empty;
            policies[name] = (def, ParseParameters(section, $"smapp.policies.{name}", def.Parameters));
        }

        var defaultPolicy = String(smapp, "smapp.policy", "policy", "fullmesh");
        if (!registry.ContainsKey(defaultPolicy))
        {
            throw new ConfigError("smapp.policy", $"no policy named '{defaultPolicy}' (known: {string.Join(", ", registry.Keys)})");
        }

        var rules = new List<PolicyRule>();
        if (smapp.HasPath("rules"))
        {
            var items = ArrayOf(smapp.GetValue("rules"))
                ?? throw new ConfigError("smapp.rules", "must be a list of rules: [ { side = server, policy = passive } ]");
            var i = 0;
            foreach (var item in items)
            {
                var key = $"smapp.rules[{i}]";
                if (!item.IsObject())
                {
                    throw new ConfigError(key, "must be an object like { remote-port = 443, policy = backup }");
                }

                var rule = ParseRule(new Config(new HoconRoot(item)), key, registry, i);

                // A rule's name keys its policy choice (shared by the connections it picks), as "default" keys the default's.
                var same = rules.FindIndex(r => r.Name == rule.Name);
                if (same >= 0 || rule.Name == "default")
                {
                    throw new ConfigError($"{key}.name", same >= 0
                        ? $"'{rule.Name}' is already the name of smapp.rules[{same}]: rule names must be unique"
                        : "'default' is the name of the default choice (smapp.policy): give the rule another name");
                }

                rules.Add(rule);
                i++;
            }
        }

        var gateway = smapp.HasPath("gateway") ? smapp.GetConfig("gateway") : ConfigurationFactory.Empty;
        CheckKeys(gateway, "smapp.gateway", GatewayKeys);
        var receiveBuffer = Bytes(gateway, "smapp.gateway.receive-buffer", "receive-buffer", 8L * 1024 * 1024);
        if (receiveBuffer is < 64 * 1024 or > int.MaxValue)
        {
            throw new ConfigError("smapp.gateway.receive-buffer", "must be between 64KiB and 2GiB");
        }

        var commandTimeout = Duration(gateway, "smapp.gateway.command-timeout", "command-timeout", TimeSpan.FromSeconds(5));
        if (commandTimeout > MaxCommandTimeout)
        {
            throw new ConfigError("smapp.gateway.command-timeout", $"'{gateway.GetString("command-timeout")}' is too long: at most 5m (a command the kernel does not answer holds its connection's pending entry that long)");
        }

        var realtimePriority = Int(gateway, "smapp.gateway.realtime-priority", "realtime-priority", 10);
        if (realtimePriority is < 0 or > 99)
        {
            throw new ConfigError("smapp.gateway.realtime-priority", $"{realtimePriority} is out of range: 1-99 runs the event loop in SCHED_FIFO at that priority, 0 in the ordinary class");
        }

        var sampler = smapp.HasPath("sampler") ? smapp.GetConfig("sampler") : ConfigurationFactory.Empty;
        CheckKeys(sampler, "smapp.sampler", SamplerKeys);
        var interval = Duration(sampler, "smapp.sampler.interval", "interval", TimeSpan.FromMilliseconds(100));
        if (interval < TimeSpan.FromMilliseconds(10))
        {
            throw new ConfigError("smapp.sampler.interval", "must be at least 10ms (every tick dumps every subflow of the namespace)");
        }
        var decisionLog = String(smapp, "smapp.decision-log", "decision-log", "debug");
        if (decisionLog is not ("debug" or "info"))
        {
            throw new ConfigError("smapp.decision-log", $"must be debug or info, not '{decisionLog}'");
        }

        var inUse = rules.Select(r => r.Policy).Append(defaultPolicy).Distinct();
        var interfaceNames = StringList(smapp, "smapp.interfaces", "interfaces").Select(i => ("smapp.interfaces", i)).ToList();
        foreach (var name in inUse)
        {
            var (def, parameters) = policies[name];
            foreach (var spec in def.Parameters.Where(p => p.Kind == ParameterKind.StringList && p.Name.EndsWith("interfaces", StringComparison.Ordinal)))
            {
                interfaceNames.AddRange(parameters.List(spec.Name).Select(i => ($"smapp.policies.{name}.{spec.Name}", i)));
            }
        }

        return new SmappSettings(
            new PolicySelector(defaultPolicy, rules, policies),
            new GatewaySettings((int)receiveBuffer, commandTimeout),
            Bool(smapp, "smapp.takeover", "takeover", true),
            Bool(smapp, "smapp.switch-path-manager", "switch-path-manager", false),
            Bool(gateway, "smapp.gateway.busy-poll", "busy-poll", false),
            StringList(smapp, "smapp.interfaces", "interfaces"),
            interval,
            decisionLog == "info")
        {
            InterfaceNames = interfaceNames,
            RealtimePriority = realtimePriority,
        };
    }

    private static PolicyRule ParseRule(Config rule, string key, IReadOnlyDictionary<string, PolicyDefinition> registry, int index)
    {
        CheckKeys(rule, key, RuleKeys);
        if (!rule.HasPath("policy"))
        {
            throw new ConfigError($"{key}.policy", "missing: every rule names the policy it picks");
        }

        var policy = rule.GetString("policy");
        if (!registry.ContainsKey(policy))
        {
            throw new ConfigError($"{key}.policy", $"no policy named '{policy}' (known: {string.Join(", ", registry.Keys)})");
        }

        Side? side = null;
        if (rule.HasPath("side"))
        {
            side = rule.GetString("side") switch
            {
                "client" => Side.Client,
                "server" => Side.Server,
                var other => throw new ConfigError($"{key}.side", $"'{other}' is not a side: use client or server"),
            };
        }

        HashSet<ushort>? ports = null;
        if (rule.HasPath("remote-port"))
        {
            var v = rule.GetValue("remote-port");
            var raw = ArrayOf(v) is { } list ? list.Select(x => x.GetString()).ToList() : [v.GetString()];
            ports = [];
            foreach (var p in raw)
            {
                if (!ushort.TryParse(p, out var port) || port == 0)
                {
                    throw new ConfigError($"{key}.remote-port", $"'{p}' is not a port (1-65535)");
                }

                ports.Add(port);
            }
        }

        return new PolicyRule(
            rule.HasPath("name") ? rule.GetString("name") : $"rule {index}",
            side, ports, Prefix(rule, $"{key}.remote-prefix", "remote-prefix"), Prefix(rule, $"{key}.local-prefix", "local-prefix"), policy);
    }

    private static IPNetwork? Prefix(Config c, string key, string path)
    {
        if (!c.HasPath(path))
        {
            return null;
        }

        var s = c.GetString(path);
        return IPNetwork.TryParse(s, out var n) ? n : throw new ConfigError(key, $"'{s}' is not an address prefix (like 203.0.113.0/24 or 2001:db8::/32)");
    }

    /// <summary>Reads each declared parameter with its type and default; unknown keys and bad values are errors.</summary>
    public static PolicyParameters ParseParameters(Config section, string prefix, IReadOnlyList<ParameterSpec> specs)
    {
        CheckKeys(section, prefix, specs.Select(s => s.Name).ToArray());
        var values = new Dictionary<string, object>();
        foreach (var spec in specs)
        {
            var key = $"{prefix}.{spec.Name}";
            object value = spec.Kind switch
            {
                ParameterKind.Int => Int(section, key, spec.Name, (int)spec.Default),
                ParameterKind.Double => Double(section, key, spec.Name, (double)spec.Default),
                ParameterKind.Duration => Duration(section, key, spec.Name, (TimeSpan)spec.Default),
                ParameterKind.Bool => Bool(section, key, spec.Name, (bool)spec.Default),
                ParameterKind.String => String(section, key, spec.Name, (string)spec.Default),
                ParameterKind.StringList => section.HasPath(spec.Name) ? StringList(section, key, spec.Name) : spec.Default,
                _ => throw new ArgumentOutOfRangeException(nameof(specs)),
            };
            if (spec.Validate?.Invoke(value) is { } problem)
            {
                throw new ConfigError(key, problem);
            }

            values[spec.Name] = value;
        }

        return new PolicyParameters(values);
    }

    /// <summary>
    /// The items of a HOCON list. Akka's parser keeps the blanks after "[]" as a second value, so an empty list is
    /// not IsArray(); accept an array followed only by whitespace.
    /// </summary>
    private static IList<HoconValue>? ArrayOf(HoconValue value)
    {
        if (value.IsArray())
        {
            return value.GetArray();
        }

        var arrays = value.Values.OfType<HoconArray>().ToList();
        return arrays.Count == 1 && value.Values.All(v => v is HoconArray || v is HoconLiteral { Value: var s } && string.IsNullOrWhiteSpace(s))
            ? arrays[0]
            : null;
    }

    private static IEnumerable<string> Keys(Config c) => c.IsEmpty ? [] : c.Root.GetObject().Items.Keys;

    private static void CheckKeys(Config c, string prefix, string[] known)
    {
        foreach (var k in Keys(c))
        {
            if (!known.Contains(k))
            {
                throw new ConfigError($"{prefix}.{k}", UnknownKey(k, known));
            }
        }
    }

    /// <summary>"unknown key (did you mean 'policy'? known here: ...)": the nearest known name by edit distance, when one is near.</summary>
    public static string UnknownKey(string key, IReadOnlyCollection<string> known)
    {
        var nearest = Nearest(key, known);
        var list = known.Count == 0 ? "none" : string.Join(", ", known);
        return nearest is null ? $"unknown key (known here: {list})" : $"unknown key (did you mean '{nearest}'? known here: {list})";
    }

    /// <summary>The known name nearest to <paramref name="key"/> (Levenshtein), if it is within a third of its length (at least 2 edits).</summary>
    public static string? Nearest(string key, IEnumerable<string> known)
    {
        var best = known
            .Select(k => (Name: k, Distance: Quickenshtein.Levenshtein.GetDistance(key.ToLowerInvariant(), k.ToLowerInvariant())))
            .OrderBy(x => x.Distance)
            .FirstOrDefault();
        return best.Name is not null && best.Distance <= Math.Max(2, key.Length / 3) ? best.Name : null;
    }

    private static T Get<T>(Config c, string key, string path, T fallback, Func<Config, string, T> read, string expected)
    {
        if (c.IsEmpty || !c.HasPath(path))
        {
            return fallback;
        }

        try
        {
            return read(c, path);
        }
        catch (Exception e) when (e is FormatException or ConfigurationException or InvalidCastException or OverflowException or ArgumentException)
        {
            string shown;
            try
            {
                shown = c.GetString(path);
            }
            catch
            {
                shown = "(not a single value)";
            }

            throw new ConfigError(key, $"'{shown}' is not {expected}");
        }
    }

    private static int Int(Config c, string key, string path, int fallback) =>
        Get(c, key, path, fallback, (x, p) => int.Parse(x.GetString(p), System.Globalization.CultureInfo.InvariantCulture), "a whole number");

    private static double Double(Config c, string key, string path, double fallback) =>
        Get(c, key, path, fallback, (x, p) => double.Parse(x.GetString(p), System.Globalization.CultureInfo.InvariantCulture), "a number");

    private static bool Bool(Config c, string key, string path, bool fallback) =>
        Get(c, key, path, fallback, (x, p) => x.GetString(p) switch
        {
            "on" or "true" or "yes" => true,
            "off" or "false" or "no" => false,
            var v => throw new FormatException(v),
        }, "on or off");

    private static string String(Config c, string key, string path, string fallback) =>
        Get(c, key, path, fallback, (x, p) => x.GetString(p) ?? throw new FormatException(), "a string");

    /// <summary>A duration with a unit; every duration Smapp reads must be more than 0.</summary>
    private static TimeSpan Duration(Config c, string key, string path, TimeSpan fallback)
    {
        var negative = false;
        var d = Get(c, key, path, fallback, (x, p) =>
        {
            var s = x.GetString(p)?.Trim();
            if (string.IsNullOrEmpty(s) || !char.IsLetter(s[^1]))
            {
                throw new FormatException("a duration needs a unit");
            }

            if (s.StartsWith('-'))
            {
                // Akka's parser does not read a sign; read the magnitude to tell "negative" from "not a duration".
                negative = true;
                return ConfigurationFactory.ParseString($"d = {s[1..]}").GetTimeSpan("d", null, allowInfinite: false);
            }

            return x.GetTimeSpan(p, null, allowInfinite: false);
        }, "a duration with a unit (500ms, 2s, 1m)");
        if (negative)
        {
            throw new ConfigError(key, $"'{c.GetString(path)}' is negative: a duration here must be more than 0");
        }

        if (d <= TimeSpan.Zero && c.HasPath(path))
        {
            throw new ConfigError(key, $"'{c.GetString(path)}' is zero: a duration here must be more than 0");
        }

        return d;
    }

    private static long Bytes(Config c, string key, string path, long fallback) =>
        Get(c, key, path, fallback, (x, p) => x.GetByteSize(p) ?? throw new FormatException(), "a size (8MiB, 262144)");

    /// <summary>A list of names: a string where a list is expected (interfaces = eth0) is an error, not a list of one.</summary>
    private static IReadOnlyList<string> StringList(Config c, string key, string path)
    {
        if (c.IsEmpty || !c.HasPath(path))
        {
            return [];
        }

        var items = ArrayOf(c.GetValue(path));
        if (items is null)
        {
            string shown;
            try
            {
                shown = c.GetString(path);
            }
            catch
            {
                shown = "(not a single value)";
            }

            throw new ConfigError(key, $"'{shown}' is not a list: write a list, like [{(string.IsNullOrWhiteSpace(shown) || shown.StartsWith('(') ? "eth0, wlan0" : shown)}]");
        }

        var list = new List<string>();
        foreach (var item in items)
        {
            if (!item.IsString() || item.IsArray() || item.IsObject())
            {
                throw new ConfigError(key, "every item must be a name (a string), like [eth0, wlan0]");
            }

            var name = item.GetString();
            if (string.IsNullOrWhiteSpace(name))
            {
                throw new ConfigError(key, "an item is empty: every item must be a name");
            }

            list.Add(name);
        }

        return list;
    }
}
