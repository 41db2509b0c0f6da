using Smapp.Policy;

namespace Smapp.Tests.Policy;

/// <summary>streaming (paper 4.3): a subflow on another interface when a period's block falls behind, and no subflow with an RTO longer than the period.</summary>
public class StreamingPolicyTests
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(1);

    private static StreamingPolicy Streaming(StreamingProgress progress = StreamingProgress.Acked, params string[] interfaces) =>
        new(65536, Period, 0.5, 32768, interfaces, progress, TimeSpan.FromMilliseconds(100));

    /// <summary>A client 192.0.2.1:40000 (eth0) -> 203.0.113.1:443 on its initial subflow; extra locals as "addr%ifname".</summary>
    private static FakeConnectionContext Client(params string[] others)
    {
        var ctx = new FakeConnectionContext();
        ctx.AddInitialSubflow();
        ctx.AddLocal("192.0.2.1", "eth0", 2);
        var ifIndex = 3;
        foreach (var o in others)
        {
            var parts = o.Split('%');
            ctx.AddLocal(parts[0], parts[1], ifIndex++);
        }

        return ctx;
    }

    private static (FakeConnectionContext Ctx, StreamingPolicy Policy, Subflow Initial) Started(StreamingPolicy? policy = null, params string[] others)
    {
        var ctx = Client(others.Length == 0 ? ["198.51.100.1%wlan0"] : others);
        policy ??= Streaming();
        policy.OnEstablished(ctx);
        return (ctx, policy, ctx.Subflows.Single(s => s.Initial));
    }

    /// <summary>Samples every subflow at <paramref name="at"/> into the period with these cumulative byte counts, then OnSample.</summary>
    private static void SampleAt(FakeConnectionContext ctx, StreamingPolicy policy, DateTimeOffset periodStart, int atMs, params (Subflow S, ulong Acked)[] counts)
    {
        ctx.Now = periodStart + TimeSpan.FromMilliseconds(atMs);
        foreach (var (s, acked) in counts)
        {
            ctx.Sample(s, bytesAcked: acked, bytesReceived: acked);
        }

        policy.OnSample(ctx);
    }

    private static void CheckAt(FakeConnectionContext ctx, StreamingPolicy policy, DateTimeOffset periodStart)
    {
        ctx.Now = periodStart + TimeSpan.FromMilliseconds(500);
        policy.OnTimer(ctx, StreamingPolicy.CheckTimer);
    }

    [Fact]
    public void Streaming_starts_its_period_clock_when_the_connection_is_established()
    {
        var (ctx, policy, _) = Started();
        Assert.Contains((StreamingPolicy.PeriodTimer, Period, true), ctx.TimersStarted);
        Assert.Contains((StreamingPolicy.CheckTimer, TimeSpan.FromMilliseconds(500), false), ctx.TimersStarted);
        Assert.Empty(ctx.Opened);
        Assert.Equal(TimeSpan.FromMilliseconds(100), policy.SampleInterval);
    }

    [Theory]
    [InlineData(65536ul, false)]
    [InlineData(32768ul, false)]
    [InlineData(32767ul, true)]
    [InlineData(0ul, true)]
    public void Streaming_opens_a_subflow_at_the_check_point_only_if_progress_is_short(ulong acked, bool opens)
    {
        var (ctx, policy, initial) = Started();
        var t0 = ctx.Now;
        SampleAt(ctx, policy, t0, 100, (initial, acked / 2));
        SampleAt(ctx, policy, t0, 400, (initial, acked));
        CheckAt(ctx, policy, t0);

        Assert.Equal((long)acked, policy.ProgressThisPeriod);
        if (opens)
        {
            var opened = Assert.Single(ctx.Opened);
            Assert.Equal("198.51.100.1->203.0.113.1:443", Assert.Single(ctx.OpenedPairs));
            Assert.Equal("wlan0", opened.Local.InterfaceName);
            Assert.Contains(ctx.Logs, l => l.Decision == "open");
        }
        else
        {
            Assert.Empty(ctx.Opened);
        }
    }

    [Fact]
    public void Streaming_never_opens_a_second_subflow_while_the_first_keeps_up()
    {
        var (ctx, policy, initial) = Started();
        var start = ctx.Now;
        ulong acked = 0;
        for (var period = 0; period < 10; period++)
        {
            var t0 = start + (Period * period);
            if (period > 0)
            {
                ctx.Now = t0;
                policy.OnTimer(ctx, StreamingPolicy.PeriodTimer);
            }

            acked += 65536;
            SampleAt(ctx, policy, t0, 100, (initial, acked));
            CheckAt(ctx, policy, t0);
        }

        Assert.Empty(ctx.Opened);
    }

    [Fact]
    public void Streaming_opens_one_subflow_per_shortfall_on_a_new_interface_each_time_and_none_when_none_is_left()
    {
        var (ctx, policy, initial) = Started(null, "198.51.100.1%wlan0", "198.51.100.2%wlan0", "10.0.0.1%wwan0");
        var t0 = ctx.Now;
        CheckAt(ctx, policy, t0);
        Assert.Equal(["198.51.100.1->203.0.113.1:443"], ctx.OpenedPairs);

        // Next period, still short: the third interface (not a second address on wlan0).
        ctx.Now = t0 + Period;
        policy.OnTimer(ctx, StreamingPolicy.PeriodTimer);
        CheckAt(ctx, policy, t0 + Period);
        Assert.Equal(["198.51.100.1->203.0.113.1:443", "10.0.0.1->203.0.113.1:443"], ctx.OpenedPairs);

        // Every interface has a subflow now.
        ctx.Now = t0 + (2 * Period);
        policy.OnTimer(ctx, StreamingPolicy.PeriodTimer);
        CheckAt(ctx, policy, t0 + (2 * Period));
        Assert.Equal(2, ctx.Opened.Count);
        Assert.Single(ctx.Logs, l => l.Decision == "no other interface");
    }

    [Fact]
    public void Streaming_opens_nothing_and_logs_when_there_is_no_other_interface()
    {
        var (ctx, policy, _) = Started(null, "192.0.2.2%eth0", "2001:db8::1%wlan0");
        CheckAt(ctx, policy, ctx.Now);
        Assert.Empty(ctx.Opened);
        Assert.Single(ctx.Logs, l => l.Decision == "no other interface");
    }

    [Fact]
    public void Streaming_uses_only_the_listed_interfaces_in_their_order()
    {
        var (ctx, policy, _) = Started(Streaming(StreamingProgress.Acked, "wwan0", "wlan0"), "198.51.100.1%wlan0", "10.0.0.1%wwan0");
        CheckAt(ctx, policy, ctx.Now);
        Assert.Equal(["10.0.0.1->203.0.113.1:443"], ctx.OpenedPairs);
    }

    [Fact]
    public void Streaming_sums_the_progress_of_every_established_subflow()
    {
        var (ctx, policy, initial) = Started(null, "198.51.100.1%wlan0", "10.0.0.1%wwan0");
        var second = ctx.AddSubflow("198.51.100.1:50001", "203.0.113.1:443", openedByUs: true);
        var t0 = ctx.Now;
        SampleAt(ctx, policy, t0, 100, (initial, 10000), (second, 5000));
        SampleAt(ctx, policy, t0, 400, (initial, 20000), (second, 15000));
        CheckAt(ctx, policy, t0);
        Assert.Equal(35000, policy.ProgressThisPeriod);
        Assert.Empty(ctx.Opened);
    }

    [Fact]
    public void Streaming_counts_progress_from_the_start_of_each_period()
    {
        var (ctx, policy, initial) = Started();
        var t0 = ctx.Now;
        SampleAt(ctx, policy, t0, 400, (initial, 100000));
        CheckAt(ctx, policy, t0);
        Assert.Empty(ctx.Opened);

        var t1 = t0 + Period;
        ctx.Now = t1;
        policy.OnTimer(ctx, StreamingPolicy.PeriodTimer);
        Assert.Contains((StreamingPolicy.CheckTimer, TimeSpan.FromMilliseconds(500), false), ctx.TimersStarted.Skip(2));
        SampleAt(ctx, policy, t1, 400, (initial, 110000));
        CheckAt(ctx, policy, t1);
        Assert.Equal(10000, policy.ProgressThisPeriod);
        Assert.Single(ctx.Opened);
    }

    [Fact]
    public void Streaming_counts_a_reopened_subflow_from_zero()
    {
        var (ctx, policy, initial) = Started(null, "198.51.100.1%wlan0", "10.0.0.1%wwan0");
        var second = ctx.AddSubflow("198.51.100.1:50001", "203.0.113.1:443", openedByUs: true);
        var t0 = ctx.Now;
        SampleAt(ctx, policy, t0, 100, (initial, 1000), (second, 900000));
        ctx.Now = t0 + Period;
        policy.OnTimer(ctx, StreamingPolicy.PeriodTimer);

        // The second subflow closed and came back: a new socket, its count restarts.
        ctx.Now += TimeSpan.FromMilliseconds(50);
        ctx.Establish(second, 50009);
        SampleAt(ctx, policy, t0 + Period, 400, (initial, 1000), (second, 40000));
        Assert.Equal(40000, policy.ProgressThisPeriod);
    }

    [Fact]
    public void Streaming_measures_bytes_received_when_the_peer_streams()
    {
        var (ctx, policy, initial) = Started(Streaming(StreamingProgress.Received));
        var t0 = ctx.Now;
        ctx.Now = t0 + TimeSpan.FromMilliseconds(400);
        ctx.Sample(initial, bytesAcked: 0, bytesReceived: 50000);
        policy.OnSample(ctx);
        CheckAt(ctx, policy, t0);
        Assert.Equal(50000, policy.ProgressThisPeriod);
        Assert.Empty(ctx.Opened);
    }

    [Theory]
    [InlineData(1000, false)]
    [InlineData(1001, true)]
    public void Streaming_closes_a_subflow_whose_RTO_exceeds_the_period(int rtoMs, bool closed)
    {
        var (ctx, policy, initial) = Started(null, "198.51.100.1%wlan0", "10.0.0.1%wwan0");
        var second = ctx.AddSubflow("198.51.100.1:50001", "203.0.113.1:443", openedByUs: true);
        ctx.Now += TimeSpan.FromMilliseconds(100);
        ctx.Sample(initial, TimeSpan.FromMilliseconds(rtoMs));
        ctx.Sample(second, TimeSpan.FromMilliseconds(300));
        policy.OnSample(ctx);

        Assert.Equal(closed ? new[] { initial } : [], ctx.Closed);
        Assert.Empty(ctx.Opened);
    }

    [Fact]
    public void Streaming_replaces_the_last_subflow_on_another_interface_when_its_RTO_exceeds_the_period()
    {
        var (ctx, policy, initial) = Started();
        ctx.Now += TimeSpan.FromMilliseconds(100);
        ctx.Sample(initial, TimeSpan.FromSeconds(2));
        policy.OnSample(ctx);
        Assert.Equal([initial], ctx.Closed);
        Assert.Equal(["198.51.100.1->203.0.113.1:443"], ctx.OpenedPairs);
    }

    [Fact]
    public void Streaming_keeps_the_last_subflow_when_no_other_interface_can_replace_it_and_says_so_once()
    {
        var (ctx, policy, initial) = Started(null, "192.0.2.9%eth0");
        for (var i = 0; i < 3; i++)
        {
            ctx.Now += TimeSpan.FromMilliseconds(100);
            ctx.Sample(initial, TimeSpan.FromSeconds(2));
            policy.OnSample(ctx);
        }

        Assert.Empty(ctx.Closed);
        Assert.Empty(ctx.Opened);
        Assert.Single(ctx.Logs, l => l.Decision == "keep");
    }

    [Fact]
    public void Streaming_does_nothing_on_the_server_side()
    {
        var ctx = new FakeConnectionContext(Side.Server, "192.0.2.1:443", "203.0.113.1:50000");
        var initial = ctx.AddInitialSubflow();
        ctx.AddLocal("192.0.2.1", "eth0");
        ctx.AddLocal("198.51.100.1", "wlan0", 3);
        var policy = Streaming();
        policy.OnEstablished(ctx);
        ctx.Sample(initial, TimeSpan.FromSeconds(3));
        policy.OnSample(ctx);
        policy.OnTimer(ctx, StreamingPolicy.CheckTimer);

        Assert.Empty(ctx.TimersStarted);
        Assert.Empty(ctx.Opened);
        Assert.Empty(ctx.Closed);
    }
}
