using System.Net;
using System.Net.Sockets;

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
    public override string ToString() => Address.AddressFamily == AddressFamily.InterNetworkV6 && !Address.IsIPv4MappedToIPv6
        ? $"[{Address}]:{Port}"
        : $"{(Address.IsIPv4MappedToIPv6 ? Address.MapToIPv4() : Address)}:{Port}";
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

/// <summary>Why a subflow closed: the kernel's errno (0 when none) and the MPTCP reset reason if a reset was seen.</summary>
public sealed record CloseReason(int Errno, uint? ResetReason = null, string? Message = null)
{
    public static readonly CloseReason None = new(0);

    public override string ToString() => Errno == 0 ? "no error" : $"errno {Errno}{(Message is null ? "" : $" ({Message})")}{(ResetReason is { } r ? $", reset reason {r}" : "")}";
}

/// <summary>What the kernel answered to a command a policy issued.</summary>
public sealed record CommandOutcome(string Command, int Errno, string? Message, int? SubflowId = null)
{
    public bool Success => Errno == 0;

    public override string ToString() => Success ? $"{Command}: ok" : $"{Command}: errno {Errno}{(Message is null ? "" : $" ({Message})")}";
}
