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
        try
        {
            return ConfigurationFactory.ParseString(File.ReadAllText(full), Includer(Path.GetDirectoryName(full)!, 0));
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

        return Parser.Parse(File.ReadAllText(path), Includer(Path.GetDirectoryName(path)!, depth + 1));
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

    public static (Config Config, SmappSettings Settings) Load(string? path, string? policy, IEnumerable<string> sets)
    {
        var config = Overlay(ParseFile(path ?? DefaultPath), policy, sets);
        return (config, SmappSettings.FromConfig(config));
    }
}
