using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Smapp.Netlink;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>The Prometheus endpoint of `smapp run`, scraped inside the managed namespace, on a real testbed.</summary>
public class MetricsKernelTests
{
    /// <summary>GET http://127.0.0.1:PORT/metrics from inside <paramref name="ns"/> (the socket is made on a thread that entered it).</summary>
    private static string Scrape(string ns, int port)
    {
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = (ctx, ct) =>
            {
                var socket = NetworkNamespace.Named(ns).Run(() =>
                {
                    var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    s.Connect(new IPEndPoint(IPAddress.Loopback, ctx.DnsEndPoint.Port));
                    return s;
                });
                return ValueTask.FromResult<Stream>(new NetworkStream(socket, ownsSocket: true));
            },
        };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
        using var response = http.GetAsync($"http://127.0.0.1:{port}/metrics").GetAwaiter().GetResult();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType);
        return response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
    }

    /// <summary>The value of one sample line (name with its labels exactly as written), or null when absent.</summary>
    private static double? Value(string text, string series)
    {
        var m = Regex.Match(text, "^" + Regex.Escape(series) + @" (\S+)$", RegexOptions.Multiline);
        return m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    [Fact]
    public void Metrics_are_off_by_default_and_when_on_the_counters_move_with_real_connections()
    {
        using var bed = Testbed.Up("two-path");
        using (var off = new SmappProcess("--netns", bed.ClientNs))
        {
            off.WaitFor("start-up takeover");
            var refused = Assert.ThrowsAny<Exception>(() => Scrape(bed.ClientNs, 9464));
            Assert.Contains("refused", refused.ToString(), StringComparison.OrdinalIgnoreCase);
            Assert.Equal(0, off.Terminate());
        }

        using var run = new SmappProcess("--netns", bed.ClientNs, "--set", "smapp.metrics.listen=\"127.0.0.1:9464\"",
            "--set", "smapp.rules=[{ side = server, policy = passive }, { name = sampled, remote-port = 5202, policy = backup }]");
        run.WaitFor("metrics at http://127.0.0.1:9464/metrics");
        var before = Scrape(bed.ClientNs, 9464);
        Assert.Contains("# TYPE smapp_events_total counter", before);
        Assert.Contains("# TYPE smapp_event_to_command_seconds histogram", before);
        Assert.Null(Value(before, "smapp_events_total{type=\"created\"}"));
        Assert.Equal(0, Value(before, "smapp_event_to_command_seconds_count"));
        Assert.Equal(0, Value(before, "smapp_lost_event_resyncs_total"));

        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5201);
        using var sampledServer = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5202);
        var conn = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5201, bed.ClientAddress1);
        using var sampled = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5202, bed.ClientAddress1);
        string text = "";
        Assert.True(Eventually.Holds(() =>
        {
            // Events, command answers and the sampler are read by the loop in their own turns: wait for all of them.
            text = Scrape(bed.ClientNs, 9464);
            return Value(text, "smapp_subflows{policy=\"fullmesh\"}") == 2 &&
                Value(text, "smapp_events_total{type=\"created\"}") == 2 &&
                Value(text, "smapp_events_total{type=\"sub_established\"}") >= 1 &&
                Value(text, "smapp_commands_total{command=\"SUBFLOW_CREATE\",outcome=\"ok\",errno=\"\"}") >= 1 &&
                Value(text, "smapp_sampler_tick_seconds_count") > 0;
        }, TimeSpan.FromSeconds(15)), $"the counters did not reach a fullmesh connection with its second subflow up and a sampled one:\n{text}\n{run.Output}");

        Assert.Equal(1, Value(text, "smapp_connections{policy=\"fullmesh\"}"));
        Assert.Equal(1, Value(text, "smapp_connections{policy=\"backup\"}"));
        Assert.True(Value(text, "smapp_event_to_command_seconds_count") >= 1);
        Assert.True(Value(text, "smapp_event_to_command_seconds_sum") > 0);
        Assert.True(Value(text, "smapp_sampler_tick_seconds_sum") > 0);

        conn.Dispose();
        Assert.True(Eventually.Holds(() =>
        {
            text = Scrape(bed.ClientNs, 9464);
            return Value(text, "smapp_connections{policy=\"fullmesh\"}") == 0;
        }, TimeSpan.FromSeconds(15)), $"the closed connection is still counted:\n{text}");
        Assert.True(Value(text, "smapp_events_total{type=\"closed\"}") >= 1);
        Assert.Equal(1, Value(text, "smapp_connections{policy=\"backup\"}"));
        Assert.Equal(0, run.Terminate());
    }
}
