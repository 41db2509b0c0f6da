using Smapp.Netlink.Wire;

namespace Smapp.Netlink.Mptcp;

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
