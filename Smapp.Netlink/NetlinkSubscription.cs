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
