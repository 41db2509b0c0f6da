using System.Collections.Immutable;
using Smapp.Actors.Configuration;
using Smapp.Policy;

namespace Smapp.Actors.Observing;

/// <summary>
/// What `smapp status` asks the supervisor, and what it answers: an immutable snapshot of every managed connection,
/// taken in one supervisor turn on the event loop's thread (a copy of a few fields per subflow; the kernel's figures
/// and the formatting are added off the loop by whoever asked).
/// </summary>
public static class StatusProtocol
{
    /// <summary>Ask the supervisor for a <see cref="ConnectionsStatus"/>.</summary>
    public sealed record GetStatus
    {
        public static readonly GetStatus Instance = new();
    }

    /// <summary>
    /// Answered with <see cref="Ready"/> once the supervisor is subscribed to the gateway's events and the start-up
    /// takeover is done (what systemd's READY=1 waits for).
    /// </summary>
    public sealed record AwaitReady
    {
        public static readonly AwaitReady Instance = new();
    }

    public sealed record Ready
    {
        public static readonly Ready Instance = new();
    }

    /// <summary>
    /// New connections follow <paramref name="Selector"/> from now on; the connections already managed keep their
    /// policy instances and state. Answered with <see cref="SelectorReplaced"/>.
    /// </summary>
    public sealed record ReplaceSelector(PolicySelector Selector);

    public sealed record SelectorReplaced(string DefaultPolicy, int Rules);

    /// <summary>One policy decision as the policy logged it (IConnectionContext.Log).</summary>
    public sealed record Decision(DateTimeOffset At, string What, string Why);

    public sealed record SubflowStatus(int Id, Endpoint Local, Endpoint Remote, SubflowPhase Phase, bool Backup, bool Initial, bool OpenedByUs, int Failures,
        DateTimeOffset? EstablishedAt, string? LastClose);

    public sealed record ConnectionStatus(uint Token, Side Side, Endpoint? Local, Endpoint? Remote, string Policy, string Rule, bool TakenOver, bool Established,
        bool Rebuilding, IReadOnlyList<SubflowStatus> Subflows, IReadOnlyList<Decision> Decisions);

    /// <summary>
    /// The supervisor's answer: the connections, the local addresses (interface names), and the rules in force;
    /// <paramref name="Slots"/>: connection slots held (ended ones not yet removed included), <paramref name="Actors"/>:
    /// connection actors alive (direct connections get one only when a timer, a failure or a query needs it);
    /// <paramref name="IdleTrims"/>: compacting collections made once the connections of a busy spell were all gone.
    /// </summary>
    public sealed record ConnectionsStatus(DateTimeOffset At, IReadOnlyList<ConnectionStatus> Connections, ImmutableList<LocalAddress> Locals, string DefaultPolicy, int Rules,
        int Slots = 0, int Actors = 0, int IdleTrims = 0);
}

/// <summary>The last few decisions of one connection: a small ring, made when the policy first logs one.</summary>
internal sealed class DecisionRing
{
    public const int Size = 4;
    private readonly StatusProtocol.Decision[] _items = new StatusProtocol.Decision[Size];
    private int _next;
    private int _count;

    public void Add(DateTimeOffset at, string what, string why)
    {
        _items[_next] = new StatusProtocol.Decision(at, what, why);
        _next = (_next + 1) % Size;
        _count = Math.Min(_count + 1, Size);
    }

    /// <summary>Oldest first.</summary>
    public StatusProtocol.Decision[] ToArray()
    {
        var list = new StatusProtocol.Decision[_count];
        for (var i = 0; i < _count; i++)
        {
            list[i] = _items[(_next - _count + i + Size) % Size];
        }

        return list;
    }
}
