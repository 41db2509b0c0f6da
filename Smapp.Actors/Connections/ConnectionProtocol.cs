using System.Collections.Immutable;
using Smapp.Policy;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;

namespace Smapp.Actors.Connections;

/// <summary>How a connection actor learned of its connection.</summary>
public abstract record ConnectionOrigin;

/// <summary>From a kernel event (normally CREATED).</summary>
public sealed record FromEvent(MptcpEvent Event) : ConnectionOrigin;

/// <summary>Found live in the kernel (start-up takeover, lost events, restart): its sock_diag view.</summary>
public sealed record FromKernel(ConnectionDiag Connection, IReadOnlyList<SubflowDiag> Subflows, Side Side) : ConnectionOrigin;

/// <summary>The messages connection actors and their supervisor exchange.</summary>
public static class ConnectionProtocol
{
    /// <summary>A connection actor's first message: which connection it is, how it was learned of, the local addresses now.</summary>
    public sealed record Init(uint Token, ConnectionOrigin Origin, ImmutableList<LocalAddress> Locals);

    /// <summary>One sampler tick's subflows of one connection.</summary>
    public sealed record Samples(uint Token, IReadOnlyList<SubflowDiag> Subflows, DateTimeOffset At);

    /// <summary>The kernel's view of a connection after events were lost: reconcile with it.</summary>
    public sealed record Resync(ConnectionDiag? Connection, IReadOnlyList<SubflowDiag> Subflows);

    /// <summary>The local address set changed (or was first learned).</summary>
    public sealed record LocalAddressesChanged(ImmutableList<LocalAddress> All, LocalAddress? Added, LocalAddress? Removed);

    /// <summary>Ask a connection (reply: <see cref="ConnectionState"/>) or the supervisor (reply: <see cref="ConnectionsState"/>).</summary>
    public sealed record GetState
    {
        public static readonly GetState Instance = new();
    }

    public sealed record SubflowState(int Id, string Local, string Remote, bool Backup, SubflowPhase Phase, byte LocalId, bool Initial, int Failures, DateTimeOffset? EstablishedAt, SubflowSample? LastSample);

    public sealed record ConnectionState(uint Token, Side Side, string Local, string Remote, string Policy, string Rule, bool TakenOver, bool Established, IReadOnlyList<SubflowState> Subflows, int Restarts);

    public sealed record ConnectionsState(IReadOnlyList<uint> Tokens, int WantingSamples);

    // A connection's own timers.
    internal sealed record ReopenDue(int SubflowId);

    internal sealed record PolicyTimer(string Key);

    /// <summary>Test hook: makes the connection's actor throw, to exercise supervision.</summary>
    public sealed record Crash(string Why);
}
