using Smapp.Policy;

namespace Smapp.Tests.Policy;

/// <summary>ndiffports: n subflows over the initial address pair.</summary>
public class NdiffportsPolicyTests
{
    private static FakeConnectionContext Client()
    {
        var ctx = new FakeConnectionContext();
        ctx.AddInitialSubflow();
        ctx.AddLocal("192.0.2.1", "eth0");
        ctx.AddLocal("198.51.100.1", "wlan0", 3);
        return ctx;
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    [InlineData(4, 3)]
    [InlineData(8, 7)]
    public void Ndiffports_opens_n_minus_one_extra_subflows_over_the_initial_pair(int n, int expectedOpens)
    {
        var ctx = Client();
        new NdiffportsPolicy(n, BackoffSettings.Default).OnEstablished(ctx);

        Assert.Equal(expectedOpens, ctx.Opened.Count);
        Assert.All(ctx.OpenedPairs, p => Assert.Equal("192.0.2.1->203.0.113.1:443", p));
        Assert.All(ctx.Opened, o => Assert.Equal("eth0", o.Local.InterfaceName));
        Assert.Equal(n, ctx.Subflows.Count(s => !s.Abandoned));
        Assert.Equal(ctx.Opened.Count, ctx.Opened.Select(o => o.Subflow.Id).Distinct().Count());
    }

    [Fact]
    public void Ndiffports_counts_the_subflows_already_there_on_takeover()
    {
        var ctx = Client();
        ctx.AddSubflow("192.0.2.1:40001", "203.0.113.1:443");
        ctx.AddSubflow("192.0.2.1:40002", "203.0.113.1:443");
        new NdiffportsPolicy(4, BackoffSettings.Default).OnEstablished(ctx);
        Assert.Single(ctx.Opened);

        var full = Client();
        full.AddSubflow("192.0.2.1:40001", "203.0.113.1:443");
        new NdiffportsPolicy(2, BackoffSettings.Default).OnEstablished(full);
        Assert.Empty(full.Opened);
    }

    [Fact]
    public void Ndiffports_uses_the_initial_local_address_even_when_it_is_not_listed()
    {
        var ctx = new FakeConnectionContext();
        ctx.AddInitialSubflow();
        new NdiffportsPolicy(2, BackoffSettings.Default).OnEstablished(ctx);
        var opened = Assert.Single(ctx.Opened);
        Assert.Equal("192.0.2.1", opened.Local.Address.ToString());
        Assert.Null(opened.Local.InterfaceName);
    }

    [Theory]
    [InlineData(104, 1, 1_000)]
    [InlineData(104, 3, 4_000)]
    [InlineData(113, 1, 5_000)]
    [InlineData(113, 2, 10_000)]
    [InlineData(0, 1, 2_000)]
    [InlineData(104, 11, null)]
    public void Ndiffports_reopens_a_closed_subflow_with_backoff(int errno, int attempt, int? expectedMs)
    {
        var ctx = Client();
        var s = ctx.AddSubflow("192.0.2.1:40001", "203.0.113.1:443", openedByUs: true);
        s.Failures = attempt - 1;
        new NdiffportsPolicy(2, BackoffSettings.Default).OnSubflowClosed(ctx, s, ctx.CloseBeforeCallback(s, errno));
        if (expectedMs is { } ms)
        {
            Assert.Equal(TimeSpan.FromMilliseconds(ms), Assert.Single(ctx.Reopened).Delay);
            Assert.Empty(ctx.Closed);
        }
        else
        {
            Assert.Empty(ctx.Reopened);
            Assert.Equal([s], ctx.Closed);
        }
    }

    [Fact]
    public void Ndiffports_gives_up_when_the_local_address_is_gone()
    {
        var ctx = Client();
        var s = ctx.AddSubflow("192.0.2.1:40001", "203.0.113.1:443", openedByUs: true);
        ctx.LocalAddressList.RemoveAll(a => a.Address.ToString() == "192.0.2.1");
        new NdiffportsPolicy(2, BackoffSettings.Default).OnSubflowClosed(ctx, s, ctx.CloseBeforeCallback(s, 104));
        Assert.Empty(ctx.Reopened);
        Assert.Equal([s], ctx.Closed);
    }

    [Fact]
    public void Ndiffports_closes_the_subflows_of_a_removed_local_address()
    {
        var ctx = Client();
        var a = ctx.AddSubflow("192.0.2.1:40001", "203.0.113.1:443", openedByUs: true);
        var other = ctx.AddSubflow("198.51.100.1:40002", "203.0.113.1:443", openedByUs: true);
        var gone = ctx.LocalAddressList[0];
        ctx.LocalAddressList.Remove(gone);
        new NdiffportsPolicy(2, BackoffSettings.Default).OnLocalAddressRemoved(ctx, gone);
        Assert.Contains(a, ctx.Closed);
        Assert.Contains(ctx.Subflows.Single(s => s.Initial), ctx.Closed);
        Assert.DoesNotContain(other, ctx.Closed);
    }

    [Fact]
    public void Ndiffports_does_nothing_on_the_server_side()
    {
        var ctx = new FakeConnectionContext(Side.Server, "192.0.2.1:443", "203.0.113.1:50000");
        ctx.AddInitialSubflow();
        ctx.AddLocal("192.0.2.1");
        var joined = ctx.AddSubflow("192.0.2.1:443", "203.0.113.1:50001");
        var policy = new NdiffportsPolicy(4, BackoffSettings.Default);

        policy.OnEstablished(ctx);
        policy.OnSubflowClosed(ctx, joined, ctx.CloseBeforeCallback(joined, 104));

        Assert.Empty(ctx.Opened);
        Assert.Empty(ctx.Reopened);
        Assert.Empty(ctx.Closed);
    }
}
