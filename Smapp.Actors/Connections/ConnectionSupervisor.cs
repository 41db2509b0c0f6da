using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Smapp.Actors.Configuration;
using Smapp.Actors.Gateway;
using Smapp.Actors.Local;
using Smapp.Policy;
using Smapp.Actors.Sampling;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using static Smapp.Actors.Connections.ConnectionProtocol;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Actors.Connections;

/// <summary>
/// One <see cref="ConnectionActor"/> per MPTCP connection, keyed by token: created on CREATED (or found live at
/// start: takeover), stopped on CLOSED. Each failure restarts only the failing connection's actor. It routes the
/// kernel's events and the sampler's batches, and hands every connection the host's local addresses.
/// </summary>
public sealed class ConnectionSupervisor : ReceiveActor
{
    private const long TakeoverRequest = 1;
    private const long ResyncRequest = 2;
    private const long LookupRequest = 3;
    private readonly IActorRef _gateway;
    private readonly IActorRef? _sampler;
    private readonly PolicySelector _selector;
    private readonly SupervisorSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<uint, IActorRef> _byToken = [];
    private readonly Dictionary<PolicyChoice, Props> _props = [];
    private readonly Dictionary<uint, TimeSpan> _sampling = [];
    private readonly HashSet<uint> _lookingUp = [];
    private readonly HashSet<uint> _fromKernel = [];
    private ImmutableList<LocalAddress> _locals = [];
    private bool _lookupInFlight;
    private long _started;
    private (int Count, TimeSpan Interval) _demand;

    public ConnectionSupervisor(IActorRef gateway, IActorRef localAddresses, IActorRef? sampler, PolicySelector selector, SupervisorSettings settings)
    {
        _gateway = gateway;
        _sampler = sampler;
        _selector = selector;
        _settings = settings;
        Receive<MptcpEvent>(Route);
        Receive<ConnectionsDumped>(HandleDump);
        Receive<EventsLost>(e =>
        {
            _log.Warning("{Source} events were lost: reconciling every connection with sock_diag", e.Source);
            _gateway.Tell(new DumpConnections(ResyncRequest));
        });
        Receive<LocalAddressesProtocol.Snapshot>(s => Broadcast(s.Addresses, null, null));
        Receive<LocalAddressesProtocol.Added>(a => Broadcast(a.All, a.Address, null));
        Receive<LocalAddressesProtocol.Removed>(r => Broadcast(r.All, null, r.Address));
        Receive<SamplerProtocol.SampleBatch>(HandleSamples);
        Receive<Terminated>(t => Forget(t.ActorRef));
        Receive<GetState>(_ => Sender.Tell(new ConnectionsState(_byToken.Keys.ToList(), _sampling.Count)));
        Receive<ToConnection>(m =>
        {
            if (_byToken.TryGetValue(m.Token, out var child))
            {
                child.Forward(m.Message);
            }
            else
            {
                Sender.Tell(new Status.Failure(new KeyNotFoundException($"no connection {m.Token:x8}")));
            }
        });
        localAddresses.Tell(new LocalAddressesProtocol.Subscribe(Self));
        gateway.Tell(new SubscribeEvents(Self));
        if (settings.Takeover)
        {
            gateway.Tell(new DumpConnections(TakeoverRequest));
        }
    }

    /// <summary>Sends a message to one connection's actor (replies go to the original sender).</summary>
    public sealed record ToConnection(uint Token, object Message);

    public static Props Props(IActorRef gateway, IActorRef localAddresses, IActorRef? sampler, PolicySelector selector, SupervisorSettings settings)
    {
        var p = Akka.Actor.Props.Create(() => new ConnectionSupervisor(gateway, localAddresses, sampler, selector, settings));
        return settings.ConnectionDispatcher is null ? p : p.WithDispatcher(settings.ConnectionDispatcher);
    }

    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(_settings.MaxRestarts, _settings.RestartWindow ?? TimeSpan.FromMinutes(1), _ => Directive.Restart);

    private void Route(MptcpEvent ev)
    {
        if (ev.Token is not { } token)
        {
            return; // listener events
        }

        if (_byToken.TryGetValue(token, out var child))
        {
            if (ev.Type == MptcpEventType.Created && !_fromKernel.Contains(token))
            {
                // A token seen again on CREATED: the old connection's CLOSED was lost. (CREATED for a connection
                // a sock_diag dump found first is the dump racing with the event: that one is forwarded.)
                Forget(child);
                Context.Stop(child);
                Start(token, new FromEvent(ev), Side(ev));
                return;
            }

            child.Tell(ev);
            return;
        }

        switch (ev.Type)
        {
            case MptcpEventType.Created or MptcpEventType.Established when ev.SourceAddress is not null:
                Start(token, new FromEvent(ev), Side(ev));
                break;
            case MptcpEventType.Closed:
                break;
            default:
                // An event for a connection we never saw start (Smapp started late, or events were lost): ask the
                // kernel. One dump at a time serves every such connection: it adopts all it does not know.
                if (_lookingUp.Add(token) && !_lookupInFlight)
                {
                    _lookupInFlight = true;
                    _gateway.Tell(new DumpConnections(LookupRequest));
                }

                break;
        }
    }

    private static Side Side(MptcpEvent ev) => ev.ServerSide == true ? Policy.Side.Server : Policy.Side.Client;

    private void Start(uint token, ConnectionOrigin origin, Side side)
    {
        var (local, remote) = origin switch
        {
            FromEvent { Event: var e } => (new Endpoint(e.SourceAddress!, e.SourcePort ?? 0), new Endpoint(e.DestinationAddress!, e.DestinationPort ?? 0)),
            FromKernel k => (new Endpoint(k.Connection.Id.Source, k.Connection.Id.SourcePort), new Endpoint(k.Connection.Id.Destination, k.Connection.Id.DestinationPort)),
            _ => throw new ArgumentException(nameof(origin)),
        };
        var choice = _selector.Select(side, local, remote);
        // A replaced connection's actor keeps its name until it has stopped: its successor takes another one.
        var name = $"c-{token:x8}";
        if (!Context.Child(name).IsNobody())
        {
            name = $"{name}-{++_started}";
        }

        if (!_props.TryGetValue(choice, out var props))
        {
            _props[choice] = props = ConnectionActor.Props(_gateway, choice, _settings.ConnectionDispatcher, _settings.Mailbox);
        }

        var child = Context.ActorOf(props, name);
        child.Tell(new Init(token, origin, _locals));
        if (origin is FromKernel)
        {
            _fromKernel.Add(token);
        }
        else
        {
            _fromKernel.Remove(token);
        }

        Context.Watch(child);
        _byToken[token] = child;
        if (choice.NeedsSamples)
        {
            _sampling[token] = choice.SampleInterval ?? _settings.SampleInterval ?? TimeSpan.FromMilliseconds(100);
            UpdateDemand();
        }
    }

    private void Forget(IActorRef child)
    {
        if (TokenOf(child) is { } token && _byToken.TryGetValue(token, out var current) && current.Equals(child))
        {
            _byToken.Remove(token);
            _fromKernel.Remove(token);
            if (_sampling.Remove(token))
            {
                UpdateDemand();
            }
        }
    }

    /// <summary>The token a connection actor's name carries: c-TOKEN or c-TOKEN-N (no per-connection map needed).</summary>
    private static uint? TokenOf(IActorRef child)
    {
        var name = child.Path.Name;
        return name.Length >= 10 && name.StartsWith("c-") &&
            uint.TryParse(name.AsSpan(2, 8), System.Globalization.NumberStyles.HexNumber, null, out var token) ? token : null;
    }

    private void UpdateDemand()
    {
        if (_sampler is null)
        {
            return;
        }

        var demand = (_sampling.Count, _sampling.Count == 0 ? TimeSpan.Zero : _sampling.Values.Min());
        if (demand.Item1 > 0 && _demand.Count > 0 && demand.Item2 == _demand.Interval)
        {
            _demand = demand;
            return;
        }

        _demand = demand;
        _sampler.Tell(new SamplerProtocol.Demand(demand.Item1, demand.Item2));
    }

    private void HandleDump(ConnectionsDumped d)
    {
        if (d.RequestId == LookupRequest)
        {
            _lookupInFlight = false;
        }

        if (d.Error is not null)
        {
            _log.Warning("sock_diag dump failed: {Error}", d.Error);
            _lookingUp.Clear();
            return;
        }

        var subflows = d.Subflows.GroupBy(s => s.Token).ToDictionary(g => g.Key, g => (IReadOnlyList<SubflowDiag>)g.ToList());
        var taken = 0;
        foreach (var conn in d.Connections)
        {
            var token = conn.Info.Token;
            _lookingUp.Remove(token);
            var sfs = subflows.GetValueOrDefault(token) ?? [];
            if (_byToken.TryGetValue(token, out var child))
            {
                if (d.RequestId == ResyncRequest)
                {
                    child.Tell(new Resync(conn, sfs));
                }

                continue;
            }

            if (conn.Info.Token == 0 || conn.Info.Fallback)
            {
                continue;
            }

            var server = d.Listeners.Any(l => l.Id.SourcePort == conn.Id.SourcePort &&
                (l.Id.Source.Equals(conn.Id.Source) || l.Id.Source.Equals(System.Net.IPAddress.Any) || l.Id.Source.Equals(System.Net.IPAddress.IPv6Any)));
            Start(token, new FromKernel(conn, sfs, server ? Policy.Side.Server : Policy.Side.Client), server ? Policy.Side.Server : Policy.Side.Client);
            taken++;
        }

        if (d.RequestId == ResyncRequest)
        {
            var live = d.Connections.Select(c => c.Info.Token).ToHashSet();
            foreach (var (token, child) in _byToken.Where(kv => !live.Contains(kv.Key)).ToList())
            {
                child.Tell(new Resync(null, []));
            }
        }

        if (d.RequestId == LookupRequest)
        {
            // Tokens the kernel no longer has: their connections ended before we could look.
            _lookingUp.Clear();
        }

        if (d.RequestId == TakeoverRequest)
        {
            _log.Info("start-up takeover: {Count} live MPTCP connections found and adopted", taken);
        }
    }

    private void HandleSamples(SamplerProtocol.SampleBatch batch)
    {
        foreach (var token in _sampling.Keys)
        {
            if (batch.ByToken.TryGetValue(token, out var list) && _byToken.TryGetValue(token, out var child))
            {
                child.Tell(new Samples(token, list, batch.At));
            }
        }
    }

    private void Broadcast(ImmutableList<LocalAddress> all, LocalAddress? added, LocalAddress? removed)
    {
        _locals = all;
        var msg = new LocalAddressesChanged(all, added, removed);
        foreach (var child in _byToken.Values)
        {
            child.Tell(msg);
        }
    }
}
