using System.Net;
using Akka.Configuration;
using Smapp.Actors.Configuration;
using Smapp.Policy;

namespace Smapp.Tests.Configuration;

/// <summary>The smapp HOCON section: defaults, each bad input named by its exact key, and rule-based policy choice.</summary>
public class SmappSettingsTests
{
    private static SmappSettings Parse(string hocon) => SmappSettings.FromConfig(ConfigurationFactory.ParseString(hocon));

    private static Endpoint Ep(string address, ushort port) => new(IPAddress.Parse(address), port);

    [Fact]
    public void An_empty_smapp_section_parses_to_the_defaults()
    {
        var s = Parse("smapp {}");
        Assert.Equal("fullmesh", s.Selector.DefaultPolicy);
        Assert.Empty(s.Selector.Rules);
        Assert.True(s.Takeover);
        Assert.False(s.SwitchPathManager);
        Assert.False(s.BusyPoll);
        Assert.Equal(10, s.RealtimePriority);
        Assert.Empty(s.Interfaces);
        Assert.Equal(8 * 1024 * 1024, s.Gateway.ReceiveBuffer);
        Assert.Equal(TimeSpan.FromSeconds(5), s.Gateway.CommandTimeout);

        var choice = s.Selector.Select(Side.Client, Ep("192.0.2.1", 40000), Ep("203.0.113.1", 443));
        Assert.Equal("fullmesh", choice.Name);
        Assert.Equal("default", choice.Rule);
        Assert.IsType<FullmeshPolicy>(choice.Create());
        Assert.False(choice.NeedsSamples);
    }

    [Fact]
    public void Every_setting_is_read_with_its_type()
    {
        var s = Parse("""
            smapp {
              policy = ndiffports
              takeover = off
              switch-path-manager = yes
              interfaces = [eth0, wlan0]
              gateway { receive-buffer = 16MiB, command-timeout = 750ms, busy-poll = on, realtime-priority = 0 }
              policies.ndiffports { subflows = 4, backoff-after-reset = 250ms, backoff-multiplier = 1.5, max-attempts = 0 }
            }
            """);
        Assert.Equal("ndiffports", s.Selector.DefaultPolicy);
        Assert.False(s.Takeover);
        Assert.True(s.SwitchPathManager);
        Assert.True(s.BusyPoll);
        Assert.Equal(0, s.RealtimePriority);
        Assert.Equal(["eth0", "wlan0"], s.Interfaces);
        Assert.Equal(16 * 1024 * 1024, s.Gateway.ReceiveBuffer);
        Assert.Equal(TimeSpan.FromMilliseconds(750), s.Gateway.CommandTimeout);

        var policy = Assert.IsType<NdiffportsPolicy>(s.Selector.Select(Side.Client, Ep("192.0.2.1", 1), Ep("203.0.113.1", 443)).Create());
        Assert.Equal(4, policy.Target);
    }

    [Fact]
    public void Policy_parameters_reach_the_policy_instances()
    {
        var s = Parse("""
            smapp {
              policies.fullmesh { max-subflows = 2, use-announced = off, interfaces = [wlan0], backoff-after-reset = 3s }
            }
            """);
        var fullmesh = s.Selector.Select(Side.Client, Ep("192.0.2.1", 40000), Ep("203.0.113.1", 443)).Create();

        // Check the parameters by their effect: a fake connection with three addresses, two of them on wlan0.
        var ctx = new Policy.FakeConnectionContext();
        ctx.AddInitialSubflow();
        ctx.AddLocal("192.0.2.1", "eth0");
        ctx.AddLocal("198.51.100.1", "wlan0");
        ctx.AddLocal("198.51.100.2", "wlan0");
        ctx.AddRemote("203.0.113.2", 1);
        fullmesh.OnEstablished(ctx);
        Assert.Equal(["198.51.100.1->203.0.113.1:443"], ctx.OpenedPairs); // wlan0 only, no announced remotes, at most 2

        var opened = ctx.Opened[0].Subflow;
        fullmesh.OnSubflowClosed(ctx, opened, ctx.CloseBeforeCallback(opened, 104));
        Assert.Equal(TimeSpan.FromSeconds(3), Assert.Single(ctx.Reopened).Delay);
    }

    [Theory]
    [InlineData("smapp { polcy = fullmesh }", "smapp.polcy")]
    [InlineData("smapp { gateway { receive-bufer = 1MiB } }", "smapp.gateway.receive-bufer")]
    [InlineData("smapp { policies.fullmesh { max-subflow = 3 } }", "smapp.policies.fullmesh.max-subflow")]
    [InlineData("smapp { policies.ndiffports { backoff = 1s } }", "smapp.policies.ndiffports.backoff")]
    [InlineData("smapp { policies.meshfull { max-subflows = 3 } }", "smapp.policies.meshfull")]
    [InlineData("smapp { policy = meshfull }", "smapp.policy")]
    [InlineData("smapp { rules = [ { side = server, policy = passive }, { remote-port = 443, policy = nope } ] }", "smapp.rules[1].policy")]
    [InlineData("smapp { rules = [ { side = server } ] }", "smapp.rules[0].policy")]
    [InlineData("smapp { rules = [ { sides = server, policy = passive } ] }", "smapp.rules[0].sides")]
    [InlineData("smapp { rules = { side = server, policy = passive } }", "smapp.rules")]
    [InlineData("smapp { policies.fullmesh { backoff-after-reset = 500 } }", "smapp.policies.fullmesh.backoff-after-reset")]
    [InlineData("smapp { policies.fullmesh { backoff-max = soon } }", "smapp.policies.fullmesh.backoff-max")]
    [InlineData("smapp { gateway { command-timeout = 5 } }", "smapp.gateway.command-timeout")]
    [InlineData("smapp { policies.ndiffports { subflows = many } }", "smapp.policies.ndiffports.subflows")]
    [InlineData("smapp { policies.ndiffports { subflows = 2.5 } }", "smapp.policies.ndiffports.subflows")]
    [InlineData("smapp { policies.ndiffports { subflows = 0 } }", "smapp.policies.ndiffports.subflows")]
    [InlineData("smapp { policies.fullmesh { max-subflows = 99999999999 } }", "smapp.policies.fullmesh.max-subflows")]
    [InlineData("smapp { policies.fullmesh { backoff-multiplier = 0.5 } }", "smapp.policies.fullmesh.backoff-multiplier")]
    [InlineData("smapp { policies.fullmesh { backoff-after-other = 0s } }", "smapp.policies.fullmesh.backoff-after-other")]
    [InlineData("smapp { policies.fullmesh { use-announced = maybe } }", "smapp.policies.fullmesh.use-announced")]
    [InlineData("smapp { takeover = sometimes }", "smapp.takeover")]
    [InlineData("smapp { rules = [ { side = both, policy = passive } ] }", "smapp.rules[0].side")]
    [InlineData("smapp { rules = [ { remote-port = 0, policy = passive } ] }", "smapp.rules[0].remote-port")]
    [InlineData("smapp { rules = [ { remote-port = 70000, policy = passive } ] }", "smapp.rules[0].remote-port")]
    [InlineData("smapp { rules = [ { remote-port = [443, https], policy = passive } ] }", "smapp.rules[0].remote-port")]
    [InlineData("smapp { rules = [ { remote-prefix = \"203.0.113.0/33\", policy = passive } ] }", "smapp.rules[0].remote-prefix")]
    [InlineData("smapp { rules = [ { local-prefix = \"192.0.2.300/24\", policy = passive } ] }", "smapp.rules[0].local-prefix")]
    [InlineData("smapp { rules = [ { remote-prefix = \"2001:db8::/129\", policy = passive } ] }", "smapp.rules[0].remote-prefix")]
    [InlineData("smapp { gateway { receive-buffer = 1KiB } }", "smapp.gateway.receive-buffer")]
    [InlineData("smapp { gateway { receive-buffer = 4GiB } }", "smapp.gateway.receive-buffer")]
    [InlineData("smapp { gateway { receive-buffer = lots } }", "smapp.gateway.receive-buffer")]
    [InlineData("akka { }", "smapp")]
    public void A_bad_setting_is_a_config_error_naming_its_exact_key(string hocon, string key)
    {
        var e = Assert.Throws<ConfigError>(() => Parse(hocon));
        Assert.Equal(key, e.Key);
        Assert.False(string.IsNullOrWhiteSpace(e.Reason));
        Assert.StartsWith(key + ": ", e.Message, StringComparison.Ordinal);
    }

    private const string Rules = """
        smapp {
          policy = fullmesh
          rules = [
            { name = servers, side = server, policy = server-guard }
            { name = web, remote-port = [443, 8443], policy = ndiffports }
            { name = lab, remote-prefix = "198.51.100.0/24", policy = passive }
            { name = v6-site, local-prefix = "2001:db8:1::/48", policy = passive }
            { name = mapped, remote-prefix = "203.0.113.128/25", side = client, policy = ndiffports }
          ]
        }
        """;

    [Theory]
    [InlineData(Side.Server, "192.0.2.1", 443, "203.0.113.1", 50000, "server-guard", "servers")]       // first match wins over "web"
    [InlineData(Side.Client, "192.0.2.1", 40000, "203.0.113.1", 443, "ndiffports", "web")]
    [InlineData(Side.Client, "192.0.2.1", 40000, "203.0.113.1", 8443, "ndiffports", "web")]
    [InlineData(Side.Client, "192.0.2.1", 40000, "198.51.100.7", 443, "ndiffports", "web")]             // "web" comes before "lab"
    [InlineData(Side.Client, "192.0.2.1", 40000, "198.51.100.7", 22, "passive", "lab")]
    [InlineData(Side.Client, "2001:db8:1::5", 40000, "2001:db8:2::1", 22, "passive", "v6-site")]
    [InlineData(Side.Client, "2001:db8:3::5", 40000, "2001:db8:2::1", 22, "fullmesh", "default")]
    [InlineData(Side.Client, "192.0.2.1", 40000, "::ffff:198.51.100.7", 22, "passive", "lab")]           // v4-mapped matches a v4 prefix
    [InlineData(Side.Client, "192.0.2.1", 40000, "203.0.113.200", 22, "ndiffports", "mapped")]
    [InlineData(Side.Client, "192.0.2.1", 40000, "203.0.113.1", 22, "fullmesh", "default")]
    [InlineData(Side.Client, "192.0.2.1", 40000, "203.0.113.1", 80, "fullmesh", "default")]
    public void Rules_pick_the_policy_by_side_port_and_prefixes_first_match_wins(Side side, string local, ushort localPort, string remote, ushort remotePort, string policy, string rule)
    {
        var choice = Parse(Rules).Selector.Select(side, Ep(local, localPort), Ep(remote, remotePort));
        Assert.Equal(policy, choice.Name);
        Assert.Equal(rule, choice.Rule);
        Assert.Equal(policy, choice.Create().Name);
    }

    [Fact]
    public void An_unnamed_rule_is_named_by_its_position()
    {
        var s = Parse("smapp { rules = [ { side = client, remote-port = 22, policy = passive }, { side = server, policy = passive } ] }");
        Assert.Equal(["rule 0", "rule 1"], s.Selector.Rules.Select(r => r.Name));
        Assert.Equal("rule 1", s.Selector.Select(Side.Server, Ep("192.0.2.1", 22), Ep("203.0.113.1", 5)).Rule);
        var rule0 = s.Selector.Rules[0];
        Assert.Equal(Side.Client, rule0.Side);
        Assert.Equal(new HashSet<ushort> { 22 }, rule0.RemotePorts);
    }

    [Fact]
    public void Sampler_interval_defaults_to_100ms_and_is_configurable_but_not_below_10ms()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(100), Parse("smapp {}").SampleInterval);
        Assert.Equal(TimeSpan.FromMilliseconds(250), Parse("smapp.sampler.interval = 250ms").SampleInterval);
        Assert.Equal("smapp.sampler.interval", Assert.Throws<ConfigError>(() => Parse("smapp.sampler.interval = 1ms")).Key);
        Assert.Equal("smapp.sampler.every", Assert.Throws<ConfigError>(() => Parse("smapp.sampler.every = 1s")).Key);
    }

    [Theory]
    [InlineData("smapp {}", false)]
    [InlineData("smapp.decision-log = debug", false)]
    [InlineData("smapp.decision-log = info", true)]
    public void Decisions_are_logged_at_debug_unless_asked_for_at_info(string hocon, bool atInfo) =>
        Assert.Equal(atInfo, Parse(hocon).DecisionsAtInfo);

    [Fact]
    public void A_decision_log_level_other_than_debug_or_info_names_the_key()
    {
        var e = Assert.Throws<ConfigError>(() => Parse("smapp.decision-log = loud"));
        Assert.Equal("smapp.decision-log", e.Key);
        Assert.Contains("debug or info", e.Reason);
    }

    [Theory]
    [InlineData("100")]
    [InlineData("-1")]
    [InlineData("high")]
    public void A_realtime_priority_outside_0_to_99_is_refused_by_its_key(string value)
    {
        var e = Assert.Throws<ConfigError>(() => Parse($"smapp.gateway.realtime-priority = {value}"));
        Assert.Equal("smapp.gateway.realtime-priority", e.Key);
        Assert.Contains(value, e.Message);
    }
}
