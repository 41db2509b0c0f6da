using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;

namespace Smapp.Actors.EventLoop;

/// <summary>An Akka executor whose thread is the netlink event loop.</summary>
public sealed class EventLoopExecutor(string id, NetlinkEventLoop loop) : ExecutorService(id)
{
    public override void Execute(IRunnable run) => loop.Execute(run);

    /// <summary>The loop belongs to whoever made it; the dispatcher does not stop it.</summary>
    public override void Shutdown()
    {
    }
}

/// <summary>Makes the dispatcher that runs actors on a <see cref="NetlinkEventLoop"/>.</summary>
public sealed class EventLoopDispatcherConfigurator : MessageDispatcherConfigurator
{
    private readonly MessageDispatcher _dispatcher;

    public EventLoopDispatcherConfigurator(string id, NetlinkEventLoop loop, IDispatcherPrerequisites prerequisites, int throughput)
        : base(ConfigurationFactory.ParseString($"id = \"{id}\", throughput = {throughput}"), prerequisites)
    {
        Loop = loop;
        _dispatcher = new Dispatcher(this, id, throughput, null, new Factory(id, loop), TimeSpan.FromSeconds(1));
    }

    public NetlinkEventLoop Loop { get; }

    public override MessageDispatcher Dispatcher() => _dispatcher;

    private sealed class Factory(string id, NetlinkEventLoop loop) : ExecutorServiceFactory
    {
        public override ExecutorService Produce(string _) => new EventLoopExecutor(id, loop);
    }

    /// <summary>
    /// Registers a dispatcher named <paramref name="id"/> on <paramref name="system"/> that runs its actors on
    /// <paramref name="loop"/>. Actors opt in with <c>Props.WithDispatcher(id)</c>.
    /// </summary>
    public static void Register(ActorSystem system, string id, NetlinkEventLoop loop, int throughput = 64)
    {
        var configurator = new EventLoopDispatcherConfigurator(id, loop, system.Dispatchers.Prerequisites, throughput);
        if (!system.Dispatchers.RegisterConfigurator(id, configurator))
        {
            throw new InvalidOperationException($"a dispatcher named {id} is already registered");
        }
    }
}
