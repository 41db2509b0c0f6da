using System.Net;
using Smapp.Host.Traffic;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>The namespace testbeds and the traffic tool, on the real kernel.</summary>
public class TestbedKernelTests
{
    private static TransferResult Transfer(Testbed bed, int port, long bytes, IPAddress? from = null)
    {
        using var listener = NetworkNamespace.Named(bed.ServerNs).Run(() => MptcpTraffic.Listen(IPAddress.Any, port));
        var receiving = Task.Run(async () =>
        {
            using var s = await listener.AcceptAsync();
            return await MptcpTraffic.ReceiveAsync(s, CancellationToken.None);
        });
        using var socket = NetworkNamespace.Named(bed.ClientNs).Run(() => MptcpTraffic.Connect(new IPEndPoint(bed.ServerAddress, port), from));
        MptcpTraffic.SendBulkAsync(socket, bytes, 64 * 1024, CancellationToken.None).GetAwaiter().GetResult();
        MptcpTraffic.FinishAsync(socket, CancellationToken.None).GetAwaiter().GetResult();
        return receiving.GetAwaiter().GetResult();
    }

    [Fact]
    public void A_shaped_path_carries_about_its_rate()
    {
        using var bed = Testbed.Up("two-path", "--rate", "wifi=8mbit", "--client-pm", "kernel");
        var r = Transfer(bed, 5301, 2_000_000);
        Assert.Equal(2_000_000, r.Bytes);
        Assert.InRange(r.ThroughputMbps, 5.0, 8.8);
    }

    [Fact]
    public async Task Random_loss_on_a_path_shows_as_retransmissions()
    {
        using var bed = Testbed.Up("two-path", "--rate", "wifi=20mbit", "--loss", "wifi=0.05", "--client-pm", "kernel");
        var stateText = Shell.Run(Repo.Testbed, ["state", bed.Prefix], TimeSpan.FromSeconds(10)).Stdout;
        Assert.Contains("-o wifi -m statistic --mode random --probability 0.0499", stateText);
        Assert.Contains("-i wifi -m statistic --mode random --probability 0.0499", stateText);
        Assert.Contains("tbf", stateText);
        using var listener = NetworkNamespace.Named(bed.ServerNs).Run(() => MptcpTraffic.Listen(IPAddress.Any, 5302));
        var receiving = Task.Run(async () =>
        {
            using var s = await listener.AcceptAsync();
            return await MptcpTraffic.ReceiveAsync(s, CancellationToken.None);
        });
        using var socket = NetworkNamespace.Named(bed.ClientNs).Run(() => MptcpTraffic.Connect(new IPEndPoint(bed.ServerAddress, 5302)));
        await MptcpTraffic.SendBulkAsync(socket, 1_000_000, 64 * 1024, CancellationToken.None);
        var retrans = NetworkNamespace.Named(bed.ClientNs).Run(() =>
        {
            using var d = SockDiagClient.Open();
            return d.Subflows().Sum(s => (long)s.Info.TotalRetrans);
        });
        await MptcpTraffic.FinishAsync(socket, CancellationToken.None);
        Assert.Equal(1_000_000, (await receiving).Bytes);
        Assert.True(retrans > 0, "5 % loss and no retransmission?");
    }

    [Fact]
    public async Task A_stream_delivers_each_block_and_reports_its_delay()
    {
        using var bed = Testbed.Up("two-path", "--client-pm", "kernel");
        var server = Shell.Run("dotnet", [Repo.SmappDll, "traffic", "client", "--netns", bed.ClientNs, "--to", "203.0.113.1:5303", "--block", "65536", "--period", "100", "--count", "5"], TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, server.Code); // nothing listens yet: a clear failure (the bound is for a hang, not a timing)
        Assert.Contains("traffic client:", server.Stderr);

        using var listener = NetworkNamespace.Named(bed.ServerNs).Run(() => MptcpTraffic.Listen(IPAddress.Any, 5303));
        var receiving = Task.Run(async () =>
        {
            using var s = await listener.AcceptAsync();
            return await MptcpTraffic.ReceiveAsync(s, CancellationToken.None);
        });
        var client = Shell.Smapp("traffic", "client", "--netns", bed.ClientNs, "--to", "203.0.113.1:5303", "--block", "65536", "--period", "100", "--count", "5");
        Assert.True(client.Code == 0, client.Stderr);
        var seen = TransferResult.FromJson(client.Stdout.Trim())!;
        var result = await receiving;
        Assert.Equal(5, result.Blocks);
        Assert.Equal(5, seen.Blocks);
        Assert.Equal(5 * 65536, result.Bytes);
        // Each delay is measured (a real, non-negative figure), and the sender kept its period: five blocks 100 ms apart
        // cannot arrive in less than about four periods. Upper bounds only catch a hang: a loaded machine may be slow.
        Assert.All(result.BlockDelaysMs, d => Assert.InRange(d, 0, 10_000));
        Assert.InRange(result.DurationMs, 350, 30_000);
    }

    [Fact]
    public void Ecmp_routers_spread_four_tuples_over_the_four_paths()
    {
        using var bed = Testbed.Up("ecmp", "--client-pm", "kernel");
        Assert.Contains("nexthop", bed.Ip(bed.RouterNs, "route", "show", "203.0.113.0/28"));
        Assert.Equal("3", bed.Exec(bed.RouterNs, "cat", "/proc/sys/net/ipv4/fib_multipath_hash_policy").Trim());
        long Packets(string link) => long.Parse(bed.Exec(bed.RouterNs, "cat", $"/sys/class/net/{link}/statistics/tx_packets").Trim());
        var before = new[] { "p1", "p2", "p3", "p4" }.Select(Packets).ToArray();
        for (var i = 0; i < 16; i++)
        {
            Transfer(bed, 5400 + i, 20_000);
        }

        var carried = new[] { "p1", "p2", "p3", "p4" }.Select((l, i) => Packets(l) - before[i]).ToArray();
        // A 20 kB transfer is about 20 packets each way: a path that carried one connection shows it.
        Assert.True(carried.Count(c => c > 5) >= 3, $"packets per path: {string.Join(", ", carried)}");
    }

    [Fact]
    public void Delay_whose_delay_line_cannot_start_is_refused_plainly_and_leaves_nothing_behind()
    {
        // Without netem, --delay runs `dotnet $SMAPP_DLL delayline`: a file that is no smapp build makes it fail
        // after the namespaces exist, and `up` must take them (and its state directory) away again.
        var prefix = Testbed.NewPrefix("d");
        var r = Shell.Run(Repo.Testbed, ["up", "two-path", prefix, "--delay", "wifi=20"], TimeSpan.FromSeconds(60),
            new Dictionary<string, string> { ["SMAPP_DLL"] = "/etc/hostname" });
        var list = Shell.Run("ip", ["netns", "list"], TimeSpan.FromSeconds(5)).Stdout;
        Shell.Run(Repo.Testbed, ["down", prefix], TimeSpan.FromSeconds(30));
        var hasNetem = Smapp.Netlink.Route.Qdisc.NetemAvailable(out _);
        if (hasNetem)
        {
            Assert.Equal(0, r.Code);
        }
        else
        {
            Assert.NotEqual(0, r.Code);
            Assert.Contains("smapp delayline for wifi", r.Stderr);
            Assert.DoesNotContain(prefix + "-", list);
            Assert.False(Directory.Exists(Path.Combine("/run/smapp-testbed", prefix)));
        }
    }

    [Fact]
    public void Set_changes_the_loss_and_rate_of_a_running_link()
    {
        using var bed = Testbed.Up("two-path");
        string State() => Shell.Run(Repo.Testbed, ["state", bed.Prefix], TimeSpan.FromSeconds(10)).Stdout;
        bed.Set("cell", "--loss", "0.2", "--rate", "5mbit");
        Assert.Contains("-i cell -m statistic --mode random --probability 0.2", State());
        Assert.Contains("rate 5Mbit", State());
        bed.Set("cell", "--loss", "0");
        Assert.DoesNotContain("statistic", State());
    }

    [Fact]
    public void Down_removes_every_namespace_of_the_testbed()
    {
        var bed = Testbed.Up("ecmp");
        Assert.Equal(4, Shell.Run("ip", ["netns", "list"], TimeSpan.FromSeconds(5)).Stdout.Split('\n').Count(l => l.StartsWith(bed.Prefix + "-")));
        bed.Dispose();
        Assert.DoesNotContain(bed.Prefix + "-", Shell.Run("ip", ["netns", "list"], TimeSpan.FromSeconds(5)).Stdout);
    }

    [Fact]
    public void Monitor_samples_print_each_subflows_tcp_info()
    {
        using var bed = Testbed.Up("two-path");
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5304);
        using var socket = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5304);
        // Ticks every 50 ms for 5 s: 100 are due, 3 are asked for (a loaded machine may lose ticks, never most of them).
        var r = Shell.Smapp("monitor", "--netns", bed.ClientNs, "--json", "--samples", "50", "--timeout", "5");
        var samples = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement)
            .Where(j => j.GetProperty("event").GetString() == "sample")
            .ToList();
        Assert.True(samples.Count >= 3, r.Stdout + r.Stderr);
        Assert.All(samples, s =>
        {
            Assert.Equal(5304, s.GetProperty("dport").GetInt32());
            Assert.True(s.GetProperty("rto_ms").GetDouble() >= 200);
            Assert.True(s.GetProperty("bytes_acked").GetInt64() > 0);
        });
    }

    [Fact]
    public void Pm_mode_switches_a_namespace_to_userspace_and_back()
    {
        using var bed = Testbed.Up("two-path");
        var script = Path.Combine(Repo.Root, "kernel-pm", "pm-mode.sh");
        Assert.Contains("path_manager=kernel", Shell.Run(script, ["show", "--netns", bed.ServerNs], TimeSpan.FromSeconds(10)).Stdout);
        var set = Shell.Run(script, ["userspace", "--netns", bed.ServerNs], TimeSpan.FromSeconds(10));
        Assert.Contains("path_manager=userspace pm_type=1", set.Stdout);
        Assert.Equal("1", bed.Exec(bed.ServerNs, "cat", "/proc/sys/net/mptcp/pm_type").Trim());
        Assert.Contains("path_manager=kernel pm_type=0", Shell.Run(script, ["kernel", "--netns", bed.ServerNs], TimeSpan.FromSeconds(10)).Stdout);
        Assert.Equal(2, Shell.Run(script, ["sideways"], TimeSpan.FromSeconds(10)).Code);
    }

    [Fact]
    public void An_event_socket_that_overflows_reports_lost_events_and_keeps_working()
    {
        using var bed = Testbed.Up("two-path", "--client-pm", "kernel");
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5305);

        // A tiny receive buffer that nobody reads while 40 connections come and go.
        using var events = NetworkNamespace.Named(bed.ClientNs).Run(() => MptcpEventSubscription.Open(nonBlocking: false, receiveBuffer: 1024));
        for (var i = 0; i < 40; i++)
        {
            Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5305).Dispose();
        }

        var sink = new CountingSink();
        var statuses = new List<ReceiveStatus>();
        for (var i = 0; i < 500; i++)
        {
            var status = events.ReceiveOnce(sink, block: false);
            statuses.Add(status);
            if (status == ReceiveStatus.WouldBlock)
            {
                break;
            }
        }

        Assert.Contains(ReceiveStatus.Overrun, statuses);
        Assert.True(sink.Lost >= 1);
        Assert.Equal(sink.Lost, events.Stats.Overruns);
        Assert.True(sink.Events < 160, $"all {sink.Events} events fitted: nothing overflowed");

        // Still usable afterwards: a new connection's events arrive.
        sink.Events = 0;
        Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5305).Dispose();
        Assert.True(Eventually.Holds(() =>
        {
            events.ReceiveOnce(sink, block: false);
            return sink.Events > 0;
        }));
    }

    private sealed class CountingSink : INetlinkSink<Smapp.Netlink.Mptcp.MptcpEvent>
    {
        public int Events;
        public int Lost;

        public void OnItem(Smapp.Netlink.Mptcp.MptcpEvent item, ReadOnlySpan<byte> raw) => Events++;

        public void OnDecodeError(Smapp.Netlink.Wire.DecodeError error, ReadOnlySpan<byte> datagram) => throw new InvalidOperationException(error.ToString());

        public void OnLost() => Lost++;
    }
}
