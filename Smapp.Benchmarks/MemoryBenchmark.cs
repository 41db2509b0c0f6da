using System.Collections.Immutable;
using System.Net;
using Akka.Actor;
using Akka.Configuration;
using Smapp.Actors;
using Smapp.Actors.Configuration;
using Smapp.Actors.Connections;
using Smapp.Actors.EventLoop;
using Smapp.Actors.Gateway;
using Smapp.Actors.Local;
using Smapp.Policy;
using Smapp.Netlink.Mptcp;

namespace Smapp.Benchmarks;

/// <summary>
/// Managed memory per managed connection: N connections go through the real supervisor and connection actors, fed
/// the kernel's events by a stand-in gateway that accepts every command and reports each created subflow as
/// established (the steady state of a busy host). Measured as the growth of the GC heap after full collections.
/// </summary>
public static class MemoryBenchmark
{
    public static void Run(int connections, IEnumerable<string> policies)
    {
        Console.WriteLine($"memory per connection, {connections} connections each (managed heap after a full GC)");
        foreach (var policy in policies)
        {
            var (direct, directSubflows) = MeasureDirect(connections, policy);
            var (bytes, subflows) = Measure(connections, policy, light: true);
            var (defaultBytes, _) = Measure(connections, policy, light: false);
            Console.WriteLine($"  {policy,-12} {directSubflows} subflow(s): {direct,6:0} bytes/connection as the daemon runs (direct, on the event loop)   " +
                $"by message with an actor each: {bytes:0} ({subflows} subflows; Akka's default mailbox: {defaultBytes:0})");
        }
    }

    private static (double Bytes, int Subflows) Measure(int n, string policy, bool light)
    {
        var system = ActorSystem.Create("memory", ConfigurationFactory.ParseString("akka.loglevel = WARNING").WithFallback(SmappRuntime.Hocon));
        try
        {
            var gateway = system.ActorOf(Props.Create(() => new AcceptingGateway()), "gateway");
            var supervisor = system.ActorOf(ConnectionSupervisor.Props(gateway, gateway, gateway, PolicySelector.Defaults(policy),
                new SupervisorSettings(null, false, Mailbox: light ? LightMailbox.ConfigPath : null)), "connections");
            gateway.Tell(supervisor);
            supervisor.Tell(new LocalAddressesProtocol.Snapshot([
                new LocalAddress(IPAddress.Parse("192.0.2.1"), 2, "wifi"), new LocalAddress(IPAddress.Parse("198.51.100.1"), 3, "cell")]));
            Thread.Sleep(300);
            var before = Heap();
            var server = IPAddress.Parse("203.0.113.1");
            var client = IPAddress.Parse("192.0.2.1");
            for (var i = 0; i < n; i++)
            {
                var created = new MptcpEvent
                {
                    Type = MptcpEventType.Created, Token = (uint)(i + 1), Family = 2, SourceAddress = new IPAddress(client.GetAddressBytes()),
                    DestinationAddress = new IPAddress(server.GetAddressBytes()), SourcePort = (ushort)(10000 + i % 50000), DestinationPort = 443, LocalId = 0, RemoteId = 0,
                };
                supervisor.Tell(created);
                supervisor.Tell(created with { Type = MptcpEventType.Established });
            }

            while (supervisor.Ask<ConnectionProtocol.ConnectionsState>(ConnectionProtocol.GetState.Instance).Result.Tokens.Count < n)
            {
                Thread.Sleep(100);
            }

            Thread.Sleep(1500);
            var after = Heap();
            var sample = supervisor.Ask<ConnectionProtocol.ConnectionState>(new ConnectionSupervisor.ToConnection(1, ConnectionProtocol.GetState.Instance)).Result;
            return ((after - before) / (double)n, sample.Subflows.Count);
        }
        finally
        {
            system.Terminate().Wait();
        }
    }

    /// <summary>
    /// The daemon's own wiring: supervisor and connections on an event loop, events by direct call, commands through a
    /// direct command path that accepts each create and reports it established. A connection that needs no timer
    /// has no actor.
    /// </summary>
    private static (double Bytes, int Subflows) MeasureDirect(int n, string policy)
    {
        using var loop = new NetlinkEventLoop("memory-loop");
        var system = ActorSystem.Create("memory-direct", ConfigurationFactory.ParseString("akka.loglevel = WARNING").WithFallback(SmappRuntime.Hocon));
        try
        {
            EventLoopDispatcherConfigurator.Register(system, "loop", loop);
            var subscribed = new TaskCompletionSource<IDirectEvents>();
            var gateway = system.ActorOf(Props.Create(() => new DirectGateway(loop, subscribed)).WithDispatcher("loop"), "gateway");
            var supervisor = system.ActorOf(ConnectionSupervisor.Props(gateway, gateway, null, PolicySelector.Defaults(policy),
                new SupervisorSettings("loop", false, Mailbox: LightMailbox.ConfigPath, Direct: true)), "connections");
            supervisor.Tell(new LocalAddressesProtocol.Snapshot([
                new LocalAddress(IPAddress.Parse("192.0.2.1"), 2, "wifi"), new LocalAddress(IPAddress.Parse("198.51.100.1"), 3, "cell")]));
            var direct = subscribed.Task.Result;
            supervisor.Ask<ConnectionProtocol.ConnectionsState>(ConnectionProtocol.GetState.Instance).Wait();
            Thread.Sleep(300);
            var before = Heap();
            var server = IPAddress.Parse("203.0.113.1");
            var client = IPAddress.Parse("192.0.2.1");
            for (var i = 0; i < n; i += 500)
            {
                var start = i;
                var batch = new ManualResetEventSlim();
                loop.Execute(new Runnable(() =>
                {
                    for (var j = start; j < Math.Min(n, start + 500); j++)
                    {
                        var created = new MptcpEvent
                        {
                            Type = MptcpEventType.Created, Token = (uint)(j + 1), Family = 2, SourceAddress = new IPAddress(client.GetAddressBytes()),
                            DestinationAddress = new IPAddress(server.GetAddressBytes()), SourcePort = (ushort)(10000 + j % 50000), DestinationPort = 443, LocalId = 0, RemoteId = 0,
                        };
                        direct.OnEvent(created);
                        direct.OnEvent(created with { Type = MptcpEventType.Established });
                    }

                    loop.Execute(new Runnable(batch.Set));
                }));
                batch.Wait();
            }

            while (supervisor.Ask<ConnectionProtocol.ConnectionsState>(ConnectionProtocol.GetState.Instance).Result.Tokens.Count < n)
            {
                Thread.Sleep(100);
            }

            Thread.Sleep(1500);
            var after = Heap();
            var sample = supervisor.Ask<ConnectionProtocol.ConnectionState>(new ConnectionSupervisor.ToConnection(1, ConnectionProtocol.GetState.Instance)).Result;
            return ((after - before) / (double)n, sample.Subflows.Count);
        }
        finally
        {
            system.Terminate().Wait();
        }
    }

    private sealed class Runnable(Action action) : Akka.Dispatch.IRunnable
    {
        public void Run() => action();

#pragma warning disable CS0618
        public void Execute() => action();
#pragma warning restore CS0618
    }

    /// <summary>The direct command path of <see cref="DirectGateway"/>: accepts a create, then reports it established.</summary>
    private sealed class DirectCommands(NetlinkEventLoop loop, Func<IDirectEvents> events) : IDirectCommands
    {
        private int _port = 20000;

        public void Send(GatewayProtocol.PmCommand command, ICommandReplies replyTo)
        {
            var port = (ushort)(_port++ % 40000 + 20000);
            loop.Execute(new Runnable(() =>
            {
                replyTo.OnResult(new GatewayProtocol.CommandResult(command, 0, null));
                if (command is GatewayProtocol.CreateSubflow c)
                {
                    events().OnEvent(new MptcpEvent
                    {
                        Type = MptcpEventType.SubEstablished, Token = c.Token, Family = 2, SourceAddress = c.Local.Address, DestinationAddress = c.Remote.Address,
                        SourcePort = port, DestinationPort = c.Remote.Port, LocalId = c.Local.Id, RemoteId = 0, Backup = false,
                    });
                }
            }));
        }
    }

    private sealed class DirectGateway : ReceiveActor
    {
        public DirectGateway(NetlinkEventLoop loop, TaskCompletionSource<IDirectEvents> subscribed)
        {
            IDirectEvents? direct = null;
            Receive<GatewayProtocol.SubscribeEvents>(s =>
            {
                direct = s.Direct!;
                s.Subscriber.Tell(new GatewayProtocol.EventsSubscribed(new DirectCommands(loop, () => direct!)));
                subscribed.SetResult(direct);
            });
            ReceiveAny(_ => { });
        }
    }

    private static long Heap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(true);
    }

    /// <summary>Accepts every command; reports each created subflow as established, with a fresh port.</summary>
    private sealed class AcceptingGateway : ReceiveActor
    {
        private IActorRef _supervisor = ActorRefs.Nobody;
        private int _port = 20000;

        public AcceptingGateway()
        {
            Receive<IActorRef>(s => _supervisor = s);
            Receive<GatewayProtocol.CreateSubflow>(c =>
            {
                Sender.Tell(new GatewayProtocol.CommandResult(c, 0, null));
                _supervisor.Tell(new MptcpEvent
                {
                    Type = MptcpEventType.SubEstablished, Token = c.Token, Family = 2, SourceAddress = c.Local.Address, DestinationAddress = c.Remote.Address,
                    SourcePort = (ushort)(_port++ % 40000 + 20000), DestinationPort = c.Remote.Port, LocalId = c.Local.Id, RemoteId = 0, Backup = false,
                });
            });
            ReceiveAny(_ => { });
        }
    }
}
