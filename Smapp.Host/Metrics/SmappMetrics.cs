using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Prometheus;
using Smapp.Actors;
using Smapp.Actors.Gateway;
using Smapp.Actors.Observing;
using Smapp.Netlink;

namespace Smapp.Host.Metrics;

/// <summary>
/// Prometheus metrics (prometheus-net, its stand-alone HttpListener <see cref="MetricServer"/>: no ASP.NET) at
/// http://ADDR:PORT/metrics, the listener made inside the managed namespace. The hot path only bumps the gateway's
/// own counters (one Interlocked add each, see <see cref="GatewayCounters"/>) and, while metrics are on, observes
/// two histograms (lock-free); each scrape copies the counters into the registry and asks the supervisor, in one
/// turn on the loop, for the connections and subflows by policy. A registry of its own: none of prometheus-net's
/// default collectors (event counters, meters, process figures), so nothing polls in the background.
/// </summary>
public sealed class SmappMetrics : IDisposable
{
    private readonly CollectorRegistry _registry = Prometheus.Metrics.NewCustomRegistry();
    private readonly SmappRuntime _runtime;
    private readonly Counter _events;
    private readonly Counter _commands;
    private readonly Gauge _connections;
    private readonly Gauge _subflows;
    private readonly Counter _resyncs;
    private readonly Counter _dropped;
    private readonly Counter _forged;
    private readonly Counter _malformed;
    private readonly HashSet<string> _policiesSeen = [];
    private IMetricServer? _server;

    private SmappMetrics(SmappRuntime runtime)
    {
        _runtime = runtime;
        var f = Prometheus.Metrics.WithCustomRegistry(_registry);
        _events = f.CreateCounter("smapp_events_total", "mptcp_pm events received from the kernel, by type", "type");
        _commands = f.CreateCounter("smapp_commands_total", "Path-manager commands by outcome (ok or error) and errno", "command", "outcome", "errno");
        _connections = f.CreateGauge("smapp_connections", "Managed MPTCP connections, by policy", "policy");
        _subflows = f.CreateGauge("smapp_subflows", "Subflows of the managed connections (every phase), by policy", "policy");
        _resyncs = f.CreateCounter("smapp_lost_event_resyncs_total", "Reconciliations with sock_diag after the kernel dropped events");
        _dropped = f.CreateCounter("smapp_dropped_events_total", "Times the kernel dropped mptcp_pm events for us (ENOBUFS)");
        _forged = f.CreateCounter("smapp_forged_messages_total", "Netlink messages dropped because their sender was not the kernel");
        _malformed = f.CreateCounter("smapp_malformed_messages_total", "Undecodable netlink messages (counted, logged, never thrown)");
        var latency = f.CreateHistogram("smapp_event_to_command_seconds", "From a decoded mptcp_pm event to the first command written in reaction to it",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.000005, 2, 18) });
        var tick = f.CreateHistogram("smapp_sampler_tick_seconds", "Duration of each sampler tick's sock_diag dump of every subflow",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.00005, 2, 16) });
        runtime.Counters.EventToCommand = new Sink(latency);
        runtime.Counters.SamplerTick = new Sink(tick);
        _registry.AddBeforeCollectCallback(CollectAsync);
    }

    /// <summary>What the daemon listens on (null until started).</summary>
    public IPEndPoint? Listening { get; private set; }

    /// <summary>Starts the HTTP listener inside <paramref name="ns"/> (a thread that entered it binds the socket).</summary>
    public static SmappMetrics Start(SmappRuntime runtime, NetworkNamespace ns, IPEndPoint listen)
    {
        var metrics = new SmappMetrics(runtime);
        var host = listen.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{listen.Address}]" : listen.Address.ToString();
        try
        {
            metrics._server = ns.Run(() => new MetricServer(host, listen.Port, "metrics/", metrics._registry).Start());
        }
        catch (Exception e) when (e is HttpListenerException or SocketException or InvalidOperationException)
        {
            metrics.Dispose();
            throw new InvalidOperationException($"smapp.metrics.listen: cannot listen on {listen} in {ns}: {e.Message}");
        }

        metrics.Listening = listen;
        return metrics;
    }

    /// <summary>Writes the metrics as Prometheus text (what a scrape gets).</summary>
    public async Task<string> ScrapeAsync()
    {
        using var ms = new MemoryStream();
        await _registry.CollectAndExportAsTextAsync(ms);
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }

    private async Task CollectAsync(CancellationToken ct)
    {
        StatusProtocol.ConnectionsStatus? status = null;
        try
        {
            status = await _runtime.Supervisor.Ask<StatusProtocol.ConnectionsStatus>(StatusProtocol.GetStatus.Instance, TimeSpan.FromSeconds(5), ct);
        }
        catch (Exception e) when (e is AskTimeoutException or OperationCanceledException)
        {
            // the gauges keep their last values
        }

        // The counters after the connections: a scrape never shows a connection whose events it has not counted.
        var c = _runtime.Counters.Snapshot();
        foreach (var (type, n) in c.Events)
        {
            _events.WithLabels(type).IncTo(n);
        }

        foreach (var cmd in c.Commands)
        {
            _commands.WithLabels(cmd.Command, cmd.Outcome, cmd.Errno).IncTo(cmd.Count);
        }

        _resyncs.IncTo(c.Resyncs);
        _dropped.IncTo(c.Dropped);
        _forged.IncTo(c.Forged);
        _malformed.IncTo(c.Malformed);

        if (status is null)
        {
            return;
        }

        var byPolicy = status.Connections.GroupBy(x => x.Policy).ToDictionary(g => g.Key, g => (Connections: g.Count(), Subflows: g.Sum(x => x.Subflows.Count)));
        lock (_policiesSeen)
        {
            // A policy that had connections and has none now reads 0, not its last value.
            _policiesSeen.UnionWith(byPolicy.Keys);
            foreach (var policy in _policiesSeen)
            {
                var (conns, subflows) = byPolicy.GetValueOrDefault(policy);
                _connections.WithLabels(policy).Set(conns);
                _subflows.WithLabels(policy).Set(subflows);
            }
        }
    }

    public void Dispose()
    {
        _runtime.Counters.EventToCommand = null;
        _runtime.Counters.SamplerTick = null;
        _server?.Stop();
        _server?.Dispose();
    }

    /// <summary>A histogram as the gateway's latency sink (prometheus-net's Observe: lock-free, no allocation).</summary>
    private sealed class Sink(Histogram histogram) : ILatencySink
    {
        public void Observe(double seconds) => histogram.Observe(seconds);
    }
}
