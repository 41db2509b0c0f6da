using Akka.Actor;
using Akka.Event;
using Smapp.Actors.Gateway;
using Smapp.Netlink.Diag;
using static Smapp.Actors.Sampling.SamplerProtocol;

namespace Smapp.Actors.Sampling;

/// <summary>
/// One sock_diag dump per tick for every subflow of the namespace (never a syscall per subflow), grouped by token
/// and handed to the supervisor, which fans it out to the connections whose policy asked for samples. The dump
/// runs off the event loop (the gateway's sock_diag worker); a tick that finds the previous dump still running is
/// skipped, not queued. No demand, no dumps.
/// </summary>
public sealed class Sampler : ReceiveActor, IWithTimers
{
    private const string TickTimer = "tick";
    private readonly IActorRef _gateway;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private IActorRef _supervisor = ActorRefs.Nobody;
    private TimeSpan _interval;
    private bool _inFlight;
    private long _requestId;
    private long _ticks, _dumps, _skipped, _failed;
    private DateTime _dumpStarted;
    private TimeSpan _lastDumpTime;
    private int _lastSubflows;

    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    public Sampler(IActorRef gateway)
    {
        _gateway = gateway;
        Receive<SamplerProtocol.Demand>(HandleDemand);
        Receive<Tick>(_ => HandleTick());
        Receive<GatewayProtocol.SubflowsDumped>(HandleDump);
        Receive<SamplerProtocol.GetStats>(_ => Sender.Tell(new SamplerProtocol.Stats(_ticks, _dumps, _skipped, _failed, _lastDumpTime, _lastSubflows)));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IActorRef gateway) => Akka.Actor.Props.Create(() => new Sampler(gateway));

    private void HandleDemand(SamplerProtocol.Demand d)
    {
        _supervisor = Sender;
        if (d.Connections == 0)
        {
            if (Timers.IsTimerActive(TickTimer))
            {
                _log.Debug("sampling stopped: no connection asks for samples");
            }

            Timers.Cancel(TickTimer);
            return;
        }

        if (!Timers.IsTimerActive(TickTimer) || d.Interval != _interval)
        {
            _interval = d.Interval;
            _log.Debug("sampling every {Interval} for {Connections} connections", d.Interval, d.Connections);
            Timers.StartPeriodicTimer(TickTimer, Tick.Instance, TimeSpan.Zero, d.Interval);
        }
    }

    private void HandleTick()
    {
        _ticks++;
        if (_inFlight)
        {
            _skipped++;
            return;
        }

        _inFlight = true;
        _dumpStarted = DateTime.UtcNow;
        _gateway.Tell(new GatewayProtocol.DumpSubflows(++_requestId));
    }

    private void HandleDump(GatewayProtocol.SubflowsDumped d)
    {
        _inFlight = false;
        _lastDumpTime = DateTime.UtcNow - _dumpStarted;
        if (d.Error is not null)
        {
            _failed++;
            _log.Warning("sock_diag dump failed: {Error}", d.Error);
            return;
        }

        _dumps++;
        _lastSubflows = d.Subflows.Count;
        var byToken = new Dictionary<uint, List<SubflowDiag>>();
        foreach (var s in d.Subflows)
        {
            if (!byToken.TryGetValue(s.Token, out var list))
            {
                byToken[s.Token] = list = new List<SubflowDiag>(2);
            }

            list.Add(s);
        }

        _supervisor.Tell(new SampleBatch(byToken, d.At));
    }
}
