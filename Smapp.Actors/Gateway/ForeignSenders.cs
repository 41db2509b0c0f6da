using Akka.Event;
using Smapp.Netlink;

namespace Smapp.Actors.Gateway;

/// <summary>
/// Datagrams the gateway's sockets dropped because their sender port id was not 0 (not the kernel): another process
/// unicasting forged events, rtnetlink messages or replies to our port ids. Never believed, always counted: a warning
/// the first time a socket drops one (with the sender's port id), a summary at most once a minute while more come,
/// and the totals when the gateway stops. The counts are read with <see cref="GatewayProtocol.GetForeignDrops"/>.
/// </summary>
/// <para>
/// Each socket is named by a getter: a socket the gateway re-opens after a failure is followed (what its predecessor
/// dropped is kept in <c>_carried</c>).
/// </para>
public sealed class ForeignSenders(ILoggingAdapter log, params (string Name, Func<NetlinkSocket?> Socket)[] sockets)
{
    private static readonly TimeSpan SummaryEvery = TimeSpan.FromMinutes(1);
    private readonly long[] _reported = new long[sockets.Length];
    private readonly long[] _carried = new long[sockets.Length];
    private readonly NetlinkSocket?[] _seen = new NetlinkSocket?[sockets.Length];
    private long _summarisedTotal;
    private DateTime _lastSummary = DateTime.MinValue;

    /// <summary>Drops per socket so far, by the socket's name ("mptcp_pm events", "commands", "rtnetlink").</summary>
    public IReadOnlyDictionary<string, long> Counts => Enumerable.Range(0, sockets.Length).ToDictionary(i => sockets[i].Name, Dropped);

    public long Total => Enumerable.Range(0, sockets.Length).Sum(Dropped);

    /// <summary>Everything dropped so far has been reported (nothing for the next <see cref="Check"/> to say).</summary>
    public bool Settled => Total <= _summarisedTotal;

    /// <summary>What socket <paramref name="i"/> and those it replaced dropped.</summary>
    private long Dropped(int i)
    {
        var socket = sockets[i].Socket();
        if (!ReferenceEquals(socket, _seen[i]))
        {
            _carried[i] += _seen[i]?.ForeignDatagrams ?? 0;
            _seen[i] = socket;
        }

        return _carried[i] + (socket?.ForeignDatagrams ?? 0);
    }

    /// <summary>Called on the gateway's sweep (every second while it runs): logs what is new.</summary>
    public void Check(DateTime now)
    {
        var warned = false;
        for (var i = 0; i < sockets.Length; i++)
        {
            var (name, getSocket) = sockets[i];
            var dropped = Dropped(i);
            if (_reported[i] == 0 && dropped > 0 && getSocket() is { } socket)
            {
                log.Warning("dropped a datagram on the {Socket} socket (port id {PortId}) from port id {Sender}: not the kernel (port id 0), so not believed; " +
                    "some process is sending forged netlink messages to Smapp. Further drops are counted and summarised once a minute",
                    name, socket.PortId, socket.LastForeignPortId);
                _reported[i] = dropped;
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

    private string Describe() => string.Join(", ", Enumerable.Range(0, sockets.Length).Select(i => $"{sockets[i].Name} {Dropped(i)}"));
}
