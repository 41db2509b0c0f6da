using Smapp.Netlink.Generic;

namespace Smapp.Netlink.Mptcp;

/// <summary>
/// The mptcp_pm multicast event group on its own socket, with a large receive buffer so that bursts from
/// thousands of connections do not overflow it.
/// </summary>
public sealed class MptcpEventSubscription : NetlinkSubscription<MptcpEvent>
{
    public const int DefaultReceiveBuffer = 8 * 1024 * 1024;

    private MptcpEventSubscription(NetlinkSocket socket, GenlFamily family)
        : base(socket)
    {
        Family = family;
        Decoder = new MptcpEventBatchDecoder(family.Id);
    }

    public GenlFamily Family { get; }

    public MptcpEventBatchDecoder Decoder { get; }

    public override SubscriptionStats Stats => Decoder.Stats;

    /// <summary>Opens a socket in the calling thread's namespace, resolves mptcp_pm and joins mptcp_pm_events.</summary>
    public static MptcpEventSubscription Open(bool nonBlocking = false, int receiveBuffer = DefaultReceiveBuffer)
    {
        var socket = NetlinkSocket.Open(NetlinkProtocol.Generic, nonBlocking);
        try
        {
            var family = GenericNetlink.Resolve(socket, MptcpPmNames.Family);
            socket.SetReceiveBuffer(receiveBuffer);
            socket.JoinGroup(family.Group(MptcpPmNames.EventsGroup));

            // Events are small: one recvfrom per datagram instead of a peek and a read (on the reaction's path).
            socket.PeekSize = false;
            return new MptcpEventSubscription(socket, family);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public override void Dispatch(ReadOnlySpan<byte> datagram, INetlinkSink<MptcpEvent> sink) => Decoder.Dispatch(datagram, sink);
}
