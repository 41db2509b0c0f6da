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
    /// <summary>
    /// A connection actor's first message: its slot, how the connection was learned of, the local addresses now. In
    /// direct mode the slot's core is already made and started; by message the actor makes it.
    /// </summary>
    internal sealed record Init(ConnectionSlot Slot, ConnectionOrigin? Origin, ImmutableList<LocalAddress> Locals);

    /// <summary>One sampler tick's subflows of one connection.</summary>
    public sealed record Samples(uint Token, IReadOnlyList<SubflowDiag> Subflows, DateTimeOffset At);

    /// <summary>The kernel's view of a connection after events were lost: reconcile with it.</summary>
    public sealed record Resync(ConnectionDiag? Connection, IReadOnlyList<SubflowDiag> Subflows, long JudgedBefore = long.MaxValue);

    /// <summary>A connection asks the supervisor for the kernel's view of it (answered with a <see cref="Resync"/>).</summary>
    internal sealed record CheckConnection(uint Token);

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

    // A connection's own timers, asked for by its core and kept by its actor.
    internal sealed record ReopenDue(int SubflowId);

    internal sealed record PolicyTimer(string Key);

    internal sealed record StartTimer(string Key, object Message, TimeSpan Delay, bool Repeat);

    internal sealed record CancelTimer(string Key);

    /// <summary>The core is done with the connection: the actor stops.</summary>
    internal sealed record Finish
    {
        public static readonly Finish Instance = new();
    }

    /// <summary>The core threw on the loop thread (direct mode): the actor fails with it, and is restarted.</summary>
    internal sealed record Failed(Exception Reason);

    /// <summary>Test hook: makes the connection's actor throw, to exercise supervision.</summary>
    public sealed record Crash(string Why);
}
