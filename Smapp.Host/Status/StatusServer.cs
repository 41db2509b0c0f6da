using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Akka.Actor;
using Smapp.Actors;
using Smapp.Actors.Gateway;
using Smapp.Actors.Observing;
using Smapp.Netlink.Diag;
using Smapp.Policy;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Host.Status;

/// <summary>
/// The daemon's status socket: a Unix stream socket (mode 0600: root only), one JSON request line in, one JSON
/// answer out. Accepting blocks on a thread of its own (no periodic wake-up); each client is served on the thread
/// pool. The connections are copied in one supervisor turn on the event loop (a message, as every other question);
/// the sock_diag figures come from the gateway's dump worker; the formatting happens here, off the loop. A slow or
/// silent client holds nothing but its own task.
/// </summary>
public sealed class StatusServer : IDisposable
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(5);
    private readonly Socket _listener;
    private readonly SmappRuntime _runtime;
    private readonly string _namespace;
    private readonly Thread _thread;
    private volatile bool _stopping;

    private StatusServer(Socket listener, string path, SmappRuntime runtime, string ns)
    {
        _listener = listener;
        Path = path;
        _runtime = runtime;
        _namespace = ns;
        _thread = new Thread(AcceptLoop) { IsBackground = true, Name = "smapp-status" };
        _thread.Start();
    }

    public string Path { get; }

    /// <summary>The default path: /run/smapp/NS.sock, or /run/smapp/host.sock for the process's own namespace.</summary>
    public static string DefaultPath(string? ns) => $"/run/smapp/{ns ?? "host"}.sock";

    /// <summary>Binds the socket (replacing a stale one; refusing when a live daemon answers on it).</summary>
    public static StatusServer Start(string path, SmappRuntime runtime, string? ns)
    {
        var socket = Service.LocalSocketServer.Listen("smapp.status.socket", path, UnixFileMode.UserRead | UnixFileMode.UserWrite, 16);
        return new StatusServer(socket, path, runtime, ns ?? "(host)");
    }

    private void AcceptLoop() => Service.LocalSocketServer.AcceptLoop(_listener, () => _stopping, ServeAsync);

    private async Task ServeAsync(Socket client)
    {
        using var _ = client;
        using var stream = new NetworkStream(client, ownsSocket: false);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            var line = await ReadLineAsync(stream, cts.Token);
            byte[] answer;
            StatusRequest? request = null;
            try
            {
                request = line is null ? null : JsonSerializer.Deserialize(line, StatusJson.Default.StatusRequest);
            }
            catch (JsonException)
            {
            }

            if (request?.Op == "status")
            {
                answer = JsonSerializer.SerializeToUtf8Bytes(await ReportAsync(), StatusJson.Default.StatusReport);
            }
            else
            {
                answer = JsonSerializer.SerializeToUtf8Bytes(new StatusError($"unknown request: expected {{\"op\":\"status\"}}, got {Shorten(line)}"), StatusJson.Default.StatusError);
            }

            await stream.WriteAsync(answer, cts.Token);
            await stream.WriteAsync("\n"u8.ToArray(), cts.Token);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or AskTimeoutException)
        {
            // The client went away or was too slow, or the loop did not answer in time: nothing else is affected.
            try
            {
                if (e is AskTimeoutException)
                {
                    await stream.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(new StatusError($"the daemon did not answer within {AskTimeout.TotalSeconds} s"), StatusJson.Default.StatusError));
                }
            }
            catch (Exception)
            {
            }
        }
    }

    private static string Shorten(string? s) => s is null ? "nothing" : s.Length > 80 ? $"'{s[..80]}…'" : $"'{s}'";

    private static async Task<string?> ReadLineAsync(NetworkStream stream, CancellationToken ct)
    {
        var buffer = new byte[4096];
        var used = 0;
        while (used < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(used), ct);
            if (n == 0)
            {
                break;
            }

            var nl = Array.IndexOf(buffer, (byte)'\n', used, n);
            used += n;
            if (nl >= 0)
            {
                return Encoding.UTF8.GetString(buffer, 0, nl);
            }
        }

        return used == 0 ? null : Encoding.UTF8.GetString(buffer, 0, used);
    }

    /// <summary>The snapshot (one supervisor turn), the kernel's subflow figures (the dump worker), the counters.</summary>
    public async Task<StatusReport> ReportAsync()
    {
        var connections = _runtime.Supervisor.Ask<StatusProtocol.ConnectionsStatus>(StatusProtocol.GetStatus.Instance, AskTimeout);
        var dump = _runtime.Gateway.Ask<SubflowsDumped>(new DumpSubflows(-1), AskTimeout);
        var stats = _runtime.Gateway.Ask<Stats>(GetStats.Instance, AskTimeout);
        await Task.WhenAll(connections, dump, stats);
        // After the dump: what the sock_diag socket dropped while it waited for this dump's replies is counted too.
        var foreign = await _runtime.Gateway.Ask<ForeignDrops>(GetForeignDrops.Instance, AskTimeout);
        return Build(_namespace, connections.Result, dump.Result.Subflows, stats.Result, _runtime.Counters.Snapshot(), foreign.BySocket);
    }

    internal static StatusReport Build(string ns, StatusProtocol.ConnectionsStatus status, IReadOnlyList<SubflowDiag> kernel, Stats stats, CountersSnapshot counters,
        IReadOnlyDictionary<string, long>? foreignBySocket = null)
    {
        var byToken = kernel.GroupBy(s => s.Token).ToDictionary(g => g.Key, g => g.ToList());
        var connections = status.Connections.OrderBy(c => c.Token).Select(c =>
        {
            var diags = byToken.GetValueOrDefault(c.Token) ?? [];
            var subflows = c.Subflows.Select(s =>
            {
                var d = diags.FirstOrDefault(x => x.Id.SourcePort == s.Local.Port && x.Id.DestinationPort == s.Remote.Port && s.Local.Port != 0 &&
                    AddressForm.Same(x.Id.Source, s.Local.Address) && AddressForm.Same(x.Id.Destination, s.Remote.Address));
                var iface = status.Locals.FirstOrDefault(l => AddressForm.Same(l.Address, s.Local.Address))?.InterfaceName;
                return new SubflowReport(s.Id, iface, s.Local.ToString(), s.Remote.ToString(), s.Phase.ToString().ToLowerInvariant(), s.Backup, s.Initial, s.OpenedByUs,
                    s.Failures, s.LastClose, d is null ? null : Output.ListFormat.StateName(d.TcpState), d?.Info.RttUs / 1000.0, d?.Info.RtoUs / 1000.0,
                    d?.Info.PacingRate, d?.Info.BytesAcked);
            }).ToList();
            return new ConnectionReport(c.Token.ToString("x8"), c.Side.ToString().ToLowerInvariant(), c.Local?.ToString(), c.Remote?.ToString(), c.Policy, c.Rule,
                c.TakenOver, c.Established, c.Rebuilding, subflows, c.Decisions.Select(d => new DecisionReport(d.At, d.What, d.Why)).ToList());
        }).ToList();
        var gateway = new GatewayReport(stats.Events, counters.Events, stats.CommandsSent, stats.CommandsFailed, stats.CommandsTimedOut, stats.PendingCommands,
            counters.Commands, counters.Resyncs, counters.Dropped, counters.Forged, counters.Malformed, counters.SamplerDumps, stats.LoopWakeups, foreignBySocket);
        var process = new ProcessReport(status.Slots, status.Actors, GC.GetTotalMemory(false), GC.GetGCMemoryInfo().HeapSizeBytes, Environment.WorkingSet,
            System.Diagnostics.Process.GetCurrentProcess().Threads.Count, GC.CollectionCount(0), GC.CollectionCount(2), status.IdleTrims);
        return new StatusReport(ns, Environment.ProcessId, status.At, status.DefaultPolicy, status.Rules, connections, gateway, process);
    }

    public void Dispose()
    {
        _stopping = true;
        try
        {
            _listener.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }

        _listener.Dispose();
        _thread.Join(TimeSpan.FromSeconds(2));
        try
        {
            File.Delete(Path);
        }
        catch (IOException)
        {
        }
    }
}
