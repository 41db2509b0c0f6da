using Akka.Actor;
using Smapp.Actors.Configuration;
using Smapp.Actors.Connections;
using Smapp.Actors.EventLoop;
using Smapp.Actors.Gateway;
using Smapp.Actors.Local;
using Smapp.Actors.Sampling;
using Smapp.Netlink;

namespace Smapp.Actors;

/// <summary>
/// The running controller inside an actor system: the netlink event loop and its dispatcher, the gateway, the
/// local addresses, the sampler and the connection supervisor, wired as the design card draws them.
/// </summary>
public sealed class SmappRuntime : IDisposable
{
    public const string LoopDispatcher = "smapp-netlink-loop";

    private SmappRuntime(NetlinkEventLoop loop, IActorRef gateway, IActorRef localAddresses, IActorRef sampler, IActorRef supervisor, GatewayCounters counters)
    {
        Counters = counters;
        Loop = loop;
        Gateway = gateway;
        LocalAddresses = localAddresses;
        Sampler = sampler;
        Supervisor = supervisor;
    }

    public NetlinkEventLoop Loop { get; }

    public IActorRef Gateway { get; }

    public IActorRef LocalAddresses { get; }

    public IActorRef Sampler { get; }

    public IActorRef Supervisor { get; }

    /// <summary>The gateway's counters (events, command outcomes, resyncs, dropped and malformed messages).</summary>
    public GatewayCounters Counters { get; }

    /// <summary>
    /// The actor-system configuration Smapp wants: the light mailbox of its connection actors, and a scheduler that
    /// sleeps until its next deadline instead of ticking (an idle daemon wakes for nothing).
    /// </summary>
    public static Akka.Configuration.Config Hocon => Akka.Configuration.ConfigurationFactory.ParseString(
        $"akka.scheduler.implementation = \"{typeof(DeadlineScheduler).AssemblyQualifiedName}\"").WithFallback(LightMailbox.Hocon);

    /// <summary>
    /// Starts the controller for the connections of <paramref name="ns"/>. The gateway, the supervisor and every
    /// connection run on the event loop; the sampler on the default dispatcher.
    /// </summary>
    public static SmappRuntime Start(ActorSystem system, SmappSettings settings, NetworkNamespace ns, string dispatcherId = LoopDispatcher, GatewayCounters? counters = null)
    {
        counters ??= new GatewayCounters();
        var loop = new NetlinkEventLoop(busyPoll: settings.BusyPoll, ns: ns, realtimePriority: settings.RealtimePriority);
        try
        {
            EventLoopDispatcherConfigurator.Register(system, dispatcherId, loop);
            var gateway = system.ActorOf(NetlinkGateway.Props(settings.Gateway, ns, dispatcherId, counters), "gateway");
            var interfaces = settings.Interfaces;
            var local = system.ActorOf(Local.LocalAddresses.Props(gateway, dispatcherId,
                interfaces.Count == 0 ? null : (_, link) => link?.Name is { } name && interfaces.Contains(name)), "local-addresses");
            var sampler = system.ActorOf(Sampling.Sampler.Props(gateway), "sampler");
            var mailbox = system.Settings.Config.HasPath(LightMailbox.ConfigPath) ? LightMailbox.ConfigPath : null;
            var supervisor = system.ActorOf(ConnectionSupervisor.Props(gateway, local, sampler, settings.Selector,
                new SupervisorSettings(dispatcherId, settings.Takeover, Mailbox: mailbox, SampleInterval: settings.SampleInterval, Direct: true, DecisionsAtInfo: settings.DecisionsAtInfo)), "connections");
            return new SmappRuntime(loop, gateway, local, sampler, supervisor, counters);
        }
        catch
        {
            loop.Dispose();
            throw;
        }
    }

    public void Dispose() => Loop.Dispose();
}
