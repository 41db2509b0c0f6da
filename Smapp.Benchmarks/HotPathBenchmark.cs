using System.Collections.Immutable;
using System.Diagnostics;
using System.Net;
using Akka.Actor;
using Akka.Configuration;
using Smapp.Actors;
using Smapp.Actors.Configuration;
using Smapp.Actors.Connections;
using Smapp.Actors.EventLoop;
using Smapp.Actors.Gateway;
using Smapp.Actors.Local;
using Smapp.Netlink.Mptcp;
using Smapp.Policy;

namespace Smapp.Benchmarks;

/// <summary>
/// The by-message wiring (every event through the connection actor's mailbox, as in the actor tests; the daemon
/// itself runs direct: see <see cref="ReactionPathBenchmarks"/>), without the kernel: the supervisor and the connection actors on a real
/// <see cref="NetlinkEventLoop"/>, a stand-in gateway on the same loop. For each of N connections, CREATED is
/// handed to the loop, then ESTABLISHED; the time from handing ESTABLISHED to the loop until the gateway holds the
/// SUBFLOW_CREATE is the event → policy → command path, and the time the loop spends on CREATED is what a new
/// connection costs before its ESTABLISHED can be served.
/// </summary>
public static class HotPathBenchmark
{
    public static void Run(int connections, string logLevel)
    {
        using var loop = new NetlinkEventLoop("hotpath-loop");
        var system = ActorSystem.Create("hotpath", ConfigurationFactory.ParseString($"akka.loglevel = {logLevel}\nakka.stdout-loglevel = WARNING").WithFallback(SmappRuntime.Hocon));
        try
        {
            EventLoopDispatcherConfigurator.Register(system, "loop", loop);
            var gateway = system.ActorOf(Props.Create(() => new TimingGateway()).WithDispatcher("loop"), "gateway");
            var supervisor = system.ActorOf(ConnectionSupervisor.Props(gateway, gateway, null, PolicySelector.Defaults("fullmesh"),
                new SupervisorSettings("loop", false, Mailbox: LightMailbox.ConfigPath)), "connections");
            supervisor.Tell(new LocalAddressesProtocol.Snapshot([
                new LocalAddress(IPAddress.Parse("192.0.2.1"), 2, "wifi"), new LocalAddress(IPAddress.Parse("198.51.100.1"), 3, "cell")]));
            Thread.Sleep(200);

            var reaction = new List<double>(connections);
            var creation = new List<double>(connections);
            var client = IPAddress.Parse("192.0.2.1");
            var server = IPAddress.Parse("203.0.113.1");
            for (var i = 0; i < connections; i++)
            {
                var created = new MptcpEvent
                {
                    Type = MptcpEventType.Created, Token = (uint)(i + 1), Family = 2, SourceAddress = client, DestinationAddress = server,
                    SourcePort = (ushort)(10000 + i % 50000), DestinationPort = 443, LocalId = 0, RemoteId = 0,
                };
                creation.Add(OnLoop(loop, () => supervisor.Tell(created), () => true));
                var before = TimingGateway.Creates;
                var t = OnLoop(loop, () => supervisor.Tell(created with { Type = MptcpEventType.Established }), () => TimingGateway.Creates > before, stopAtCommand: true);
                reaction.Add(t);
                OnLoop(loop, () => supervisor.Tell(created with { Type = MptcpEventType.Closed }), () => true);
            }

            Report("CREATED handled (loop busy)", creation);
            Report("ESTABLISHED -> SUBFLOW_CREATE at the gateway", reaction);
        }
        finally
        {
            system.Terminate().Wait();
        }
    }

    /// <summary>
    /// Hands <paramref name="action"/> to the loop and returns the microseconds until the loop is idle again (or,
    /// with <paramref name="stopAtCommand"/>, until the gateway saw the command), measured on the loop thread.
    /// </summary>
    private static double OnLoop(NetlinkEventLoop loop, Action action, Func<bool> done, bool stopAtCommand = false)
    {
        var finished = new ManualResetEventSlim();
        long start = 0;
        TimingGateway.StopAt = stopAtCommand ? finished : null;
        loop.Execute(new ActionRunnable(() =>
        {
            start = Stopwatch.GetTimestamp();
            action();
            if (!stopAtCommand)
            {
                // Queued behind whatever the action queued: runs when the loop has done the action's work.
                loop.Execute(new ActionRunnable(() => finished.Set()));
            }
        }));
        finished.Wait(TimeSpan.FromSeconds(5));
        var end = stopAtCommand ? TimingGateway.LastCommandAt : Stopwatch.GetTimestamp();
        while (!done())
        {
            Thread.Yield();
        }

        return Stopwatch.GetElapsedTime(start, end).TotalMicroseconds;
    }

    private static void Report(string what, List<double> us)
    {
        var warm = us.Skip(us.Count / 10).OrderBy(x => x).ToList();
        double P(double q) => warm[(int)Math.Min(warm.Count - 1, q * warm.Count)];
        Console.WriteLine($"  {what,-48} median {P(0.5),7:0.0} us   p90 {P(0.9),7:0.0} us   p99 {P(0.99),7:0.0} us   (n = {warm.Count}, first 10 % dropped)");
    }

    private sealed class ActionRunnable(Action action) : Akka.Dispatch.IRunnable
    {
        public void Run() => action();

#pragma warning disable CS0618
        public void Execute() => action();
#pragma warning restore CS0618
    }

    /// <summary>Accepts every command; notes when the last SUBFLOW_CREATE arrived.</summary>
    private sealed class TimingGateway : ReceiveActor
    {
        public static volatile int Creates;
        public static long LastCommandAt;
        public static ManualResetEventSlim? StopAt;

        public TimingGateway()
        {
            Receive<GatewayProtocol.PmCommand>(c =>
            {
                if (c is GatewayProtocol.CreateSubflow)
                {
                    LastCommandAt = Stopwatch.GetTimestamp();
                    Creates++;
                    StopAt?.Set();
                }

                Sender.Tell(new GatewayProtocol.CommandResult(c, 0, null));
            });
            Receive<GatewayProtocol.SubscribeEvents>(_ => { });
            Receive<LocalAddressesProtocol.Subscribe>(_ => { });
            Receive<object>(_ => { });
        }
    }
}
