namespace Smapp.Netlink;

/// <summary>
/// A request/response netlink conversation at the message level: what a command channel needs of its socket. The
/// real one is <see cref="NetlinkSocket"/>; tests put a fake here that records what was written and answers with
/// datagrams of their choosing (as mdlayher/netlink's nltest does), so correlation, timeouts and refusals are tested
/// without a kernel.
/// </summary>
public interface INetlinkConnection
{
    /// <summary>The next sequence number (never 0).</summary>
    uint NextSequence();

    /// <summary>Writes one or more messages; throws <see cref="Wire.NetlinkException"/> when the kernel will not take them.</summary>
    void Send(ReadOnlySpan<byte> data);

    /// <summary>Receives one whole datagram into <see cref="Received"/>.</summary>
    ReceiveStatus Receive(bool block = true);

    /// <summary>The datagram the last <see cref="Receive"/> returned.</summary>
    ReadOnlySpan<byte> Received { get; }
}
