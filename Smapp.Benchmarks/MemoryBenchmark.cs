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
            var (bytes, subflows) = Measure(connections, policy, light: true);
            var (defaultBytes, _) = Measure(connections, policy, light: false);
            Console.WriteLine($"  {policy,-12} {subflows} subflow(s): {bytes,6:0} bytes/connection   (with Akka's default mailbox: {defaultBytes:0})");
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
