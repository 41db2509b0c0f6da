using System.Collections.Concurrent;
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
using Smapp.Netlink.Mptcp;
using Smapp.Policy;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Tests.Actors;

/// <summary>
/// The loop-thread rule, under test: with the production wiring (supervisor and connections on the gateway's event
/// loop, direct subscription), a kernel event reaches the policy on the loop thread, and the policy's command is
/// written on that thread before the policy's call returns — no mailbox and no other thread between them.
/// </summary>
public sealed class LoopThreadTests : IDisposable
{
    private readonly NetlinkEventLoop _loop = new("test-loop");
    private readonly ActorSystem _system = ActorSystem.Create("loop-test",
        ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING").WithFallback(SmappRuntime.Hocon));
    private readonly ConcurrentQueue<string> _log = new();

    public void Dispose()
    {
        _system.Terminate().Wait(TimeSpan.FromSeconds(5));
        _loop.Dispose();
    }

    private string Where() => _loop.IsLoopThread ? "loop" : $"thread {Environment.CurrentManagedThreadId}";

    /// <summary>Records where and when each command is written; accepts it.</summary>
    private sealed class RecordingCommands(LoopThreadTests test) : IDirectCommands
    {
        public void Send(PmCommand command, ICommandReplies replyTo)
        {
            test._log.Enqueue($"{command.Name} written on {test.Where()}");
            test._loop.Execute(new OnLoop(() => replyTo.OnResult(new CommandResult(command, 0, null))));
        }
    }

    /// <summary>Stands in for the gateway: takes the direct subscription and hands out the recording command path.</summary>
    private sealed class DirectGateway : ReceiveActor
    {
        public DirectGateway(LoopThreadTests test, TaskCompletionSource<IDirectEvents> subscribed)
        {
            Receive<SubscribeEvents>(s =>
            {
                s.Subscriber.Tell(new EventsSubscribed(new RecordingCommands(test)));
                subscribed.SetResult(s.Direct!);
            });
            ReceiveAny(_ => { });
        }
    }

    private sealed class Opener(LoopThreadTests test) : SubflowPolicy
    {
        public override string Name => "opener";

        public override PolicyEvents Subscriptions => PolicyEvents.Established | PolicyEvents.CommandResult;

        public override void OnEstablished(IConnectionContext ctx)
        {
            test._log.Enqueue($"OnEstablished on {test.Where()}");
            ctx.OpenSubflow(ctx.LocalAddresses.Single(a => a.InterfaceName == "cell"), ctx.Connection.Remote);
            test._log.Enqueue("OpenSubflow returned");
        }

        public override void OnCommandResult(IConnectionContext ctx, CommandOutcome outcome) =>
            test._log.Enqueue($"{outcome.Command.Name} answered on {test.Where()}");
    }

    private sealed class OnLoop(Action action) : Akka.Dispatch.IRunnable
    {
        public void Run() => action();

#pragma warning disable CS0618
        public void Execute() => action();
#pragma warning restore CS0618
    }

    [Fact]
    public async Task A_policy_runs_on_the_loop_thread_and_its_command_is_written_from_it_before_its_call_returns()
    {
        EventLoopDispatcherConfigurator.Register(_system, "loop", _loop);
        var subscribed = new TaskCompletionSource<IDirectEvents>(TaskCreationOptions.RunContinuationsAsynchronously);
        var gateway = _system.ActorOf(Props.Create(() => new DirectGateway(this, subscribed)).WithDispatcher("loop"), "gateway");
        var supervisor = _system.ActorOf(ConnectionSupervisor.Props(gateway, gateway, null, PolicySelector.Of("opener", () => new Opener(this)),
            new SupervisorSettings("loop", false, Mailbox: LightMailbox.ConfigPath, Direct: true)), "connections");
        supervisor.Tell(new LocalAddressesProtocol.Snapshot(ImmutableList.Create(
            new LocalAddress(IPAddress.Parse("192.0.2.1"), 2, "wifi"), new LocalAddress(IPAddress.Parse("198.51.100.1"), 3, "cell"))));
        var direct = await subscribed.Task.WaitAsync(TimeSpan.FromSeconds(5));

        // Wait until the supervisor has the addresses and the direct command path (its mailbox runs on the loop).
        await supervisor.Ask<ConnectionProtocol.ConnectionsState>(ConnectionProtocol.GetState.Instance, TimeSpan.FromSeconds(5));

        var created = ControllerTestKit.Created(0xabcd0001);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _loop.Execute(new OnLoop(() =>
        {
            // What the gateway does on the loop thread for a datagram holding CREATED and ESTABLISHED.
            direct.OnEvent(created);
            direct.OnEvent(created with { Type = MptcpEventType.Established });
            _log.Enqueue("events handled");
            _loop.Execute(new OnLoop(done.SetResult));
        }));
        await done.Task.WaitAsync(TimeSpan.FromSeconds(5));
        for (var i = 0; i < 100 && !_log.Contains("SUBFLOW_CREATE answered on loop"); i++)
        {
            await Task.Delay(20);
        }

        Assert.Equal(
            ["OnEstablished on loop", "SUBFLOW_CREATE written on loop", "OpenSubflow returned", "events handled", "SUBFLOW_CREATE answered on loop"],
            _log.ToArray());
    }
}
