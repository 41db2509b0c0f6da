using Akka.Event;
using Smapp.Netlink;

namespace Smapp.Actors.Gateway;

/// <summary>
/// Datagrams the gateway's sockets dropped because their sender port id was not 0 (not the kernel): another process
/// unicasting forged events, rtnetlink messages or replies to our port ids. Never believed, always counted: a warning
/// the first time a socket drops one (with the sender's port id), a summary at most once a minute while more come,
/// and the totals when the gateway stops. The counts are read with <see cref="GatewayProtocol.GetForeignDrops"/>.
/// </summary>
public sealed class ForeignSenders(ILoggingAdapter log, params (string Name, NetlinkSocket Socket)[] sockets)
{
    private static readonly TimeSpan SummaryEvery = TimeSpan.FromMinutes(1);
    private readonly long[] _reported = new long[sockets.Length];
    private long _summarisedTotal;
    private DateTime _lastSummary = DateTime.MinValue;

    /// <summary>Drops per socket so far, by the socket's name ("mptcp_pm events", "commands", "rtnetlink").</summary>
    public IReadOnlyDictionary<string, long> Counts => sockets.ToDictionary(s => s.Name, s => s.Socket.ForeignDatagrams);

    public long Total => sockets.Sum(s => s.Socket.ForeignDatagrams);

    /// <summary>Called on the gateway's sweep (every second): logs what is new.</summary>
    public void Check(DateTime now)
    {
        var warned = false;
        for (var i = 0; i < sockets.Length; i++)
        {
            var (name, socket) = sockets[i];
            if (_reported[i] == 0 && socket.ForeignDatagrams > 0)
            {
                log.Warning("dropped a datagram on the {Socket} socket (port id {PortId}) from port id {Sender}: not the kernel (port id 0), so not believed; " +
                    "some process is sending forged netlink messages to Smapp. Further drops are counted and summarised once a minute",
                    name, socket.PortId, socket.LastForeignPortId);
                _reported[i] = socket.ForeignDatagrams;
                warned = true;
            }
        }

        var total = Total;
        if (!warned && (total <= _summarisedTotal || now - _lastSummary < SummaryEvery))
        {
            return;
        }

        if (!warned)
        {
            log.Warning("datagrams from non-kernel senders dropped so far: {Counts}", Describe());
        }

        _summarisedTotal = total;
        _lastSummary = now;
    }

    /// <summary>At stop: the totals, when there were any.</summary>
    public void Summarise()
    {
        if (Total > 0)
        {
            log.Warning("datagrams from non-kernel senders dropped while running: {Counts}", Describe());
        }
    }

    private string Describe() => string.Join(", ", sockets.Select(s => $"{s.Name} {s.Socket.ForeignDatagrams}"));
}
