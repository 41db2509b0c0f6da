using System.Configuration.Internal;
using System.Reflection;

namespace Smapp.Host.Configuration;

/// <summary>
/// Akka reads an <c>akka</c> section from the .NET app.config at every ActorSystem.Create, even when it is given its
/// whole configuration (ActorSystem.Create(name, setup) evaluates ConfigurationFactory.Load() eagerly). Smapp has no
/// app.config, but finding that out loads System.Configuration with its XML reader, a strong-name hash through
/// OpenSSL, and the web-request stack: about 10 MB resident for an idle daemon, and a second of start-up. This puts an
/// empty configuration system in its place before Akka starts, through the one hook System.Configuration has
/// (internal ConfigurationManager.SetConfigurationSystem); if that hook is not there, nothing changes.
/// </summary>
internal static class NoAppConfig
{
    private sealed class Empty : IInternalConfigSystem
    {
        public object? GetSection(string configKey) => null;

        public void RefreshConfig(string sectionName)
        {
        }

        public bool SupportsUserConfig => false;
    }

    /// <summary>True when the empty configuration system is in place.</summary>
    public static bool Install()
    {
        var set = typeof(System.Configuration.ConfigurationManager).GetMethod("SetConfigurationSystem", BindingFlags.NonPublic | BindingFlags.Static,
            [typeof(IInternalConfigSystem), typeof(bool)]);
        if (set is null)
        {
            return false;
        }

        try
        {
            set.Invoke(null, [new Empty(), true]);
            return true;
        }
        catch (TargetInvocationException)
        {
            return false; // already initialised by someone: it keeps the real one
        }
    }
}
