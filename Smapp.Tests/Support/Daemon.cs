using Akka.Actor;
using Akka.Configuration;
using Smapp.Actors;
using Smapp.Actors.Configuration;
using Smapp.Actors.Connections;
using Smapp.Netlink;

namespace Smapp.Tests.Support;

/// <summary>The controller running in-process for one test namespace, on the real kernel.</summary>
public sealed class Daemon : IDisposable
{
    private Daemon(ActorSystem system, SmappRuntime runtime)
    {
        System = system;
        Runtime = runtime;
    }

    public ActorSystem System { get; }

    public SmappRuntime Runtime { get; }

    public static Daemon Start(string netns, string hocon = "") => Start(netns, hocon, null);

    /// <summary>A daemon whose every connection gets the given policy (for policies written in a test).</summary>
    public static Daemon Start(string netns, Func<Smapp.Policy.SubflowPolicy> policy) =>
        Start(netns, "", PolicySelector.Of("test-policy", policy));

    private static Daemon Start(string netns, string hocon, PolicySelector? selector)
    {
        var config = ConfigurationFactory.ParseString(hocon)
            .WithFallback(ConfigurationFactory.ParseString("smapp { policy = fullmesh, rules = [ { side = server, policy = passive } ], decision-log = info }"));
        var settings = SmappSettings.FromConfig(config);
        if (selector is not null)
        {
            settings = settings with { Selector = selector };
        }
        var system = ActorSystem.Create("smapp-test", ConfigurationFactory.ParseString("akka.loglevel = INFO\nakka.stdout-loglevel = WARNING").WithFallback(SmappRuntime.Hocon));
        try
        {
            return new Daemon(system, SmappRuntime.Start(system, settings, NetworkNamespace.Named(netns)));
        }
        catch
        {
            system.Terminate().Wait(TimeSpan.FromSeconds(5));
            throw;
        }
    }

    public ConnectionProtocol.ConnectionState State(uint token) =>
        Runtime.Supervisor.Ask<ConnectionProtocol.ConnectionState>(new ConnectionSupervisor.ToConnection(token, ConnectionProtocol.GetState.Instance), TimeSpan.FromSeconds(10)).Result;

    public ConnectionProtocol.ConnectionsState Connections() =>
        Runtime.Supervisor.Ask<ConnectionProtocol.ConnectionsState>(ConnectionProtocol.GetState.Instance, TimeSpan.FromSeconds(10)).Result;

    public void Dispose()
    {
        System.Terminate().Wait(TimeSpan.FromSeconds(10));
        Runtime.Dispose();
    }
}
