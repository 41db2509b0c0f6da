using Smapp.Policy;

namespace Smapp.Tests.Policy;

/// <summary>ecmp-refresh (paper 4.4): n subflows over one address pair; every refresh the slowest is replaced.</summary>
public class EcmpRefreshPolicyTests
{
    private static readonly TimeSpan Refresh = TimeSpan.FromMilliseconds(2500);

    private static EcmpRefreshPolicy Ecmp(int n = 5, bool skipIdle = true) => new(n, Refresh, skipIdle, TimeSpan.FromMilliseconds(500), BackoffSettings.Default);

    private static FakeConnectionContext Client()
    {
        var ctx = new FakeConnectionContext();
        ctx.AddInitialSubflow();
        ctx.AddLocal("192.0.2.1", "eth0");
        ctx.AddLocal("198.51.100.1", "wlan0", 3);
        return ctx;
    }

    /// <summary>Established with every subflow it opened up right away; the subflows by id.</summary>
    private static (FakeConnectionContext Ctx, EcmpRefreshPolicy Policy, List<Subflow> Subflows) Started(int n = 5, bool skipIdle = true)
    {
        var ctx = Client();
        var policy = Ecmp(n, skipIdle);
        policy.OnEstablished(ctx);
        foreach (var (_, _, _, s) in ctx.Opened)
        {
            ctx.Establish(s);
        }

        ctx.ClearRecords();
        return (ctx, policy, ctx.Subflows.OrderBy(s => s.Id).ToList());
    }

    /// <summary>At <paramref name="at"/>, every subflow sampled with its pacing rate (by position) and bytes acked growing, then OnSample.</summary>
    private static void SampleAt(FakeConnectionContext ctx, EcmpRefreshPolicy policy, DateTimeOffset at, IReadOnlyList<Subflow> subflows, ulong[] rates, ulong acked)
    {
        ctx.Now = at;
        for (var i = 0; i < subflows.Count; i++)
        {
            if (subflows[i].Phase == SubflowPhase.Established)
            {
                ctx.Sample(subflows[i], pacingRate: rates[i], bytesAcked: acked);
            }
        }

        policy.OnSample(ctx);
    }

    /// <summary>Samples at 1 s (baseline) and at the 2.5 s deadline, with bytes acked growing in between.</summary>
    private static void RunToFirstRefresh(FakeConnectionContext ctx, EcmpRefreshPolicy policy, List<Subflow> subflows, params ulong[] rates)
    {
        var t0 = subflows[0].EstablishedAt!.Value;
        SampleAt(ctx, policy, t0 + TimeSpan.FromSeconds(1), subflows, rates, 1000);
        SampleAt(ctx, policy, t0 + Refresh, subflows, rates, 2000);
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(5, 4)]
    public void Ecmp_refresh_opens_n_subflows_over_the_initial_pair(int n, int opens)
    {
        var ctx = Client();
        var policy = Ecmp(n);
        policy.OnEstablished(ctx);
        Assert.Equal(opens, ctx.Opened.Count);
        Assert.All(ctx.OpenedPairs, p => Assert.Equal("192.0.2.1->203.0.113.1:443", p));
        Assert.Equal(n, ctx.Live.Count());
        Assert.Equal(ctx.Now + Refresh, policy.NextRefresh);
        Assert.Equal(TimeSpan.FromMilliseconds(500), policy.SampleInterval);
    }

    [Fact]
    public void Ecmp_refresh_closes_the_slowest_subflow_and_opens_a_new_one_at_once()
    {
        var (ctx, policy, subflows) = Started();
        RunToFirstRefresh(ctx, policy, subflows, 5_000_000, 3_000_000, 8_000_000, 2_000_000, 9_000_000);

        Assert.Equal([subflows[3]], ctx.Closed);
        Assert.Equal(["192.0.2.1->203.0.113.1:443"], ctx.OpenedPairs);
        Assert.Equal(5, ctx.Live.Count());
        Assert.Contains(ctx.Logs, l => l.Decision == "refresh" && l.Reason.Contains("2000000", StringComparison.Ordinal));
        Assert.Equal(ctx.Now + Refresh, policy.NextRefresh);
    }

    [Fact]
    public void Ecmp_refresh_does_nothing_before_the_refresh_is_due()
    {
        var (ctx, policy, subflows) = Started();
        var t0 = ctx.Now;
        ulong[] rates = [5, 3, 8, 2, 9];
        SampleAt(ctx, policy, t0 + TimeSpan.FromSeconds(1), subflows, rates, 1000);
        SampleAt(ctx, policy, t0 + TimeSpan.FromMilliseconds(2499), subflows, rates, 2000);
        Assert.Empty(ctx.Closed);
        Assert.Empty(ctx.Opened);

        SampleAt(ctx, policy, t0 + TimeSpan.FromMilliseconds(2700), subflows, rates, 3000); // the first sample after the deadline
        Assert.Single(ctx.Closed);
    }

    [Fact]
    public void Ecmp_refresh_replaces_one_subflow_per_refresh_and_next_one_a_refresh_later()
    {
        var (ctx, policy, subflows) = Started();
        ulong[] rates = [5, 3, 8, 2, 9];
        RunToFirstRefresh(ctx, policy, subflows, rates);
        var now = ctx.Now;
        ctx.Now += TimeSpan.FromMilliseconds(20); // the new one is up one round trip after the refresh
        var fresh = ctx.Establish(ctx.Opened.Single().Subflow);
        ctx.Settle();
        ctx.ClearRecords();

        List<Subflow> next = [.. subflows.Where(s => !s.Abandoned), fresh];
        ulong[] nextRates = [5, 3, 8, 9, 1]; // the new one (rate 1) is too young to be replaced yet
        SampleAt(ctx, policy, now + TimeSpan.FromSeconds(1), next, nextRates, 3000);
        Assert.Empty(ctx.Closed);
        SampleAt(ctx, policy, now + Refresh, next, nextRates, 4000);
        Assert.Equal([subflows[1]], ctx.Closed); // rate 3: the slowest old enough
    }

    [Fact]
    public void Ecmp_refresh_never_replaces_a_subflow_younger_than_one_refresh_period()
    {
        var ctx = Client();
        var policy = Ecmp(3);
        policy.OnEstablished(ctx);
        var initial = ctx.Subflows.Single(s => s.Initial);
        var old = ctx.Establish(ctx.Opened[0].Subflow);
        var t0 = ctx.Now;
        ctx.Now = t0 + TimeSpan.FromMilliseconds(100);
        var young = ctx.Establish(ctx.Opened[1].Subflow); // 100 ms later: at 2.5 s it is 2.4 s old
        ctx.ClearRecords();

        List<Subflow> all = [initial, old, young];
        SampleAt(ctx, policy, t0 + TimeSpan.FromSeconds(1), all, [5, 7, 1], 1000);
        SampleAt(ctx, policy, t0 + Refresh, all, [5, 7, 1], 2000);
        Assert.Equal([initial], ctx.Closed);
    }

    [Fact]
    public void Ecmp_refresh_needs_two_subflows_old_enough_to_compare()
    {
        var ctx = Client();
        var policy = Ecmp(3);
        policy.OnEstablished(ctx);
        var initial = ctx.Subflows.Single(s => s.Initial);
        var t0 = ctx.Now;
        ctx.Now = t0 + TimeSpan.FromSeconds(1);
        var a = ctx.Establish(ctx.Opened[0].Subflow);
        var b = ctx.Establish(ctx.Opened[1].Subflow);
        ctx.ClearRecords();

        List<Subflow> all = [initial, a, b];
        SampleAt(ctx, policy, t0 + TimeSpan.FromSeconds(2), all, [1, 7, 8], 1000);
        SampleAt(ctx, policy, t0 + Refresh, all, [1, 7, 8], 2000);
        Assert.Empty(ctx.Closed);
        Assert.Empty(ctx.Opened);
    }

    [Fact]
    public void Ecmp_refresh_breaks_a_tie_for_the_youngest_then_the_lowest_id()
    {
        // Equal lowest rates, different ages: the youngest of them goes.
        var ctx = Client();
        var policy = Ecmp(4);
        policy.OnEstablished(ctx);
        var t0 = ctx.Now;
        var initial = ctx.Subflows.Single(s => s.Initial);
        var a = ctx.Establish(ctx.Opened[0].Subflow);
        ctx.Now = t0 + TimeSpan.FromMilliseconds(10);
        var b = ctx.Establish(ctx.Opened[1].Subflow);
        var c = ctx.Establish(ctx.Opened[2].Subflow);
        ctx.ClearRecords();
        List<Subflow> all = [initial, a, b, c];
        SampleAt(ctx, policy, t0 + TimeSpan.FromSeconds(1), all, [4, 4, 4, 9], 1000);
        SampleAt(ctx, policy, t0 + TimeSpan.FromSeconds(3), all, [4, 4, 4, 9], 2000);
        Assert.Equal([b], ctx.Closed);

        // Equal rates and ages: the lowest id.
        var (ctx2, policy2, subflows) = Started(3);
        RunToFirstRefresh(ctx2, policy2, subflows, 6, 6, 6);
        Assert.Equal([subflows[0]], ctx2.Closed);
    }

    [Fact]
    public void Ecmp_refresh_ignores_a_sample_from_before_a_subflow_was_reestablished()
    {
        var (ctx, policy, subflows) = Started(3);
        var t0 = ctx.Now;
        SampleAt(ctx, policy, t0 + TimeSpan.FromSeconds(1), subflows, [9, 9, 1], 1000);
        subflows[2].EstablishedAt = t0 - TimeSpan.FromSeconds(1); // old enough, but its latest sample is from another socket
        subflows[2].LastSample = subflows[2].LastSample! with { At = t0 - TimeSpan.FromSeconds(2) };
        ctx.Now = t0 + Refresh;
        ctx.Sample(subflows[0], pacingRate: 9, bytesAcked: 2000);
        ctx.Sample(subflows[1], pacingRate: 8, bytesAcked: 2000);
        policy.OnSample(ctx);
        Assert.Equal([subflows[1]], ctx.Closed);
    }

    [Fact]
    public void Ecmp_refresh_skips_an_idle_connection_unless_told_not_to()
    {
        var (ctx, policy, subflows) = Started();
        var t0 = ctx.Now;
        ulong[] rates = [5, 3, 8, 2, 9];
        SampleAt(ctx, policy, t0 + TimeSpan.FromSeconds(1), subflows, rates, 1);
        SampleAt(ctx, policy, t0 + Refresh, subflows, rates, 1);
        Assert.Empty(ctx.Closed);
        Assert.Equal(ctx.Now + Refresh, policy.NextRefresh); // skipped, not postponed to the next sample

        var (busy, busyPolicy, busySubflows) = Started(skipIdle: false);
        SampleAt(busy, busyPolicy, t0 + TimeSpan.FromSeconds(1), busySubflows, rates, 1);
        SampleAt(busy, busyPolicy, t0 + Refresh, busySubflows, rates, 1);
        Assert.Equal([busySubflows[3]], busy.Closed);
    }

    [Theory]
    [InlineData(104, 1, 1_000)]
    [InlineData(113, 2, 10_000)]
    [InlineData(104, 11, null)]
    public void Ecmp_refresh_reopens_a_subflow_the_kernel_closed_with_backoff(int errno, int attempt, int? expectedMs)
    {
        var (ctx, policy, subflows) = Started();
        var s = subflows[2];
        s.Failures = attempt - 1;
        policy.OnSubflowClosed(ctx, s, ctx.CloseBeforeCallback(s, errno));
        if (expectedMs is { } ms)
        {
            var (reopened, delay) = Assert.Single(ctx.Reopened);
            Assert.Same(s, reopened);
            Assert.Equal(TimeSpan.FromMilliseconds(ms), delay);
            Assert.Equal(5, ctx.Live.Count());
        }
        else
        {
            Assert.Empty(ctx.Reopened);
            Assert.Equal([s], ctx.Closed);
        }

        Assert.Empty(ctx.Opened);
    }

    [Fact]
    public void Ecmp_refresh_does_not_reopen_the_subflow_it_replaced()
    {
        var (ctx, policy, subflows) = Started();
        RunToFirstRefresh(ctx, policy, subflows, 5, 3, 8, 2, 9);
        var replaced = ctx.Closed.Single();
        Assert.True(replaced.Abandoned);
        policy.OnSubflowClosed(ctx, replaced, ctx.CloseBeforeCallback(replaced, 0));
        Assert.Empty(ctx.Reopened);
    }

    [Fact]
    public void Ecmp_refresh_closes_the_subflows_of_a_local_address_that_went_away()
    {
        var (ctx, policy, subflows) = Started(3);
        var eth0 = ctx.LocalAddressList[0];
        ctx.LocalAddressList.Remove(eth0);
        policy.OnLocalAddressRemoved(ctx, eth0);
        Assert.Equal(subflows, ctx.Closed);
    }

    [Fact]
    public void Ecmp_refresh_does_nothing_on_the_server_side()
    {
        var ctx = new FakeConnectionContext(Side.Server, "192.0.2.1:443", "203.0.113.1:50000");
        var initial = ctx.AddInitialSubflow();
        var joined = ctx.AddSubflow("192.0.2.1:443", "203.0.113.1:50001");
        ctx.AddLocal("192.0.2.1");
        var policy = Ecmp();
        policy.OnEstablished(ctx);
        ctx.Now += TimeSpan.FromSeconds(10);
        ctx.Sample(initial, pacingRate: 1, bytesAcked: 5);
        ctx.Sample(joined, pacingRate: 9, bytesAcked: 5);
        policy.OnSample(ctx);
        policy.OnSubflowClosed(ctx, joined, ctx.CloseBeforeCallback(joined, 104));

        Assert.Empty(ctx.Opened);
        Assert.Empty(ctx.Closed);
        Assert.Empty(ctx.Reopened);
    }
}
