using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using Smapp.Actors;
using Smapp.Actors.Configuration;
using Smapp.Host.Configuration;
using Smapp.Host.Testbeds;
using Smapp.Host.Traffic;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Wire;

namespace Smapp.Host.Commands;

/// <summary>
/// `smapp demo`: the two-path testbed (a phone with WiFi and cellular), Smapp with fullmesh on the client, a transfer,
/// the cellular address taken away and given back — and what happened to each subflow. Removes all it made.
/// </summary>
public static class DemoCommand
{
    public static Command Build()
    {
        var wifi = new Option<string>("--wifi-rate") { Description = "Rate of the WiFi path (tc syntax)", DefaultValueFactory = _ => "20mbit" };
        var cell = new Option<string>("--cell-rate") { Description = "Rate of the cellular path (tc syntax)", DefaultValueFactory = _ => "10mbit" };
        var phase = new Option<double>("--phase") { Description = "Seconds per phase (both paths, WiFi only, both again)", DefaultValueFactory = _ => 4.0 };
        var verbose = new Option<bool>("--verbose") { Description = "Also print the controller's log (each policy decision and why)" };
        var cmd = new Command("demo", "Bring up a two-path testbed, run Smapp with fullmesh on the client, transfer, take the cellular address away and back, report, clean up")
        {
            wifi, cell, phase, verbose,
        };
        cmd.SetAction((r, ct) => Run(r.GetValue(wifi)!, r.GetValue(cell)!, TimeSpan.FromSeconds(r.GetValue(phase)), r.GetValue(verbose), ct));
        return cmd;
    }

    private sealed record SubflowRecord(string Path, string Local, string Remote)
    {
        public double? Up { get; set; }

        public double? Closed { get; set; }

        public string? Why { get; set; }

        public ulong BytesAcked { get; set; }
    }

    public static async Task<int> Run(string wifiRate, string cellRate, TimeSpan phase, bool verbose, CancellationToken ct)
    {
        if (Environment.UserName != "root" && !File.Exists("/proc/self/status"))
        {
            return CommonOptions.Fail("the demo needs root (network namespaces)");
        }

        var prefix = $"demo{Environment.ProcessId % 100000}";
        var clock = Stopwatch.StartNew();
        double T() => clock.Elapsed.TotalSeconds;
        void Say(string what) => Console.WriteLine($"{T(),7:0.000} s  {what}");

        Console.WriteLine($"Smapp demo: fullmesh on a two-path testbed (WiFi {wifiRate}, cellular {cellRate}); namespaces {prefix}-cli, -rtr, -srv");
        var up = TestbedScript.Run("up", "two-path", prefix, "--rate", $"wifi={wifiRate}", "--rate", $"cell={cellRate}");
        if (up.Code != 0)
        {
            TestbedScript.Run("down", prefix);
            return CommonOptions.Fail($"testbed setup failed: {up.Err}{up.Out}");
        }

        ActorSystem? system = null;
        SmappRuntime? runtime = null;
        var subflows = new ConcurrentDictionary<string, SubflowRecord>();
        try
        {
            var cli = NetworkNamespace.Named($"{prefix}-cli");
            var srv = NetworkNamespace.Named($"{prefix}-srv");
            Say($"testbed up: client {prefix}-cli has wifi 192.0.2.1 and cell 198.51.100.1; server 203.0.113.1 in {prefix}-srv");

            var config = ConfigurationFactory.ParseString("smapp { interfaces = [wifi, cell], policies.fullmesh.backoff-after-reset = 500ms }")
                .WithFallback(ConfigLoader.ParseFile(ConfigLoader.DefaultPath));
            var settings = SmappSettings.FromConfig(config);
            system = ActorSystem.Create("smapp-demo", ConfigurationFactory.ParseString(verbose
                ? "akka.loglevel = INFO\nakka.stdout-loglevel = INFO"
                : "akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING").WithFallback(SmappRuntime.Hocon));
            runtime = SmappRuntime.Start(system, settings, cli);
            Say("smapp running in the client namespace: policy fullmesh (one subflow per local x remote address pair)");

            using var listener = srv.Run(() => MptcpTraffic.Listen(IPAddress.Any, 5201));
            var received = Task.Run(async () =>
            {
                using var s = await listener.AcceptAsync(ct);
                return await MptcpTraffic.ReceiveAsync(s, ct);
            }, ct);

            using var events = cli.Run(() => MptcpEventSubscription.Open(nonBlocking: false));
            using var diag = cli.Run(SockDiagClient.Open);
            var sink = new EventSink(subflows, T, Say);
            var watcher = new Thread(() =>
            {
                var poller = new PollSet(events.Socket.Fd);
                while (!ct.IsCancellationRequested && !sink.Done)
                {
                    if (poller.Wait(100) > 0)
                    {
                        events.ReceiveOnce(sink, block: false);
                    }
                }
            })
            { IsBackground = true };
            watcher.Start();
            await Task.Delay(300, ct);

            using var socket = cli.Run(() => MptcpTraffic.Connect(new IPEndPoint(IPAddress.Parse("203.0.113.1"), 5201)));
            var stop = new CancellationTokenSource();
            long sentBytes = 0;
            var sender = Task.Run(async () =>
            {
                var block = new byte[64 * 1024];
                while (!stop.IsCancellationRequested)
                {
                    BitConverter.TryWriteBytes(block.AsSpan(0, 8), MptcpTraffic.NowNs());
                    BitConverter.TryWriteBytes(block.AsSpan(8, 4), (uint)block.Length);
                    await socket.SendAsync(block, SocketFlags.None, ct);
                    sentBytes += block.Length;
                }
            }, ct);

            var sampler = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    foreach (var s in diag.Subflows())
                    {
                        if (subflows.TryGetValue(Key(s.Id.Source, s.Id.SourcePort), out var rec))
                        {
                            rec.BytesAcked = Math.Max(rec.BytesAcked, s.Info.BytesAcked);
                        }
                    }

                    await Task.Delay(100);
                }
            }, ct);

            var start = T();
            await Task.Delay(phase, ct);
            Say("taking 198.51.100.1 off the cellular interface (as when a phone leaves cellular coverage)");
            TestbedScript.Run("set", prefix, "cell", "--addr-del");
            await Task.Delay(phase, ct);
            Say("putting 198.51.100.1 back on the cellular interface");
            sink.Mark("the address came back");
            TestbedScript.Run("set", prefix, "cell", "--addr-add");
            await Task.Delay(phase, ct);
            stop.Cancel();
            await sender;
            await sampler;
            var result = await MptcpTraffic.FinishAsync(socket, ct);
            var duration = T() - start;
            await received;
            Say($"transfer done: {sentBytes / 1e6:0.0} MB in {duration:0.0} s = {sentBytes * 8 / duration / 1e6:0.0} Mbit/s (receiver: {result?.ThroughputMbps:0.0} Mbit/s over its own window)");
            await Task.Delay(300, ct);
            sink.Done = true;
            watcher.Join();

            Console.WriteLine();
            Console.WriteLine("Subflows of the connection:");
            Console.WriteLine($"  {"path",-5} {"local -> remote",-40} {"up at",8} {"closed at",10}  {"bytes acked",12}  why closed");
            foreach (var r in subflows.Values.OrderBy(r => r.Up ?? double.MaxValue))
            {
                Console.WriteLine($"  {r.Path,-5} {r.Local + " -> " + r.Remote,-40} {Fmt(r.Up),8} {Fmt(r.Closed),10}  {r.BytesAcked / 1e6,9:0.00} MB  {r.Why ?? ""}");
            }

            var cellSubflows = subflows.Values.Count(r => r.Path == "cell");
            Console.WriteLine();
            Console.WriteLine(cellSubflows >= 2
                ? "fullmesh opened the cellular subflow right after the connection was established, closed it when its address went away, and opened a new one when the address came back."
                : "WARNING: the cellular path was not re-established as expected; rerun with --verbose to see the controller's decisions.");
            return cellSubflows >= 2 ? 0 : 1;
        }
        catch (OperationCanceledException)
        {
            Console.WriteLine("interrupted");
            return 130;
        }
        finally
        {
            if (system is not null)
            {
                await system.Terminate();
            }

            runtime?.Dispose();
            TestbedScript.Run("down", prefix);
            Console.WriteLine($"removed the testbed ({prefix}-*).");
        }
    }

    private static string Fmt(double? t) => t is { } v ? $"{v:0.000} s" : "-";

    private static string Key(IPAddress a, ushort port) => $"{a}:{port}";

    private sealed class EventSink(ConcurrentDictionary<string, SubflowRecord> subflows, Func<double> now, Action<string> say) : INetlinkSink<MptcpEvent>
    {
        private double? _established;
        private (string What, double At)? _mark;

        public volatile bool Done;

        /// <summary>The next subflow to come up is timed from this moment (e.g. "the address came back").</summary>
        public void Mark(string what) => _mark = (what, now());

        public void OnItem(MptcpEvent e, ReadOnlySpan<byte> raw)
        {
            if (e.SourceAddress is null || e.SourcePort is null)
            {
                if (e.Type == MptcpEventType.Closed)
                {
                    say($"connection {e.Token:x8} closed");
                }

                return;
            }

            var path = e.SourceAddress.ToString().StartsWith("192.0.2.") ? "wifi" : "cell";
            var key = Key(e.SourceAddress, e.SourcePort.Value);
            var local = $"{e.SourceAddress}:{e.SourcePort}";
            var remote = $"{e.DestinationAddress}:{e.DestinationPort}";
            switch (e.Type)
            {
                case MptcpEventType.Established:
                    _established = now();
                    subflows[key] = new SubflowRecord(path, local, remote) { Up = now() };
                    say($"connection {e.Token:x8} established: {local} -> {remote} over {path} (the initial subflow)");
                    break;
                case MptcpEventType.SubEstablished:
                    var after = _mark is { } m ? $", {(now() - m.At) * 1000:0.0} ms after {m.What}"
                        : _established is { } t0 ? $", {(now() - t0) * 1000:0.0} ms after the connection was established" : "";
                    _mark = null;
                    subflows[key] = new SubflowRecord(path, local, remote) { Up = now() };
                    say($"subflow {local} -> {remote} up over {path}{after}");
                    break;
                case MptcpEventType.SubClosed:
                    var rec = subflows.GetOrAdd(key, _ => new SubflowRecord(path, local, remote));
                    rec.Closed = now();
                    rec.Why = e.Error is { } err and not 0 ? $"error {err} ({Smapp.Netlink.Errno.Name(err)})" : "closed by fullmesh: its local address went away";
                    say($"subflow {local} -> {remote} closed ({rec.Why})");
                    break;
            }
        }

        public void OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram) => say($"undecodable event: {error}");

        public void OnLost() => say("events lost (ENOBUFS)");
    }
}
