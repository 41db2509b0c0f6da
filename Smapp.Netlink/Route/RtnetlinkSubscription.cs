using Smapp.Netlink.Wire;

namespace Smapp.Netlink.Route;

/// <summary>rtnetlink's link and IPv4/IPv6 address groups on one socket.</summary>
public sealed class RtnetlinkSubscription : NetlinkSubscription<LocalChange>
{
    private RtnetlinkSubscription(NetlinkSocket socket)
        : base(socket)
    {
    }

    public override SubscriptionStats Stats { get; } = new();

    public static RtnetlinkSubscription Open(bool nonBlocking = false)
    {
        var socket = NetlinkSocket.Open(NetlinkProtocol.Route, nonBlocking);
        try
        {
            socket.SetReceiveBuffer(1024 * 1024);
            socket.JoinGroup(Rtnetlink.GroupLink);
            socket.JoinGroup(Rtnetlink.GroupIPv4Addr);
            socket.JoinGroup(Rtnetlink.GroupIPv6Addr);
            return new RtnetlinkSubscription(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public override void Dispatch(ReadOnlySpan<byte> datagram, INetlinkSink<LocalChange> sink)
    {
        Stats.Datagrams++;
        var reader = new NetlinkMessageReader(datagram);
        DecodeError? err;
        while (reader.TryRead(out var m, out err))
        {
            Stats.Messages++;
            DecodeError? e = null;
            switch (m.Header.Type)
            {
                case Rtnetlink.NewAddr or Rtnetlink.DelAddr:
                    if (Rtnetlink.TryDecodeAddress(m, out var a, out e))
                    {
                        sink.OnItem(new AddressChange(a!), datagram.Slice(m.Offset, (int)m.Header.Length));
                    }

                    break;
                case Rtnetlink.NewLink or Rtnetlink.DelLink:
                    if (Rtnetlink.TryDecodeLink(m, out var l, out e))
                    {
                        sink.OnItem(new LinkChange(l!), datagram.Slice(m.Offset, (int)m.Header.Length));
                    }

                    break;
                default:
                    Stats.Ignored++;
                    break;
            }

            if (e is not null)
            {
                Stats.DecodeErrors++;
                sink.OnDecodeError(e, datagram);
            }
        }

        if (err is not null)
        {
            Stats.DecodeErrors++;
            sink.OnDecodeError(err, datagram);
        }
    }
}
