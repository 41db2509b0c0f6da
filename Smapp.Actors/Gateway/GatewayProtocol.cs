using System.Net;
using Akka.Actor;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Route;

namespace Smapp.Actors.Gateway;

/// <summary>
/// The messages of the <see cref="NetlinkGateway"/>. Every command is answered with a <see cref="CommandResult"/>
/// (success, or the errno and the kernel's extended-ack text), correlated by the sender's id — never an Ask.
/// </summary>
public static class GatewayProtocol
{
    /// <summary>
    /// Deliver every mptcp_pm event (as <see cref="MptcpEvent"/>) and <see cref="EventsLost"/> to the subscriber. A
    /// subscriber that runs on the gateway's own event loop may give <paramref name="Direct"/>: the gateway then calls
    /// it directly instead of sending messages, and answers with <see cref="EventsSubscribed"/>, whose command path
    /// writes to the kernel directly as well — the hot path with no mailbox in it.
    /// </summary>
    public sealed record SubscribeEvents(IActorRef Subscriber, IDirectEvents? Direct = null);

    /// <summary>The answer to a direct subscription: commands written straight to the kernel from the loop thread.</summary>
    public sealed record EventsSubscribed(IDirectCommands Commands);

    /// <summary>Deliver a <see cref="LocalSnapshot"/> now, then every <see cref="Smapp.Netlink.AddressChange"/> / <see cref="Smapp.Netlink.LinkChange"/>.</summary>
    public sealed record SubscribeLocalChanges(IActorRef Subscriber);

    /// <summary>The kernel dropped events for our socket (ENOBUFS): whoever keeps state must rebuild it from a dump.</summary>
    public sealed record EventsLost(string Source);

    public sealed record LocalSnapshot(IReadOnlyList<RtAddress> Addresses, IReadOnlyList<RtLink> Links);

    /// <summary>A userspace path-manager command. <see cref="Correlation"/> comes back in its result.</summary>
    public abstract record PmCommand(long Correlation)
    {
        public abstract string Name { get; }
    }

    public sealed record CreateSubflow(long Correlation, uint Token, MptcpAddress Local, MptcpAddress Remote) : PmCommand(Correlation)
    {
        public override string Name => "SUBFLOW_CREATE";
    }

    public sealed record DestroySubflow(long Correlation, uint Token, MptcpAddress Local, MptcpAddress Remote) : PmCommand(Correlation)
    {
        public override string Name => "SUBFLOW_DESTROY";
    }

    public sealed record SetBackup(long Correlation, uint Token, MptcpAddress Local, MptcpAddress Remote, bool Backup) : PmCommand(Correlation)
    {
        public override string Name => "SET_FLAGS";
    }

    /// <summary>ANNOUNCE; with a port, the gateway also opens an MPTCP listener there (nothing else would).</summary>
    public sealed record Announce(long Correlation, uint Token, MptcpAddress Local) : PmCommand(Correlation)
    {
        public override string Name => "ANNOUNCE";
    }

    /// <summary>REMOVE; closes the listener opened for the announcement, if any.</summary>
    public sealed record Remove(long Correlation, uint Token, byte LocalId, IPAddress? Address = null, ushort? Port = null) : PmCommand(Correlation)
    {
        public override string Name => "REMOVE";
    }

    public sealed record CommandResult(PmCommand Command, int Errno, string? Message)
    {
        public bool Success => Errno == 0;

        public override string ToString() => Success ? $"{Command.Name} ok" : $"{Command.Name} failed: {Smapp.Netlink.Errno.Name(Errno)}{(Message is null ? "" : $" ({Message})")}";
    }

    /// <summary>One sock_diag dump of every MPTCP subflow (done off the event loop).</summary>
    public sealed record DumpSubflows(long RequestId);

    public sealed record SubflowsDumped(long RequestId, IReadOnlyList<SubflowDiag> Subflows, DateTimeOffset At, string? Error);

    /// <summary>Why a dump of the connections was asked for; its answer says the same.</summary>
    public enum DumpPurpose
    {
        /// <summary>A restarted connection rebuilds its state.</summary>
        Rebuild = 0,

        /// <summary>At start: adopt every live connection.</summary>
        Takeover = 1,

        /// <summary>Events were lost: reconcile every connection.</summary>
        Resync = 2,

        /// <summary>Events came for connections never seen start: adopt them.</summary>
        Lookup = 3,

        /// <summary>Some connections asked for the kernel's view of themselves (nothing is adopted).</summary>
        Check = 4,
    }

    /// <summary>Every MPTCP connection and every subflow, optionally of one token only.</summary>
    public sealed record DumpConnections(DumpPurpose Purpose, uint? Token = null)
    {
        /// <summary>When it was asked for (a <see cref="System.Diagnostics.Stopwatch"/> timestamp; 0: unknown), carried to the answer.</summary>
        public long RequestedAt { get; init; }
    }

    /// <summary>The connections, their subflows, and the MPTCP listening sockets (which tell server-side connections apart).</summary>
    public sealed record ConnectionsDumped(DumpPurpose Purpose, IReadOnlyList<ConnectionDiag> Connections, IReadOnlyList<SubflowDiag> Subflows, string? Error)
    {
        public IReadOnlyList<ConnectionDiag> Listeners { get; init; } = [];

        /// <summary>When the dump was asked for (its request's <see cref="DumpConnections.RequestedAt"/>; 0: unknown).</summary>
        public long RequestedAt { get; init; }
    }

    public sealed record GetStats
    {
        public static readonly GetStats Instance = new();
    }

    public sealed record Stats(
        long Events,
        long DecodeErrors,
        long Overruns,
        long CommandsSent,
        long CommandsFailed,
        long CommandsTimedOut,
        int PendingCommands,
        long LoopIterations,
        long LoopWakeups,
        int EventReceiveBuffer);

    /// <summary>Asks for the datagrams each socket dropped because they did not come from the kernel.</summary>
    public sealed record GetForeignDrops
    {
        public static readonly GetForeignDrops Instance = new();
    }

    /// <summary>Drops per socket ("mptcp_pm events", "commands", "rtnetlink"), and each socket's own port id.</summary>
    public sealed record ForeignDrops(IReadOnlyDictionary<string, long> BySocket, IReadOnlyDictionary<string, uint> PortIds)
    {
        public long Total => BySocket.Values.Sum();
    }
}

/// <summary>What a subscriber on the gateway's event loop gives to be called directly (on the loop thread only).</summary>
public interface IDirectEvents
{
    /// <summary>The subscriber's actor, whose own messages still arrive by mail.</summary>
    IActorRef Subscriber { get; }

    void OnEvent(MptcpEvent ev);

    void OnEventsLost(string source);
}

/// <summary>The gateway's command path for a direct subscriber: writes at once; the answer comes to <paramref name="replyTo"/>.</summary>
public interface IDirectCommands
{
    void Send(GatewayProtocol.PmCommand command, ICommandReplies replyTo);
}
