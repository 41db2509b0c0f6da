using System.Collections.Concurrent;
using Smapp.Netlink;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Route;
using Smapp.Netlink.Wire;

namespace Smapp.Tests.Support;

/// <summary>
/// Listens to mptcp_pm events (and rtnetlink changes) inside a namespace on a dedicated thread, so tests can wait
/// for what the kernel reports.
/// </summary>
public sealed class EventCollector : IDisposable, INetlinkSink<MptcpEvent>, INetlinkSink<LocalChange>
{
    private readonly BlockingCollection<object> _queue = new();
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<object, object> _receivedAt = new();
    private readonly List<object> _seen = [];
    private readonly Thread _thread;
    private readonly WakeupFd _wakeup = new();
    private readonly MptcpEventSubscription _events;
    private readonly RtnetlinkSubscription _rtnl;
    private volatile bool _stop;

    public EventCollector(string netns)
    {
        var ns = NetworkNamespace.Named(netns);
        (_events, _rtnl) = ns.Run(() => (MptcpEventSubscription.Open(nonBlocking: true), RtnetlinkSubscription.Open(nonBlocking: true)));
        _thread = new Thread(Loop) { IsBackground = true, Name = $"events-{netns}" };
        _thread.Start();
    }

    /// <summary>The default bound of a wait: generous, for a loaded 2-core machine.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    public List<string> DecodeErrors { get; } = [];

    public int Lost { get; private set; }

    private void Loop()
    {
        var poller = new PollSet(_events.Socket.Fd, _rtnl.Socket.Fd, _wakeup.Fd);
        while (!_stop)
        {
            poller.Wait(200);
            if (poller.Ready(0))
            {
                while (_events.ReceiveOnce(this, block: false) is ReceiveStatus.Datagram or ReceiveStatus.Overrun or ReceiveStatus.Truncated) { }
            }

            if (poller.Ready(1))
            {
                while (_rtnl.ReceiveOnce(this, block: false) is ReceiveStatus.Datagram or ReceiveStatus.Overrun or ReceiveStatus.Truncated) { }
            }
        }
    }

    public void OnItem(MptcpEvent item, ReadOnlySpan<byte> raw) => Add(item);

    public void OnItem(LocalChange item, ReadOnlySpan<byte> raw) => Add(item);

    private void Add(object item)
    {
        _receivedAt.AddOrUpdate(item, DateTime.UtcNow);
        _queue.Add(item);
    }

    /// <summary>When the collector's thread received <paramref name="item"/> from the kernel.</summary>
    public DateTime ReceivedAt(object item) => _receivedAt.TryGetValue(item, out var t) ? (DateTime)t : throw new KeyNotFoundException("not an item of this collector");

    public void OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram) => DecodeErrors.Add(error.ToString());

    public void OnLost() => Lost++;

    /// <summary>Waits for the first item (seen before or arriving within the timeout) matching the predicate; throws on timeout.</summary>
    public T WaitFor<T>(Func<T, bool> match, TimeSpan? timeout = null, string? what = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        lock (_seen)
        {
            foreach (var o in _seen)
            {
                if (o is T t && match(t))
                {
                    _seen.Remove(o);
                    return t;
                }
            }

            while (true)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !_queue.TryTake(out var item, left))
                {
                    throw new TimeoutException($"no {what ?? typeof(T).Name} within {timeout ?? DefaultTimeout}; seen: {string.Join("; ", _seen.Select(Describe))}");
                }

                if (item is T t && match(t))
                {
                    return t;
                }

                _seen.Add(item);
            }
        }
    }

    public MptcpEvent WaitFor(MptcpEventType type, Func<MptcpEvent, bool>? match = null, TimeSpan? timeout = null) =>
        WaitFor<MptcpEvent>(e => e.Type == type && (match?.Invoke(e) ?? true), timeout, MptcpEvent.NameOf(type));

    /// <summary>Everything received so far and not yet taken by a wait.</summary>
    public List<MptcpEvent> Drain()
    {
        lock (_seen)
        {
            while (_queue.TryTake(out var item))
            {
                _seen.Add(item);
            }

            return _seen.OfType<MptcpEvent>().ToList();
        }
    }

    private static string Describe(object o) => o switch
    {
        MptcpEvent e => $"{e.Name} {e.Token:x8} {e.SourceAddress}:{e.SourcePort}->{e.DestinationAddress}:{e.DestinationPort} err={e.Error}",
        _ => o.ToString() ?? "",
    };

    public void Dispose()
    {
        _stop = true;
        _wakeup.Signal();
        _thread.Join(TimeSpan.FromSeconds(2));
        _events.Dispose();
        _rtnl.Dispose();
        _wakeup.Dispose();
    }
}
