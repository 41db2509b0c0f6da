namespace Smapp.Actors.Configuration;

/// <summary>A configuration problem, naming the key and the reason.</summary>
public sealed class ConfigError(string key, string reason) : Exception($"{key}: {reason}")
{
    public string Key { get; } = key;

    public string Reason { get; } = reason;
}
