using System.Collections.Immutable;
using System.Net;
using Akka.Configuration;
using Smapp.Actors.Configuration;
using Smapp.Actors.Gateway;
using Smapp.Actors.Observing;
using Smapp.Host.Configuration;
using Smapp.Host.Status;
using Smapp.Netlink.Diag;
using Smapp.Policy;
using Smapp.Tests.Support;

namespace Smapp.Tests.Host;

/// <summary>The operations keys, the status report's merge of Smapp's view with sock_diag's, and its filters.</summary>
public class OperationsTests
{
    private static OperationsSettings Parse(string hocon, string? ns = "phone") => OperationsSettings.FromConfig(ConfigurationFactory.ParseString(hocon), ns);

    [Fact]
    public void Status_socket_defaults_to_the_namespace_path_and_metrics_are_off()
    {
        Assert.Equal(new OperationsSettings("/run/smapp/phone.sock", null, "/run/smapp/phone.app.sock"), Parse("smapp { }"));
        Assert.Equal("/run/smapp/host.sock", Parse("smapp { }", null).StatusSocket);
        Assert.Null(Parse("smapp.status.socket = off").StatusSocket);
        Assert.Equal("/run/x/s.sock", Parse("smapp.status.socket = \"/run/x/s.sock\"").StatusSocket);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 9464), Parse("smapp.metrics.listen = \"127.0.0.1:9464\"").MetricsListen);
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 9464), Parse("smapp.metrics.listen = \"[::1]:9464\"").MetricsListen);
        Assert.Equal("/run/smapp/host.app.sock", Parse("smapp { }", null).AppSocket);
        Assert.Null(Parse("smapp.app-api.socket = off").AppSocket);
        Assert.Equal("/run/x/app.sock", Parse("smapp.app-api.socket = \"/run/x/app.sock\"").AppSocket);
    }

    [Theory]
    [InlineData("smapp.metrics.listen = \"localhost\"", "smapp.metrics.listen", "'localhost' is not ADDRESS:PORT")]
    [InlineData("smapp.metrics.listen = \"127.0.0.1:0\"", "smapp.metrics.listen", "is not ADDRESS:PORT")]
    [InlineData("smapp.metrics.port = 9464", "smapp.metrics.port", "unknown key")]
    [InlineData("smapp.status.socket = \"relative.sock\"", "smapp.status.socket", "not an absolute path")]
    [InlineData("smapp.status.path = \"/run/a.sock\"", "smapp.status.path", "unknown key")]
    [InlineData("smapp.app-api.socket = \"app.sock\"", "smapp.app-api.socket", "'app.sock' is not an absolute path")]
    [InlineData("smapp.app-api.socket = \"/run/smapp/phone.sock\"", "smapp.app-api.socket", "is the status socket too")]
    [InlineData("smapp.app-api.mode = 666", "smapp.app-api.mode", "unknown key")]
    public void Bad_operations_keys_name_the_key_and_the_reason(string hocon, string key, string reason)
    {
        var e = Assert.Throws<ConfigError>(() => Parse(hocon));
        Assert.Equal(key, e.Key);
        Assert.Contains(reason, e.Reason);
    }

    [Fact]
    public void The_operations_sections_are_known_to_the_settings_and_a_bad_value_stops_run_before_the_kernel()
    {
        SmappSettings.FromConfig(ConfigurationFactory.ParseString("smapp { status.socket = off, metrics.listen = \"127.0.0.1:9464\", app-api.socket = off }"));
        var r = Shell.Smapp("run", "--set", "smapp.metrics.listen=\"nowhere\"");
        Assert.Equal(2, r.Code);
        Assert.Contains("smapp.metrics.listen: 'nowhere' is not ADDRESS:PORT", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    private static readonly IPAddress Wifi = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress Cell = IPAddress.Parse("198.51.100.1");
    private static readonly IPAddress Server = IPAddress.Parse("203.0.113.1");

    private static SubflowDiag Diag(uint token, IPAddress local, ushort lport, ushort rport, uint rttUs) =>
        new(new SocketId(local, lport, Server, rport, 0, 0), 1, token, 0, 0, 0, 0, new TcpInfo { RttUs = rttUs, RtoUs = 204_000, PacingRate = 1000, BytesAcked = 77 });

    [Fact]
    public void The_report_joins_each_subflow_with_its_kernel_socket_by_4_tuple_and_names_its_interface()
    {
        var subflows = new[]
        {
            new StatusProtocol.SubflowStatus(1, new Endpoint(Wifi, 40000), new Endpoint(Server, 443), SubflowPhase.Established, false, true, false, 0, null, null),
            new StatusProtocol.SubflowStatus(2, new Endpoint(Cell, 0), new Endpoint(Server, 443), SubflowPhase.Connecting, false, false, true, 1, null, "ECONNREFUSED"),
        };
        var conn = new StatusProtocol.ConnectionStatus(0xabc, Side.Client, new Endpoint(Wifi, 40000), new Endpoint(Server, 443), "fullmesh", "default", false, true, false,
            subflows, [new StatusProtocol.Decision(DateTimeOffset.UnixEpoch, "open", "why not")]);
        var status = new StatusProtocol.ConnectionsStatus(DateTimeOffset.UnixEpoch, [conn],
            ImmutableList.Create(new LocalAddress(Wifi, 2, "wifi"), new LocalAddress(Cell, 3, "cell")), "fullmesh", 1);
        var kernel = new[] { Diag(0xabc, Wifi, 40000, 443, 1500), Diag(0xabc, Wifi, 40001, 443, 9), Diag(0xdef, Cell, 40000, 443, 9) };
        var report = StatusServer.Build("phone", status, kernel, new GatewayProtocol.Stats(5, 0, 0, 1, 1, 0, 0, 10, 10, 0), new GatewayCounters().Snapshot());

        var c = Assert.Single(report.Connections);
        Assert.Equal("00000abc", c.Token);
        Assert.Equal(("wifi", 1.5, 204.0, (ulong?)77UL, "ESTAB"), (c.Subflows[0].Interface, c.Subflows[0].RttMs, c.Subflows[0].RtoMs, c.Subflows[0].BytesAcked, c.Subflows[0].TcpState));
        Assert.Equal(("cell", (double?)null, "ECONNREFUSED"), (c.Subflows[1].Interface, c.Subflows[1].RttMs, c.Subflows[1].LastClose));
        Assert.Equal("why not", Assert.Single(c.Decisions).Why);

        Assert.Single(StatusTable.Filter(report, 0xabc, null, null).Connections);
        Assert.Empty(StatusTable.Filter(report, 0xabd, null, null).Connections);
        Assert.Single(StatusTable.Filter(report, null, 443, "fullmesh").Connections);
        Assert.Single(StatusTable.Filter(report, null, 40000, null).Connections);
        Assert.Empty(StatusTable.Filter(report, null, 8080, null).Connections);
        Assert.Empty(StatusTable.Filter(report, null, null, "ndiffports").Connections);
        var table = StatusTable.Render(report);
        Assert.Contains("00000abc  client  192.0.2.1:40000  203.0.113.1:443  fullmesh  default  established", table);
        Assert.Contains("failures 1, last: ECONNREFUSED", table);
    }

    [Fact]
    public void The_decision_ring_keeps_the_last_four_oldest_first()
    {
        var ring = new DecisionRing();
        for (var i = 1; i <= 6; i++)
        {
            ring.Add(DateTimeOffset.UnixEpoch.AddSeconds(i), $"d{i}", "");
        }

        Assert.Equal(["d3", "d4", "d5", "d6"], ring.ToArray().Select(d => d.What));
    }
}
