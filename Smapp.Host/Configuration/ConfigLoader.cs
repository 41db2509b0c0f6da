using Akka.Configuration;
using Akka.Configuration.Hocon;
using Smapp.Actors.Configuration;

namespace Smapp.Host.Configuration;

/// <summary>Reads the HOCON file, applies --policy and --set overrides, and validates everything under smapp.</summary>
public static class ConfigLoader
{
    /// <summary>The default configuration shipped next to the executable (HOCON/smapp.conf).</summary>
    public static string DefaultPath => Path.Combine(AppContext.BaseDirectory, "HOCON", "smapp.conf");

    /// <summary>Parses a HOCON file, resolving <c>include "relative.conf"</c> against the file's folder.</summary>
    public static Config ParseFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new ConfigError("--config", $"no such file: {path}");
        }

        var full = Path.GetFullPath(path);
        var text = File.ReadAllText(full);
        if (HoconSyntax.Check(text) is { } problem)
        {
            throw new ConfigError(path, $"not valid HOCON: {problem}");
        }

        try
        {
            return ConfigurationFactory.ParseString(text, Includer(Path.GetDirectoryName(full)!, 0));
        }
        catch (Exception e) when (e is not ConfigError)
        {
            throw new ConfigError(path, $"not valid HOCON: {e.Message}");
        }
    }

    private static Func<string, HoconRoot> Includer(string dir, int depth) => name =>
    {
        if (depth > 8)
        {
            throw new ConfigError(name, "includes nest deeper than 8");
        }

        var path = Path.GetFullPath(Path.Combine(dir, name.Trim('"')));
        if (!File.Exists(path))
        {
            throw new ConfigError($"include \"{name}\"", $"no such file: {path}");
        }

        var text = File.ReadAllText(path);
        if (HoconSyntax.Check(text) is { } problem)
        {
            throw new ConfigError(path, $"not valid HOCON: {problem}");
        }

        return Parser.Parse(text, Includer(Path.GetDirectoryName(path)!, depth + 1));
    };

    /// <summary>Layers the command line over the file: --set key=value (in order), then --policy.</summary>
    public static Config Overlay(Config file, string? policy, IEnumerable<string> sets)
    {
        var config = file;
        foreach (var set in sets)
        {
            var eq = set.IndexOf('=');
            if (eq <= 0)
            {
                throw new ConfigError("--set", $"'{set}' is not key=value");
            }

            var key = set[..eq].Trim();
            var value = set[(eq + 1)..].Trim();
            if (HoconSyntax.Check(value) is { } problem)
            {
                throw new ConfigError(key, $"--set value '{value}' is not valid HOCON: {problem[(problem.IndexOf(':') + 2)..]}");
            }

            Config fragment;
            try
            {
                fragment = ConfigurationFactory.ParseString($"{key} = {value}");
            }
            catch (Exception e)
            {
                throw new ConfigError(key, $"--set value '{value}' is not valid HOCON: {e.Message}");
            }

            config = fragment.WithFallback(config);
        }

        if (policy is not null)
        {
            config = ConfigurationFactory.ParseString($"smapp.policy = \"{policy}\"").WithFallback(config);
        }

        return config;
    }

    /// <summary>
    /// One warning per interface the configuration names that the namespace does not have now. A warning, not an error:
    /// an interface may come later (a modem, a VPN, a hot-plugged NIC) and is used as soon as it appears.
    /// </summary>
    public static IEnumerable<string> MissingInterfaces(SmappSettings settings, IReadOnlyCollection<string> present) =>
        settings.InterfaceNames
            .Where(n => !present.Contains(n.Interface))
            .Select(n => $"{n.Key}: no interface '{n.Interface}' in the namespace now (it has {string.Join(", ", present.Order())}); " +
                "it is used if it appears" + (SmappSettings.Nearest(n.Interface, present) is { } near ? $" (did you mean '{near}'?)" : ""));

    /// <summary>The keys a configuration may have at its top: Smapp's own, and Akka's (passed to the actor system).</summary>
    private static readonly string[] RootKeys = ["smapp", "akka"];

    public static (Config Config, SmappSettings Settings) Load(string? path, string? policy, IEnumerable<string> sets)
    {
        var config = Overlay(ParseFile(path ?? DefaultPath), policy, sets);
        if (!config.IsEmpty)
        {
            foreach (var key in config.Root.GetObject().Items.Keys)
            {
                if (!RootKeys.Contains(key))
                {
                    throw new ConfigError(key, SmappSettings.UnknownKey(key, RootKeys));
                }
            }
        }

        return (config, SmappSettings.FromConfig(config));
    }
}
