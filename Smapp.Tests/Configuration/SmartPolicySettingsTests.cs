using System.Net;
using Akka.Configuration;
using Smapp.Actors.Configuration;
using Smapp.Host.Configuration;
using Smapp.Policy;
using Smapp.Tests.Support;

namespace Smapp.Tests.Configuration;

/// <summary>The keys of backup, streaming and ecmp-refresh under smapp.policies: defaults, values reaching the instances, bad values named by key.</summary>
public class SmartPolicySettingsTests
{
    private static SmappSettings Parse(string hocon) => SmappSettings.FromConfig(ConfigurationFactory.ParseString(hocon));

    private static SubflowPolicy Client(SmappSettings s) =>
        s.Selector.Select(Side.Client, new Endpoint(IPAddress.Parse("192.0.2.1"), 40000), new Endpoint(IPAddress.Parse("203.0.113.1"), 443)).Create();

    [Theory]
    [InlineData("backup", 100)]
    [InlineData("streaming", 100)]
    [InlineData("ecmp-refresh", 500)]
    public void Each_smart_policy_is_selectable_wants_samples_and_asks_for_its_interval(string name, int sampleMs)
    {
        var choice = Parse($"smapp {{ policy = {name} }}").Selector.Select(Side.Client, new Endpoint(IPAddress.Loopback, 1), new Endpoint(IPAddress.Loopback, 2));
        Assert.Equal(name, choice.Name);
        Assert.True(choice.NeedsSamples);
        Assert.Equal(TimeSpan.FromMilliseconds(sampleMs), choice.SampleInterval);
    }

    [Fact]
    public void The_defaults_are_the_papers()
    {
        var p = (string name) => PolicyParameters.Defaults(BuiltInPolicies.All[name].Parameters);
        var backup = p("backup");
        Assert.Equal(TimeSpan.FromSeconds(1), backup.Duration("rto-threshold"));
        Assert.Equal(["cell"], backup.List("backup-interfaces"));
        Assert.Equal("never", backup.String("return"));
        Assert.Equal(TimeSpan.FromSeconds(10), backup.Duration("probe-after"));
        Assert.Equal(TimeSpan.FromSeconds(2), backup.Duration("probe-hold"));

        var streaming = p("streaming");
        Assert.Equal(65536, streaming.Int("block-size"));
        Assert.Equal(TimeSpan.FromSeconds(1), streaming.Duration("period"));
        Assert.Equal(0.5, streaming.Double("check-at"));
        Assert.Equal(32768, streaming.Int("min-progress"));
        Assert.Empty(streaming.List("interfaces"));
        Assert.Equal("acked", streaming.String("progress"));

        var ecmp = p("ecmp-refresh");
        Assert.Equal(5, ecmp.Int("subflows"));
        Assert.Equal(TimeSpan.FromMilliseconds(2500), ecmp.Duration("refresh"));
        Assert.True(ecmp.Bool("skip-idle"));
    }

    [Fact]
    public void Backup_keys_reach_the_policy()
    {
        var s = Parse("""
            smapp {
              policy = backup
              policies.backup { rto-threshold = 600ms, backup-interfaces = [wwan0, lte0], return = when-primary-recovers, probe-after = 30s, probe-hold = 5s, sample-interval = 50ms }
            }
            """);
        var policy = Assert.IsType<BackupPolicy>(Client(s));
        Assert.Equal(TimeSpan.FromMilliseconds(50), policy.SampleInterval);

        var ctx = new Policy.FakeConnectionContext();
        var initial = ctx.AddInitialSubflow();
        ctx.AddLocal("192.0.2.1", "wlan0");
        ctx.AddLocal("198.51.100.1", "lte0", 3);
        policy.OnEstablished(ctx);
        policy.OnSubflowTimeout(ctx, initial, TimeSpan.FromMilliseconds(800)); // over 600 ms
        Assert.Equal(["198.51.100.1->203.0.113.1:443"], ctx.OpenedPairs);       // lte0: wwan0 has no address
        Assert.Contains((BackupPolicy.ProbeTimer, TimeSpan.FromSeconds(30), false), ctx.TimersStarted);
    }

    [Fact]
    public void Streaming_keys_reach_the_policy()
    {
        var s = Parse("""
            smapp {
              policy = streaming
              policies.streaming { block-size = 131072, period = 2s, check-at = 0.25, min-progress = 100000, interfaces = [wwan0], progress = received }
            }
            """);
        var policy = Assert.IsType<StreamingPolicy>(Client(s));
        Assert.Equal(TimeSpan.FromMilliseconds(500), policy.CheckDelay);

        var ctx = new Policy.FakeConnectionContext();
        var initial = ctx.AddInitialSubflow();
        ctx.AddLocal("192.0.2.1", "eth0");
        ctx.AddLocal("198.51.100.1", "wlan0", 3);
        ctx.AddLocal("10.0.0.1", "wwan0", 4);
        policy.OnEstablished(ctx);
        Assert.Contains((StreamingPolicy.PeriodTimer, TimeSpan.FromSeconds(2), true), ctx.TimersStarted);
        ctx.Now += TimeSpan.FromMilliseconds(400);
        ctx.Sample(initial, bytesAcked: 500000, bytesReceived: 99999);
        policy.OnSample(ctx);
        policy.OnTimer(ctx, StreamingPolicy.CheckTimer);
        Assert.Equal(["10.0.0.1->203.0.113.1:443"], ctx.OpenedPairs); // received counts, and under 100000
    }

    [Fact]
    public void Ecmp_refresh_keys_reach_the_policy()
    {
        var s = Parse("""
            smapp {
              policy = ecmp-refresh
              policies.ecmp-refresh { subflows = 4, refresh = 1.5s, skip-idle = off, sample-interval = 250ms, backoff-after-reset = 3s }
            }
            """);
        var policy = Assert.IsType<EcmpRefreshPolicy>(Client(s));
        Assert.Equal(4, policy.Target);
        Assert.Equal(TimeSpan.FromMilliseconds(250), policy.SampleInterval);

        var ctx = new Policy.FakeConnectionContext();
        ctx.AddInitialSubflow();
        ctx.AddLocal("192.0.2.1", "eth0");
        policy.OnEstablished(ctx);
        Assert.Equal(3, ctx.Opened.Count);
        Assert.Equal(ctx.Now + TimeSpan.FromMilliseconds(1500), policy.NextRefresh);
        var s1 = ctx.Opened[0].Subflow;
        policy.OnSubflowClosed(ctx, s1, ctx.CloseBeforeCallback(s1, 104));
        Assert.Equal(TimeSpan.FromSeconds(3), Assert.Single(ctx.Reopened).Delay);
    }

    [Theory]
    [InlineData("smapp { policies.backup { rto-threshold = 0s } }", "smapp.policies.backup.rto-threshold")]
    [InlineData("smapp { policies.backup { rto-threshold = 1 } }", "smapp.policies.backup.rto-threshold")]
    [InlineData("smapp { policies.backup { backup-interfaces = [] } }", "smapp.policies.backup.backup-interfaces")]
    [InlineData("smapp { policies.backup { backup-interfaces = [\"\"] } }", "smapp.policies.backup.backup-interfaces")]
    [InlineData("smapp { policies.backup { return = sometimes } }", "smapp.policies.backup.return")]
    [InlineData("smapp { policies.backup { probe-after = 0ms } }", "smapp.policies.backup.probe-after")]
    [InlineData("smapp { policies.backup { probe-hold = soon } }", "smapp.policies.backup.probe-hold")]
    [InlineData("smapp { policies.backup { sample-interval = 5ms } }", "smapp.policies.backup.sample-interval")]
    [InlineData("smapp { policies.backup { rto-treshold = 1s } }", "smapp.policies.backup.rto-treshold")]
    [InlineData("smapp { policies.streaming { block-size = 0 } }", "smapp.policies.streaming.block-size")]
    [InlineData("smapp { policies.streaming { block-size = 64KiB } }", "smapp.policies.streaming.block-size")]
    [InlineData("smapp { policies.streaming { period = 0s } }", "smapp.policies.streaming.period")]
    [InlineData("smapp { policies.streaming { check-at = 0 } }", "smapp.policies.streaming.check-at")]
    [InlineData("smapp { policies.streaming { check-at = 1 } }", "smapp.policies.streaming.check-at")]
    [InlineData("smapp { policies.streaming { check-at = 1.5 } }", "smapp.policies.streaming.check-at")]
    [InlineData("smapp { policies.streaming { check-at = half } }", "smapp.policies.streaming.check-at")]
    [InlineData("smapp { policies.streaming { min-progress = 0 } }", "smapp.policies.streaming.min-progress")]
    [InlineData("smapp { policies.streaming { progress = sent } }", "smapp.policies.streaming.progress")]
    [InlineData("smapp { policies.ecmp-refresh { subflows = 1 } }", "smapp.policies.ecmp-refresh.subflows")]
    [InlineData("smapp { policies.ecmp-refresh { refresh = 0s } }", "smapp.policies.ecmp-refresh.refresh")]
    [InlineData("smapp { policies.ecmp-refresh { skip-idle = maybe } }", "smapp.policies.ecmp-refresh.skip-idle")]
    [InlineData("smapp { policies.ecmp-refresh { max-attempts = -1 } }", "smapp.policies.ecmp-refresh.max-attempts")]
    [InlineData("smapp { policies.ecmp-refresh { sample-interval = 1ms } }", "smapp.policies.ecmp-refresh.sample-interval")]
    public void A_bad_smart_policy_value_is_a_config_error_naming_its_key(string hocon, string key)
    {
        var e = Assert.Throws<ConfigError>(() => Parse(hocon));
        Assert.Equal(key, e.Key);
        Assert.False(string.IsNullOrWhiteSpace(e.Reason));
    }

    [Theory]
    [InlineData("phone-backup.conf", "backup")]
    [InlineData("streaming.conf", "streaming")]
    [InlineData("ecmp.conf", "ecmp-refresh")]
    public void The_example_for_each_use_case_is_valid_and_picks_its_policy_for_clients(string file, string policy)
    {
        var (_, settings) = ConfigLoader.Load(Path.Combine(Repo.Root, "HOCON", "examples", file), null, []);
        var choice = settings.Selector.Select(Side.Client, new Endpoint(IPAddress.Parse("192.0.2.1"), 40000), new Endpoint(IPAddress.Parse("203.0.113.1"), 443));
        Assert.Equal(policy, choice.Name);
        Assert.Equal("passive", settings.Selector.Select(Side.Server, new Endpoint(IPAddress.Parse("192.0.2.1"), 443), new Endpoint(IPAddress.Parse("203.0.113.1"), 40000)).Name);
    }

    [Fact]
    public void The_default_configuration_lists_every_own_key_of_the_smart_policies()
    {
        var config = ConfigLoader.ParseFile(Path.Combine(Repo.Root, "HOCON", "smapp.conf"));
        foreach (var name in new[] { "backup", "streaming", "ecmp-refresh" })
        {
            foreach (var spec in BuiltInPolicies.All[name].Parameters.Except(BuiltInPolicies.BackoffParameters))
            {
                Assert.True(config.HasPath($"smapp.policies.{name}.{spec.Name}"), $"smapp.conf lacks smapp.policies.{name}.{spec.Name}");
            }
        }

        var s = SmappSettings.FromConfig(config);
        Assert.Equal("fullmesh", s.Selector.DefaultPolicy);
    }
}
