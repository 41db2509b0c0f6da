using System.CommandLine;
using Akka.Actor;
using Akka.Hosting;
using Akka.Logger.Serilog;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serilog;
using Serilog.Events;
using Smapp.Actors;
using Smapp.Actors.Configuration;
using Smapp.Actors.Connections;
using Smapp.Actors.Gateway;
using Smapp.Host.Configuration;
using Smapp.Netlink;

namespace Smapp.Host.Commands;

/// <summary>Registry keys for the top-level actors (Akka.Hosting's IRequiredActor&lt;T&gt;).</summary>
public sealed class GatewayKey;

public sealed class SupervisorKey;

public sealed class SamplerKey;

/// <summary>`smapp run`: the daemon.</summary>
public static class RunCommand
{
    public static Command Build()
    {
        var config = new Option<string?>("--config") { Description = $"HOCON configuration file (default: HOCON/smapp.conf next to the executable)" };
        var netns = CommonOptions.Netns();
        var policy = new Option<string?>("--policy") { Description = "Default policy, overriding smapp.policy (fullmesh, ndiffports, server-guard, passive)" };
        var set = new Option<string[]>("--set") { Description = "Override any HOCON key: --set smapp.policies.ndiffports.subflows=4 (repeatable)", AllowMultipleArgumentsPerToken = false };
        var switchPm = new Option<bool>("--switch-pm") { Description = "Put the namespace in userspace path-manager mode if it is not, and restore it at exit" };
        var logFormat = new Option<string>("--log-format") { Description = "text or json", DefaultValueFactory = _ => "text" };
        logFormat.AcceptOnlyFromAmong("text", "json");
        var logLevel = new Option<string>("--log-level") { Description = "debug, info, warning or error", DefaultValueFactory = _ => "info" };
        logLevel.AcceptOnlyFromAmong("debug", "info", "warning", "error");
        var cmd = new Command("run", "Run the subflow controller (the daemon) for the MPTCP connections of this host or of a namespace")
        {
            config, netns, policy, set, switchPm, logFormat, logLevel,
        };
        cmd.SetAction((r, ct) => Run(r.GetValue(config), r.GetValue(netns), r.GetValue(policy), r.GetValue(set) ?? [], r.GetValue(switchPm),
            r.GetValue(logFormat)!, r.GetValue(logLevel)!, ct));
        return cmd;
    }

    public static async Task<int> Run(string? configPath, string? netns, string? policy, string[] sets, bool switchPm, string logFormat, string logLevel, CancellationToken ct)
    {
        // 1. Configuration first: a bad key stops us before anything touches the kernel.
        Akka.Configuration.Config config;
        SmappSettings settings;
        OperationsSettings ops;
        try
        {
            (config, settings) = ConfigLoader.Load(configPath, policy, sets);
            ops = OperationsSettings.FromConfig(config, netns);
        }
        catch (ConfigError e)
        {
            return CommonOptions.Fail($"bad configuration: {e.Key}: {e.Reason}", 2);
        }

        // 2. The namespace and its path manager.
        NetworkNamespace ns;
        try
        {
            ns = NetworkNamespace.FromOption(netns);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            return CommonOptions.Fail(e.Message);
        }

        var where = ns.Name is null ? "this host" : $"namespace {ns.Name}";

        // 3. The privilege to manage it, and no other path manager there: each a clear line and exit 1.
        if (RunGuards.CheckPrivilege(ns, where) is { } denied)
        {
            return CommonOptions.Fail(denied);
        }

        var (claim, refusal) = RunGuards.Claim(ns, where);
        if (refusal is not null)
        {
            return CommonOptions.Fail(refusal);
        }

        using var held = claim;
        var mode = PathManagerMode.Read(ns);
        string? restore = null;
        if (mode is null)
        {
            return CommonOptions.Fail($"{where} has no MPTCP (/proc/sys/net/mptcp is missing): use a kernel with CONFIG_MPTCP=y, Linux 5.19 or newer");
        }

        if (mode != "userspace")
        {
            if (!switchPm && !settings.SwitchPathManager)
            {
                return CommonOptions.Fail($"{where} uses the {mode} path manager: new MPTCP connections would not reach Smapp.\n" +
                    $"  fix: kernel-pm/pm-mode.sh userspace{(ns.Name is null ? "" : $" --netns {ns.Name}")}, or run with --switch-pm (or smapp.switch-path-manager = on)");
            }

            PathManagerMode.Set(ns, "userspace");
            restore = mode;
        }

        var level = logLevel switch { "debug" => LogEventLevel.Debug, "warning" => LogEventLevel.Warning, "error" => LogEventLevel.Error, _ => LogEventLevel.Information };
        var logConfig = new LoggerConfiguration().MinimumLevel.Is(level).Enrich.FromLogContext();
        // Under systemd (JOURNAL_STREAM set) text logs go to the journal: no timestamps or colours, a syslog priority each.
        var journal = logFormat == "text" && Environment.GetEnvironmentVariable("JOURNAL_STREAM") is { Length: > 0 };
        Log.Logger = (journal ? logConfig.WriteTo.Console(new Service.JournalFormatter(), standardErrorFromLevel: LogEventLevel.Verbose) : logFormat == "json"
            ? logConfig.WriteTo.Console(new Serilog.Formatting.Json.JsonFormatter(renderMessage: true), standardErrorFromLevel: LogEventLevel.Verbose)
            : logConfig.WriteTo.Console(outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}", standardErrorFromLevel: LogEventLevel.Verbose))
            .CreateLogger();
        if (restore is not null)
        {
            Log.Information("switched {Where} from the {Mode} path manager to userspace; it goes back at exit", where, restore);
        }

        foreach (var warning in ConfigLoader.MissingInterfaces(settings, RunGuards.InterfaceNames(ns)))
        {
            Log.Warning("{Warning}", warning);
        }

        SmappRuntime? runtime = null;
        string? fatal = null;
        var namespaceGone = false;
        IHostApplicationLifetime? lifetime = null;

        // SIGTERM and SIGINT are caught from here, not only once the host's console lifetime listens: one that comes
        // before stops the host as soon as it exists (the runtime's default would exit the process under Akka's feet).
        var stopRequested = false;
        void OnStopSignal(System.Runtime.InteropServices.PosixSignalContext ctx)
        {
            ctx.Cancel = true;
            Volatile.Write(ref stopRequested, true);
            lifetime?.StopApplication();
        }

        using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, OnStopSignal);
        using var onInt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, OnStopSignal);

        // A top-level actor that stops while we are not stopping (the gateway could not open its sockets, say) leaves a
        // daemon that manages nothing: end it, with the reason, instead.
        void StopWhenGone(ActorSystem system, IActorRef actor, string what) =>
            _ = actor.WatchAsync().ContinueWith(_ =>
            {
                var shuttingDown = ct.IsCancellationRequested || CoordinatedShutdown.Get(system).ShutdownReason is not null || system.WhenTerminated.IsCompleted;
                if (!shuttingDown && lifetime is { ApplicationStopping.IsCancellationRequested: false } l)
                {
                    fatal ??= $"{what} stopped";
                    Log.Error("{What} stopped (see the error above): nothing would be managed; stopping", what);
                    l.StopApplication();
                }
            }, TaskScheduler.Default);
        try
        {
            NoAppConfig.Install();
            var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
            builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
            builder.Logging.ClearProviders();
            builder.Services.AddSerilog();
            builder.Services.AddAkka("smapp", (akka, _) =>
            {
                akka.AddHocon(config, HoconAddMode.Prepend);
                akka.AddHocon(SmappRuntime.Hocon, HoconAddMode.Append);
                akka.ConfigureLoggers(l =>
                {
                    l.LogLevel = level switch
                    {
                        LogEventLevel.Debug => Akka.Event.LogLevel.DebugLevel,
                        LogEventLevel.Warning => Akka.Event.LogLevel.WarningLevel,
                        LogEventLevel.Error => Akka.Event.LogLevel.ErrorLevel,
                        _ => Akka.Event.LogLevel.InfoLevel,
                    };
                    l.ClearLoggers();
                    l.AddLogger<SerilogLogger>();
                });
                akka.WithActors((system, registry) =>
                {
                    runtime = SmappRuntime.Start(system, settings, ns);
                    registry.Register<GatewayKey>(runtime.Gateway);
                    registry.Register<SupervisorKey>(runtime.Supervisor);
                    registry.Register<SamplerKey>(runtime.Sampler);
                    StopWhenGone(system, runtime.Gateway, "the netlink gateway");
                    StopWhenGone(system, runtime.Supervisor, "the connection supervisor");
                    Log.Information("smapp running in {Where}: default policy {Policy}, {Rules} rule(s), takeover {Takeover}",
                        where, settings.Selector.DefaultPolicy, settings.Selector.Rules.Count, settings.Takeover ? "on" : "off");
                });
            });
            using var host = builder.Build();
            await host.StartAsync(ct);
            lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
            if (Volatile.Read(ref stopRequested))
            {
                lifetime.StopApplication();
            }
            var stopApplication = lifetime.StopApplication;
            using var watch = RunGuards.WatchDeletion(ns, message =>
            {
                fatal = message;
                namespaceGone = true;
                Log.Error("{Message}; stopping", message);
                stopApplication();
            });

            // SIGHUP reloads the configuration (DaemonServices).
            Service.DaemonServices services;
            try
            {
                services = await Service.DaemonServices.StartAsync(host, runtime!, ns, settings, ops, () => ConfigLoader.Load(configPath, policy, sets), ct);
            }
            catch
            {
                await host.StopAsync(CancellationToken.None);
                throw;
            }

            await using (services)
            {
                await host.WaitForShutdownAsync(ct);
            }

            return fatal is null ? 0 : 1;
        }
        catch (OperationCanceledException) when (Volatile.Read(ref stopRequested) || lifetime is { ApplicationStopping.IsCancellationRequested: true })
        {
            Log.Information("smapp stopped during start-up");
            return 0;
        }
        catch (Service.StartRefusedException e)
        {
            Log.Fatal("smapp stopped: {Message}", e.Message);
            return 1;
        }
        catch (Exception e)
        {
            Log.Fatal("smapp stopped: {Type}: {Message}", e.GetBaseException().GetType().Name, e.GetBaseException().Message);
            Log.Debug(e, "where it failed");
            return 1;
        }
        finally
        {
            runtime?.Dispose();
            if (restore is not null && !namespaceGone)
            {
                try
                {
                    PathManagerMode.Set(ns, restore);
                    Log.Information("{Where} back to the {Mode} path manager", where, restore);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
                {
                    Log.Error("could not put {Where} back to the {Mode} path manager: {Message}", where, restore, e.Message);
                }
            }

            Log.Information("smapp stopped");
            await Log.CloseAndFlushAsync();
        }
    }
}
