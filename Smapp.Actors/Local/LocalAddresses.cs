using System.Collections.Immutable;
using System.Net;
using Akka.Actor;
using Akka.Event;
using Smapp.Actors.Gateway;
using Smapp.Policy;
using Smapp.Netlink;
using Smapp.Netlink.Route;

namespace Smapp.Actors.Local;

/// <summary>The messages of <see cref="LocalAddresses"/>.</summary>
public static class LocalAddressesProtocol
{
    /// <summary>Send <see cref="Snapshot"/> now and <see cref="Added"/> / <see cref="Removed"/> on every change.</summary>
    public sealed record Subscribe(IActorRef Subscriber);

    /// <summary>Every usable local address now.</summary>
    public sealed record Snapshot(ImmutableList<LocalAddress> Addresses);

    public sealed record Added(LocalAddress Address, ImmutableList<LocalAddress> All);

    public sealed record Removed(LocalAddress Address, ImmutableList<LocalAddress> All);
}

/// <summary>
/// The host's usable addresses, from rtnetlink: global scope, not tentative or deprecated, on an interface that is
/// up and running and not loopback. A link going down takes its addresses out; coming back brings them back.
/// </summary>
public sealed class LocalAddresses : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly List<IActorRef> _subscribers = [];
    private readonly Dictionary<int, RtLink> _links = [];
    private readonly Dictionary<(int, IPAddress), RtAddress> _addresses = [];
    private readonly Func<RtAddress, RtLink?, bool>? _filter;
    private ImmutableList<LocalAddress> _usable = [];

    public LocalAddresses(IActorRef gateway, Func<RtAddress, RtLink?, bool>? filter = null)
    {
        _filter = filter;
        Receive<LocalAddressesProtocol.Subscribe>(s =>
        {
            _subscribers.Add(s.Subscriber);
            Context.Watch(s.Subscriber);
            s.Subscriber.Tell(new LocalAddressesProtocol.Snapshot(_usable));
        });
        Receive<GatewayProtocol.LocalSnapshot>(s =>
        {
            _links.Clear();
            _addresses.Clear();
            foreach (var l in s.Links) _links[l.IfIndex] = l;
            foreach (var a in s.Addresses) _addresses[(a.IfIndex, a.Address)] = a;
            Recompute();
        });
        Receive<AddressChange>(c =>
        {
            if (c.Address.Removed) _addresses.Remove((c.Address.IfIndex, c.Address.Address));
            else _addresses[(c.Address.IfIndex, c.Address.Address)] = c.Address;
            Recompute();
        });
        Receive<LinkChange>(c =>
        {
            if (c.Link.Removed) _links.Remove(c.Link.IfIndex);
            else _links[c.Link.IfIndex] = c.Link;
            Recompute();
        });
        Receive<GatewayProtocol.EventsLost>(_ => { }); // a fresh LocalSnapshot follows
        Receive<Terminated>(t => _subscribers.Remove(t.ActorRef));
        gateway.Tell(new GatewayProtocol.SubscribeLocalChanges(Self));
    }

    public static Props Props(IActorRef gateway, string? dispatcher = null, Func<RtAddress, RtLink?, bool>? filter = null)
    {
        var p = Akka.Actor.Props.Create(() => new LocalAddresses(gateway, filter));
        return dispatcher is null ? p : p.WithDispatcher(dispatcher);
    }

    private void Recompute()
    {
        var now = _addresses.Values
            .Where(a =>
            {
                _links.TryGetValue(a.IfIndex, out var link);
                return a.IsUsable && (link is null || (link.IsUp && link.IsRunning && !link.IsLoopback)) && (_filter?.Invoke(a, link) ?? true);
            })
            .Select(a => new LocalAddress(a.Address, a.IfIndex, _links.TryGetValue(a.IfIndex, out var l) ? l.Name : a.Label))
            .OrderBy(a => a.IfIndex).ThenBy(a => a.Address.ToString())
            .ToImmutableList();
        var removed = _usable.Where(o => !now.Any(n => n.Address.Equals(o.Address))).ToList();
        var added = now.Where(n => !_usable.Any(o => o.Address.Equals(n.Address))).ToList();
        _usable = now;
        foreach (var r in removed)
        {
            _log.Info("local address {Address} is no longer usable", r);
            Publish(new LocalAddressesProtocol.Removed(r, now));
        }

        foreach (var a in added)
        {
            _log.Info("local address {Address} is usable", a);
            Publish(new LocalAddressesProtocol.Added(a, now));
        }
    }

    private void Publish(object message)
    {
        foreach (var s in _subscribers)
        {
            s.Tell(message);
        }
    }
}
