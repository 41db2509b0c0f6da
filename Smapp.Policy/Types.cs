using System.Net;

namespace Smapp.Policy;

/// <summary>Which end of the connection this host is.</summary>
public enum Side
{
    Client,
    Server,
}

/// <summary>An address and port. A join reported as a v4-mapped IPv6 address is kept as reported.</summary>
public readonly record struct Endpoint(IPAddress Address, ushort Port)
{
    public override string ToString() => AddressForm.Format(Address, Port);
}

/// <summary>A usable local address of this host: global scope, on an interface that is up.</summary>
public sealed record LocalAddress(IPAddress Address, int IfIndex, string? InterfaceName)
{
    public override string ToString() => $"{Address}{(InterfaceName is null ? "" : $"%{InterfaceName}")}";
}

/// <summary>An address of the peer: the one the connection started on (id 0) or one it announced.</summary>
public sealed record RemoteAddress(IPAddress Address, ushort? Port, byte Id)
{
    public override string ToString() => $"{Address}{(Port is { } p ? $":{p}" : "")} (id {Id})";
}

/// <summary>Where a subflow is in its life, as the controller tracks it.</summary>
public enum SubflowPhase
{
    /// <summary>Waiting for its (re-)establishment timer.</summary>
    Pending,

    /// <summary>SUBFLOW_CREATE sent; waiting for sub_established or an error.</summary>
    Connecting,

    Established,

    /// <summary>Closed by the kernel or refused; the policy may re-open it.</summary>
    Closed,
}

/// <summary>One subflow's figures from tcp_info at one sample.</summary>
public sealed record SubflowSample(
    DateTimeOffset At,
    TimeSpan Rto,
    byte Backoff,
    TimeSpan Rtt,
    uint Cwnd,
    ulong PacingRate,
    ulong DeliveryRate,
    ulong BytesAcked,
    ulong BytesSent,
    ulong BytesReceived,
    uint TotalRetrans,
    uint Unacked);

/// <summary>Why a subflow closed: the kernel's errno (<see cref="Errno.None"/> when none) and the MPTCP reset reason if a reset was seen.</summary>
public sealed record CloseReason(Errno Errno, uint? ResetReason = null, string? Message = null)
{
    public static readonly CloseReason None = new(Errno.None);

    public override string ToString() => Errno == Errno.None ? "no error" : $"{Errno}{(Message is null ? "" : $" ({Message})")}{(ResetReason is { } r ? $", reset reason {r}" : "")}";
}

/// <summary>The kinds of command a policy can give.</summary>
public enum CommandKind
{
    OpenSubflow,
    CloseSubflow,
    SetBackup,
    Announce,
    Withdraw,
}

/// <summary>
/// A command a policy gave, as its context returned it: the outcome that answers it carries the same handle, so a
/// policy can tell which of two announcements failed.
/// </summary>
public readonly record struct CommandHandle(long Id, CommandKind Kind)
{
    /// <summary>The kernel command it became (SUBFLOW_CREATE, …).</summary>
    public string Name => Kind switch
    {
        CommandKind.OpenSubflow => "SUBFLOW_CREATE",
        CommandKind.CloseSubflow => "SUBFLOW_DESTROY",
        CommandKind.SetBackup => "SET_FLAGS",
        CommandKind.Announce => "ANNOUNCE",
        _ => "REMOVE",
    };

    public override string ToString() => $"{Name}#{Id}";
}

/// <summary>What the kernel answered to a command a policy gave.</summary>
public sealed record CommandOutcome(CommandHandle Command, Errno Errno, string? Message, int? SubflowId = null)
{
    public bool Success => Errno == Errno.None;

    public override string ToString() => Success ? $"{Command.Name}: ok" : $"{Command.Name}: {Errno}{(Message is null ? "" : $" ({Message})")}";
}
