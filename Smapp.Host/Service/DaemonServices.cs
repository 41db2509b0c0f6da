using System.Runtime.InteropServices;
using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog;
using Smapp.Actors;
using Smapp.Actors.Configuration;
using Smapp.Actors.Observing;
using Smapp.Host.Configuration;
using Smapp.Host.Metrics;
using Smapp.Host.Status;
using Smapp.Netlink;

namespace Smapp.Host.Service;

/// <summary>
/// What `smapp run` adds around the controller once it is up: the status socket, the metrics listener (when
/// configured), systemd's readiness (READY=1 once the supervisor is subscribed and the start-up takeover is done;
/// STOPPING=1 when shutdown begins) and SIGHUP, which reloads the configuration: new connections follow the new
/// rules, the managed ones keep their policy and state; a bad file is refused (logged at error with the key and
/// the reason) and the old rules stay.
/// </summary>
internal sealed class DaemonServices : IAsyncDisposable
{
    private readonly SmappRuntime _runtime;
    private readonly Func<(Akka.Configuration.Config Config, SmappSettings Settings)> _load;
    private readonly SdNotify _notify;
    private readonly StatusServer? _status;
    private readonly SmappMetrics? _metrics;
    private AppApi.AppApiServer? _app;
    private readonly SemaphoreSlim _reloading = new(1, 1);
    private PosixSignalRegistration? _hup;
    private SmappSettings _settings;
    private OperationsSettings _ops;
    private readonly string? _ns;

    private DaemonServices(SmappRuntime runtime, SmappSettings settings, OperationsSettings ops, string? ns, Func<(Akka.Configuration.Config, SmappSettings)> load,
        SdNotify notify, StatusServer? status, SmappMetrics? metrics)
    {
        _runtime = runtime;
        _settings = settings;
        _ops = ops;
        _ns = ns;
        _load = load;
        _notify = notify;
        _status = status;
        _metrics = metrics;
    }

    /// <summary>Starts the status socket and metrics, waits for the controller to be ready, tells systemd, and handles SIGHUP.</summary>
    public static async Task<DaemonServices> StartAsync(IHost host, SmappRuntime runtime, NetworkNamespace ns, SmappSettings settings, OperationsSettings ops,
        Func<(Akka.Configuration.Config, SmappSettings)> load, CancellationToken ct)
    {
        var notify = SdNotify.FromEnvironment();

        // SIGHUP is caught from the start (its default would end the process): one that comes while the controller is
        // still starting is held and runs once it is ready, instead of racing the registration.
        var started = new TaskCompletionSource<DaemonServices>(TaskCreationOptions.RunContinuationsAsynchronously);
        var hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, ctx =>
        {
            ctx.Cancel = true;
            _ = Task.Run(async () =>
            {
                if (await started.Task.ConfigureAwait(false) is { } s)
                {
                    await s.ReloadAsync().ConfigureAwait(false);
                }
            });
        });
        StatusServer? status = null;
        SmappMetrics? metrics = null;
        AppApi.AppApiServer? app = null;
        try
        {
            if (ops.StatusSocket is { } path)
            {
                status = StatusServer.Start(path, runtime, ns.Name);
                Log.Information("status socket {Path} (smapp status{Netns})", path, ns.Name is null ? "" : $" --netns {ns.Name}");
            }

            if (ops.AppSocket is { } appPath)
            {
                app = AppApi.AppApiServer.Start(appPath, runtime);
                Log.Information("application socket {Path} (Smapp.Client; every user, for connections they own)", appPath);
            }

            if (ops.MetricsListen is { } listen)
            {
                metrics = SmappMetrics.Start(runtime, ns, listen);
                Log.Information("metrics at http://{Listen}/metrics in {Where}", listen, ns.Name is null ? "this host's namespace" : $"namespace {ns.Name}");
            }

            // Ready: subscribed to the gateway's events and the start-up takeover done (it may take a while with many connections).
            // A stop that comes meanwhile (SIGTERM during start-up) stops the supervisor, which then never answers: the wait
            // ends with the host's stopping or the actor system's end too, instead of holding the exit for 5 minutes.
            var ready = runtime.Supervisor.Ask<StatusProtocol.Ready>(StatusProtocol.AwaitReady.Instance, TimeSpan.FromMinutes(5), ct);
            var stopping = host.Services.GetService<IHostApplicationLifetime>()?.ApplicationStopping ?? CancellationToken.None;
            var ended = host.Services.GetRequiredService<ActorSystem>().WhenTerminated;
            if (await Task.WhenAny(ready, ended, Task.Delay(Timeout.Infinite, stopping)) != ready)
            {
                throw new OperationCanceledException("stopped during start-up");
            }

            await ready;
        }
        catch (Exception e)
        {
            // Nothing started here outlives a failed start; a held SIGHUP is dropped.
            hup.Dispose();
            started.TrySetResult(null!);
            metrics?.Dispose();
            app?.Dispose();
            status?.Dispose();
            notify.Dispose();
            if (e is InvalidOperationException)
            {
                throw new StartRefusedException(e.Message);
            }

            throw;
        }

        var services = new DaemonServices(runtime, settings, ops, ns.Name, load, notify, status, metrics) { _app = app };
        services.Notify($"READY=1\nSTATUS=managing MPTCP connections in {ns.Name ?? "this host's namespace"}\nMAINPID={Environment.ProcessId}");
        if (notify.Enabled)
        {
            Log.Information("told systemd READY=1");
        }

        host.Services.GetService<IHostApplicationLifetime>()?.ApplicationStopping.Register(() => services.Notify("STOPPING=1"));
        services._hup = hup;
        started.SetResult(services);
        // The line to wait for: the status and application sockets answer, and SIGHUP reloads.
        Log.Information("smapp ready in {Where}", ns.Name is null ? "this host's namespace" : $"namespace {ns.Name}");
        return services;
    }

    private void Notify(string state)
    {
        if (_notify.Notify(state) is { } error)
        {
            Log.Warning("{Error}", error);
        }
    }

    /// <summary>SIGHUP: reads the configuration again; the new rules apply to new connections only.</summary>
    public async Task ReloadAsync()
    {
        await _reloading.WaitAsync();
        try
        {
            Notify($"RELOADING=1\nMONOTONIC_USEC={MonotonicMicroseconds()}");
            SmappSettings next;
            OperationsSettings nextOps;
            try
            {
                var (config, settings) = _load();
                nextOps = OperationsSettings.FromConfig(config, _ns);
                next = settings;
            }
            catch (ConfigError e)
            {
                Log.Error("configuration reload refused: {Key}: {Reason}; the running configuration stays (default policy {Policy}, {Rules} rule(s))",
                    e.Key, e.Reason, _settings.Selector.DefaultPolicy, _settings.Selector.Rules.Count);
                return;
            }

            var replaced = await _runtime.Supervisor.Ask<StatusProtocol.SelectorReplaced>(new StatusProtocol.ReplaceSelector(next.Selector), TimeSpan.FromSeconds(10));
            var kept = NeedRestart(_settings, next, _ops, nextOps);
            _settings = _settings with { Selector = next.Selector };
            Log.Information("configuration reloaded: default policy {Policy}, {Rules} rule(s) ({Names}); new connections follow them, managed connections keep theirs",
                replaced.DefaultPolicy, replaced.Rules, string.Join(", ", next.Selector.Rules.Select(r => $"{r.Name} → {r.Policy}")));
            if (kept.Count > 0)
            {
                Log.Warning("configuration reload: {Keys} changed but apply only at start: restart smapp for them", string.Join(", ", kept));
            }
        }
        catch (Exception e)
        {
            Log.Error("configuration reload failed: {Message}; the running configuration stays", e.GetBaseException().Message);
        }
        finally
        {
            Notify("READY=1");
            _reloading.Release();
        }
    }

    /// <summary>The keys whose new values a reload cannot apply (they shape sockets and threads made at start).</summary>
    private static List<string> NeedRestart(SmappSettings old, SmappSettings next, OperationsSettings oldOps, OperationsSettings nextOps)
    {
        var keys = new List<string>();
        if (old.Gateway != next.Gateway) keys.Add("smapp.gateway");
        if (old.BusyPoll != next.BusyPoll) keys.Add("smapp.gateway.busy-poll");
        if (old.RealtimePriority != next.RealtimePriority) keys.Add("smapp.gateway.realtime-priority");
        if (old.Takeover != next.Takeover) keys.Add("smapp.takeover");
        if (!old.Interfaces.SequenceEqual(next.Interfaces)) keys.Add("smapp.interfaces");
        if (old.SampleInterval != next.SampleInterval) keys.Add("smapp.sampler.interval");
        if (old.DecisionsAtInfo != next.DecisionsAtInfo) keys.Add("smapp.decision-log");
        if (oldOps.StatusSocket != nextOps.StatusSocket) keys.Add("smapp.status.socket");
        if (!Equals(oldOps.MetricsListen, nextOps.MetricsListen)) keys.Add("smapp.metrics.listen");
        if (oldOps.AppSocket != nextOps.AppSocket) keys.Add("smapp.app-api.socket");
        return keys;
    }

    private static long MonotonicMicroseconds() => (long)(System.Diagnostics.Stopwatch.GetTimestamp() / (System.Diagnostics.Stopwatch.Frequency / 1_000_000.0));

    public async ValueTask DisposeAsync()
    {
        _hup?.Dispose();
        await _reloading.WaitAsync(TimeSpan.FromSeconds(10));
        _metrics?.Dispose();
        _app?.Dispose();
        _status?.Dispose();
        _notify.Dispose();
    }
}

/// <summary>The status socket or the metrics listener could not be made: the message says which key and why (no stack trace).</summary>
internal sealed class StartRefusedException(string message) : Exception(message);
