using Akka.Actor;
using static Smapp.Actors.Connections.ConnectionProtocol;

namespace Smapp.Actors.Connections;

/// <summary>
/// One subflow of a connection, for its whole life across re-establishments: it holds the re-establishment backoff
/// timer (cancelled when the actor stops, e.g. because its local address went away) and watches the subflow's RTO
/// from the samples, reporting each growth to its connection — the paper's timeout event.
/// </summary>
public sealed class SubflowActor : UntypedActor, IWithTimers
{
    private const string ReopenTimer = "reopen";
    private readonly int _id;
    private TimeSpan? _lastRto;
    private byte _lastBackoff;

    public SubflowActor(int id) => _id = id;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(int id) => Akka.Actor.Props.Create(() => new SubflowActor(id));

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case ReopenAfter r: Timers.StartSingleTimer(ReopenTimer, new ReopenDue(_id), r.Delay); break;
            case ReopenDue d: Context.Parent.Tell(d); break;
            case RtoSample s: HandleSample(s); break;
            default: Unhandled(message); break;
        }
    }

    private void HandleSample(RtoSample s)
    {
        if (_lastRto is { } previous && (s.Rto > previous || s.Backoff > _lastBackoff))
        {
            Context.Parent.Tell(new RtoGrew(_id, s.Rto, previous));
        }

        _lastRto = s.Rto;
        _lastBackoff = s.Backoff;
    }
}
