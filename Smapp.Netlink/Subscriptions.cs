using Smapp.Netlink.Generic;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Route;
using Smapp.Netlink.Wire;

namespace Smapp.Netlink;

/// <summary>What a subscription hands out when it drains its socket.</summary>
public interface INetlinkSink<in T>
{
    void OnItem(T item, ReadOnlySpan<byte> raw);

    /// <summary>A message that could not be decoded; counted and logged by the caller, never thrown.</summary>
    void OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram);

    /// <summary>ENOBUFS: the kernel dropped messages for this socket. State must be rebuilt from a dump.</summary>
    void OnLost();
}

/// <summary>Counters every subscription keeps.</summary>
public sealed class SubscriptionStats
{
    public long Datagrams;
    public long Messages;
    public long DecodeErrors;
    public long Overruns;
    public long Ignored;
}

/// <summary>A socket subscribed to multicast groups, whose datagrams are decoded into items for a sink.</summary>
public abstract class NetlinkSubscription<T> : IDisposable
{
    protected NetlinkSubscription(NetlinkSocket socket) => Socket = socket;

    public NetlinkSocket Socket { get; }

    public abstract SubscriptionStats Stats { get; }

    /// <summary>Receives one datagram (or nothing, when non-blocking) and hands out every item in it; ENOBUFS goes to <see cref="INetlinkSink{T}.OnLost"/>.</summary>
    public ReceiveStatus ReceiveOnce(INetlinkSink<T> sink, bool block)
    {
        var status = Socket.Receive(block);
        switch (status)
        {
            case ReceiveStatus.Datagram:
                Dispatch(Socket.Received, sink);
                break;
            case ReceiveStatus.Overrun:
                Stats.Overruns++;
                sink.OnLost();
                break;
            case ReceiveStatus.Truncated:
                Stats.DecodeErrors++;
                sink.OnDecodeError(new Wire.DecodeError(Wire.DecodeErrorKind.LengthPastBuffer, 0, "datagram larger than the receive buffer; dropped"), Socket.Received);
                break;
        }

        return status;
    }

    /// <summary>Decodes every item of one datagram; a broken message is reported and the rest still delivered.</summary>
    public abstract void Dispatch(ReadOnlySpan<byte> datagram, INetlinkSink<T> sink);

    public void Dispose() => Socket.Dispose();
}

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

/// <summary>
/// Decodes the mptcp_pm events of received datagrams: a message that cannot be decoded is counted and reported to
/// the sink, and every other message of the datagram is still delivered.
/// </summary>
public sealed class MptcpEventBatchDecoder(ushort familyId)
{
    public ushort FamilyId { get; } = familyId;

    public SubscriptionStats Stats { get; } = new();

    /// <summary>Decodes every event of one datagram; a broken message is reported and the rest still delivered.</summary>
    public void Dispatch(ReadOnlySpan<byte> datagram, INetlinkSink<MptcpEvent> sink)
    {
        Stats.Datagrams++;
        var reader = new NetlinkMessageReader(datagram);
        DecodeError? err;
        while (reader.TryRead(out var m, out err))
        {
            Stats.Messages++;
            if (m.Header.Type != FamilyId)
            {
                Stats.Ignored++;
                continue;
            }

            if (MptcpEventCodec.TryDecode(m, out var ev, out var e))
            {
                sink.OnItem(ev!, datagram.Slice(m.Offset, (int)m.Header.Length));
            }
            else
            {
                Stats.DecodeErrors++;
                sink.OnDecodeError(e!, datagram);
            }
        }

        if (err is not null)
        {
            Stats.DecodeErrors++;
            sink.OnDecodeError(err, datagram);
        }
    }
}

/// <summary>A local address or link change from rtnetlink.</summary>
public abstract record LocalChange;

public sealed record AddressChange(RtAddress Address) : LocalChange;

public sealed record LinkChange(RtLink Link) : LocalChange;

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
