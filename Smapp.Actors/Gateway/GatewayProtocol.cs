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
    /// <summary>Deliver every mptcp_pm event (as <see cref="MptcpEvent"/>) and <see cref="EventsLost"/> to the subscriber.</summary>
    public sealed record SubscribeEvents(IActorRef Subscriber);

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

        public override string ToString() => Success ? $"{Command.Name} ok" : $"{Command.Name} failed: {Smapp.Netlink.Native.Errno.Name(Errno)}{(Message is null ? "" : $" ({Message})")}";
    }

    /// <summary>One sock_diag dump of every MPTCP subflow (done off the event loop).</summary>
    public sealed record DumpSubflows(long RequestId);

    public sealed record SubflowsDumped(long RequestId, IReadOnlyList<SubflowDiag> Subflows, DateTimeOffset At, string? Error);

    /// <summary>Every MPTCP connection and every subflow, optionally of one token only.</summary>
    public sealed record DumpConnections(long RequestId, uint? Token = null);

    /// <summary>The connections, their subflows, and the MPTCP listening sockets (which tell server-side connections apart).</summary>
    public sealed record ConnectionsDumped(long RequestId, IReadOnlyList<ConnectionDiag> Connections, IReadOnlyList<SubflowDiag> Subflows, string? Error)
    {
        public IReadOnlyList<ConnectionDiag> Listeners { get; init; } = [];
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
}
