using System.Net;
using System.Text;
using Smapp.Actors.Configuration;
using Smapp.Client;
using Smapp.Policy;
using Smapp.Tests.Policy;

namespace Smapp.Tests.Client;

/// <summary>The application API's wire contract, the parameters an application may pass, and streaming on the application's clock.</summary>
public class AppWireTests
{
    [Fact]
    public void A_policy_request_is_one_snake_case_json_line()
    {
        var bytes = AppWire.Encode(new AppRequest(AppWire.OpPolicy, "192.0.2.1:40000", "203.0.113.1:5201", "ndiffports", new Dictionary<string, string> { ["subflows"] = "3" }));
        Assert.Equal("""{"op":"policy","local":"192.0.2.1:40000","remote":"203.0.113.1:5201","policy":"ndiffports","parameters":{"subflows":"3"}}""" + "\n", Encoding.UTF8.GetString(bytes));
        var block = AppWire.Encode(new AppRequest(AppWire.OpBlock, "[2001:db8::1]:40000", "[2001:db8::2]:443", Bytes: 65536, DeadlineMs: 1000));
        Assert.Equal("""{"op":"block","local":"[2001:db8::1]:40000","remote":"[2001:db8::2]:443","bytes":65536,"deadline_ms":1000}""" + "\n", Encoding.UTF8.GetString(block));
    }

    [Fact]
    public void Answers_round_trip_and_a_refusal_keeps_its_reason()
    {
        var ok = AppWire.DecodeAnswer(Encoding.UTF8.GetString(AppWire.Encode(new AppAnswer(true, "87b09ac8", "ndiffports", "passive replaced by ndiffports"))).TrimEnd());
        Assert.Equal(new AppAnswer(true, "87b09ac8", "ndiffports", "passive replaced by ndiffports"), ok);
        var refused = AppWire.DecodeAnswer("""{"ok":false,"error":"connection 192.0.2.1:40000->203.0.113.1:5201 belongs to uid 0, not 65534"}""");
        Assert.False(refused!.Ok);
        Assert.Equal("connection 192.0.2.1:40000->203.0.113.1:5201 belongs to uid 0, not 65534", refused.Error);
        Assert.Null(AppWire.DecodeAnswer("not json"));
    }

    [Theory]
    [InlineData("{not json", "not a JSON request object")]
    [InlineData("null", "not a JSON request object")]
    [InlineData("""{"op":"steer","local":"192.0.2.1:1","remote":"203.0.113.1:2"}""", "\"op\": 'steer' is not one of policy, block")]
    [InlineData("""{"local":"192.0.2.1:1","remote":"203.0.113.1:2"}""", "\"op\": missing is not one of policy, block")]
    [InlineData("""{"op":"policy","local":"192.0.2.1:1","remote":"203.0.113.1:2"}""", "op policy needs \"policy\"")]
    [InlineData("""{"op":"policy","policy":"fullmesh","local":"192.0.2.1","remote":"203.0.113.1:2"}""", "\"local\": '192.0.2.1' is not ADDRESS:PORT")]
    [InlineData("""{"op":"policy","policy":"fullmesh","local":"192.0.2.1:1","remote":"nowhere:2"}""", "\"remote\": 'nowhere:2' is not ADDRESS:PORT")]
    [InlineData("""{"op":"block","local":"192.0.2.1:1","remote":"203.0.113.1:2","deadline_ms":1000}""", "op block needs \"bytes\" > 0")]
    [InlineData("""{"op":"block","local":"192.0.2.1:1","remote":"203.0.113.1:2","bytes":10,"deadline_ms":0}""", "op block needs \"deadline_ms\" > 0")]
    [InlineData("""{"op":"policy","policy":"fullmesh","local":"192.0.2.1:1","remote":"203.0.113.1:2","parameters":{"interfaces":3}}""", "not a JSON request object")]
    public void A_malformed_request_is_refused_with_the_reason(string line, string reason)
    {
        Assert.Null(AppWire.DecodeRequest(line, out var error));
        Assert.Contains(reason, error);
    }

    [Fact]
    public void Endpoints_are_written_as_plain_ipv4_even_from_a_dual_mode_socket()
    {
        Assert.Equal("192.0.2.1:40000", AppWire.Format(new IPEndPoint(IPAddress.Parse("192.0.2.1").MapToIPv6(), 40000)));
        Assert.Equal("[2001:db8::1]:443", AppWire.Format(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 443)));
        Assert.True(AppWire.TryParse("[::ffff:192.0.2.1]:5", out var e));
        Assert.Equal(IPAddress.Parse("192.0.2.1"), e.Address);
        Assert.False(AppWire.TryParse("192.0.2.1:0", out _));
        Assert.Equal("/run/smapp/phone.app.sock", AppWire.DefaultPath("phone"));
        Assert.Equal("/run/smapp/host.app.sock", AppWire.DefaultPath(null));
    }

    [Fact]
    public void An_application_s_parameters_are_checked_as_hocon_keys_and_the_rest_keep_their_configured_values()
    {
        var settings = SmappSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString("smapp { policies.ndiffports { subflows = 4, max-attempts = 7 } }"));
        var choice = settings.Selector.Custom("ndiffports", new Dictionary<string, string> { ["subflows"] = "3" }, "app (uid 0)");
        Assert.Equal("ndiffports", choice.Name);
        Assert.Equal("app (uid 0)", choice.Rule);
        Assert.Equal(3, Assert.IsType<NdiffportsPolicy>(choice.Create()).Target);
        Assert.Equal(4, Assert.IsType<NdiffportsPolicy>(settings.Selector.Custom("ndiffports", new Dictionary<string, string>(), "r").Create()).Target);

        var list = settings.Selector.Custom("fullmesh", new Dictionary<string, string> { ["interfaces"] = "[wifi, eth0]", ["max-subflows"] = "2" }, "r");
        Assert.IsType<FullmeshPolicy>(list.Create());
        var streaming = settings.Selector.Custom("streaming", new Dictionary<string, string> { ["period"] = "500ms", ["block-size"] = "1000" }, "r");
        Assert.True(streaming.NeedsSamples);

        Assert.Equal("smapp.policies.ndiffports.subflows: 0 is out of range: must be between 1 and 64",
            Assert.Throws<ConfigError>(() => settings.Selector.Custom("ndiffports", new Dictionary<string, string> { ["subflows"] = "0" }, "r")).Message);
        Assert.StartsWith("smapp.policies.ndiffports.paths: unknown key",
            Assert.Throws<ConfigError>(() => settings.Selector.Custom("ndiffports", new Dictionary<string, string> { ["paths"] = "2" }, "r")).Message);
        Assert.StartsWith("smapp.policies.streaming.period:",
            Assert.Throws<ConfigError>(() => settings.Selector.Custom("streaming", new Dictionary<string, string> { ["period"] = "soon" }, "r")).Message);
        Assert.StartsWith("policy: no policy named 'cellular-off'",
            Assert.Throws<ConfigError>(() => settings.Selector.Custom("cellular-off", new Dictionary<string, string>(), "r")).Message);
        Assert.Contains("not a parameter name",
            Assert.Throws<ConfigError>(() => settings.Selector.Custom("fullmesh", new Dictionary<string, string> { ["a = 1\nb"] = "2" }, "r")).Message);
    }

    [Fact]
    public void Streaming_on_the_application_s_clock_checks_each_block_at_its_own_check_point()
    {
        var ctx = new FakeConnectionContext();
        var initial = ctx.AddInitialSubflow();
        ctx.AddLocal("192.0.2.1", "eth0", 2);
        ctx.AddLocal("198.51.100.1", "wlan0", 3);
        var policy = new StreamingPolicy(65536, TimeSpan.FromSeconds(1), 0.5, 32768, [], StreamingProgress.Acked, TimeSpan.FromMilliseconds(100));
        policy.OnEstablished(ctx);
        var t0 = ctx.Now;

        // A block of 20000 bytes due in 400 ms: checked at 200 ms, needing 10000 bytes (min-progress / block-size of it).
        var answer = policy.OnBlock(ctx, 20000, t0 + TimeSpan.FromMilliseconds(400));
        Assert.Contains("10000 bytes needed", answer);
        Assert.True(policy.ApplicationClock);
        Assert.Contains(StreamingPolicy.PeriodTimer, ctx.TimersCancelled);
        Assert.Equal((StreamingPolicy.CheckTimer, TimeSpan.FromMilliseconds(200), false), ctx.TimersStarted[^1]);

        ctx.Now = t0 + TimeSpan.FromMilliseconds(100);
        ctx.Sample(initial, bytesAcked: 12000);
        policy.OnSample(ctx);
        ctx.Now = t0 + TimeSpan.FromMilliseconds(200);
        policy.OnTimer(ctx, StreamingPolicy.CheckTimer);
        Assert.Empty(ctx.Opened); // 12000 >= 10000: on time

        // The next block, bigger, falls behind: a subflow on the other interface.
        policy.OnBlock(ctx, 100000, ctx.Now + TimeSpan.FromMilliseconds(400));
        ctx.Now += TimeSpan.FromMilliseconds(100);
        ctx.Sample(initial, bytesAcked: 30000);
        policy.OnSample(ctx);
        ctx.Now += TimeSpan.FromMilliseconds(100);
        policy.OnTimer(ctx, StreamingPolicy.CheckTimer);
        Assert.Equal(["198.51.100.1->203.0.113.1:443"], ctx.OpenedPairs);
        Assert.Contains(ctx.Logs, l => l.Decision == "open" && l.Reason.Contains("fewer than 50000 (block 100000 bytes, due in 400 ms)"));
        Assert.Null(new NdiffportsPolicy(2, BuiltInPolicies.BackoffFrom(PolicyParameters.Defaults(BuiltInPolicies.BackoffParameters))).OnBlock(ctx, 1, ctx.Now + TimeSpan.FromSeconds(1)));
    }
}
