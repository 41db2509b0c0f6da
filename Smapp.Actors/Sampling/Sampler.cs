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
/// <para>
/// The timeout event (an RTO that grew) is only as prompt as the ticks. So while some established subflow of the
/// latest dump is at risk of a retransmission timeout — its timer backed off (<c>tcpi_backoff</c> &gt; 0), it is in
/// the Loss state, or it has unacknowledged data and has heard no ACK for half its RTO (the timer may fire before the
/// next tick) — the sampler ticks at the fast interval (20 ms) instead of the demanded one, and goes back once no
/// subflow is at risk. Only while dumps are cheap and keep up: at most <see cref="MaxFastSubflows"/> subflows in the
/// dump, and a dump that came back within the fast interval (a slower one would only have its fast ticks skipped).
/// The round trip is no measure of the dump's cost (on a busy machine it is mostly thread wake-ups: 3-17 ms seen
/// for a dump of three subflows, and up to a second in a process whose thread pool starved), so the subflow count
/// is the cost guard. The dump shows every subflow of the namespace; the sampler does not know which connections
/// asked for samples, so any at-risk subflow counts. Measured on the real kernel (backup policy, 100 ms demanded,
/// cubic under 50 % loss): from the RTO crossing the threshold to the failover, median 78 ms (29-110) without the
/// fast ticks, 19 ms (8-37) with them.
/// </para>
/// </summary>
public sealed class Sampler : ReceiveActor, IWithTimers
{
    private const string TickTimer = "tick";

    /// <summary>The tick while a subflow is at risk of a retransmission timeout.</summary>
    public static readonly TimeSpan DefaultFastInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// Fast ticks only while a dump holds at most this many subflows: a dump's cost grows with them (a few hundred
    /// cost well under a millisecond), and in a namespace that busy some subflow is nearly always at risk.
    /// </summary>
    public const int MaxFastSubflows = 512;

    private const byte TcpEstablished = 1;
    private const byte TcpCaLoss = 4;

    private readonly IActorRef _gateway;
    private readonly TimeSpan _fastInterval;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private IActorRef _supervisor = ActorRefs.Nobody;
    private TimeSpan _interval;
    private bool _fast;
    private long _fastEpisodes;
    private bool _inFlight;
    private long _requestId;
    private long _ticks, _dumps, _skipped, _failed;
    private DateTimeOffset _dumpStarted;
    private TimeSpan _lastDumpTime;
    private int _lastSubflows;

    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    /// <param name="gateway">Serves the dumps.</param>
    /// <param name="fastInterval">The tick while a subflow is at risk (null: <see cref="DefaultFastInterval"/>; zero: never faster than demanded).</param>
    public Sampler(IActorRef gateway, TimeSpan? fastInterval = null)
    {
        _gateway = gateway;
        _fastInterval = fastInterval ?? DefaultFastInterval;
        Receive<SamplerProtocol.Demand>(HandleDemand);
        Receive<Tick>(_ => HandleTick());
        Receive<GatewayProtocol.SubflowsDumped>(HandleDump);
        Receive<SamplerProtocol.GetStats>(_ => Sender.Tell(new SamplerProtocol.Stats(_ticks, _dumps, _skipped, _failed, _lastDumpTime, _lastSubflows, Current, _fastEpisodes)));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IActorRef gateway, TimeSpan? fastInterval = null) => Akka.Actor.Props.Create(() => new Sampler(gateway, fastInterval));

    /// <summary>The interval the ticks run at now (zero: stopped).</summary>
    private TimeSpan Current => !Timers.IsTimerActive(TickTimer) ? TimeSpan.Zero : _fast ? _fastInterval : _interval;

    /// <summary>
    /// An established subflow whose retransmission timer backed off, that is in the Loss state, or that has data in
    /// flight and no ACK for half its RTO: its RTO may grow before the next ordinary tick.
    /// </summary>
    public static bool AtRisk(SubflowDiag s) =>
        s.TcpState == TcpEstablished &&
        (s.Info.Backoff > 0 || s.Info.CaState == TcpCaLoss || (s.Info.Unacked > 0 && s.Info.LastAckRecvMs * 2000L >= s.Info.RtoUs));

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
            _fast = false;
            return;
        }

        if (!Timers.IsTimerActive(TickTimer) || d.Interval != _interval)
        {
            _interval = d.Interval;
            _fast = _fast && FastHelps;
            _log.Debug("sampling every {Interval} for {Connections} connections", d.Interval, d.Connections);
            Timers.StartPeriodicTimer(TickTimer, Tick.Instance, TimeSpan.Zero, _fast ? _fastInterval : _interval);
        }
    }

    private bool FastHelps => _fastInterval > TimeSpan.Zero && _fastInterval < _interval;

    /// <summary>Fast ticks while a subflow is at risk and dumps are cheap; the demanded interval otherwise.</summary>
    private void ChooseInterval(IReadOnlyList<SubflowDiag> subflows)
    {
        if (!Timers.IsTimerActive(TickTimer))
        {
            return; // no demand any more
        }

        var fast = FastHelps && subflows.Count <= MaxFastSubflows && _lastDumpTime < _fastInterval && subflows.Any(AtRisk);
        if (fast == _fast)
        {
            return;
        }

        _fast = fast;
        if (fast)
        {
            _fastEpisodes++;
        }

        var every = fast ? _fastInterval : _interval;
        _log.Debug(fast ? "a subflow is at risk of a retransmission timeout: sampling every {Interval}" : "no subflow at risk: sampling every {Interval} again", every);
        Timers.StartPeriodicTimer(TickTimer, Tick.Instance, every, every);
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
        _dumpStarted = Context.System.Scheduler.Now;
        _gateway.Tell(new GatewayProtocol.DumpSubflows(++_requestId));
    }

    private void HandleDump(GatewayProtocol.SubflowsDumped d)
    {
        _inFlight = false;
        var took = Context.System.Scheduler.Now - _dumpStarted;
        _lastDumpTime = took > TimeSpan.Zero ? took : TimeSpan.Zero;
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
        ChooseInterval(d.Subflows);
    }
}
