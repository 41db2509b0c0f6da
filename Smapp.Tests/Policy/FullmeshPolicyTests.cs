using Smapp.Policy;

namespace Smapp.Tests.Policy;

/// <summary>Fullmesh's decisions, one callback at a time, against a fake connection.</summary>
public class FullmeshPolicyTests
{
    private static FullmeshPolicy Fullmesh(int maxSubflows = 8, bool useAnnounced = true, params string[] interfaces) =>
        new(BackoffSettings.Default, interfaces, useAnnounced, maxSubflows);

    /// <summary>A client connection 192.0.2.1:40000 -> 203.0.113.1:443 on its initial subflow, with these locals ("addr%ifname", comma-separated) and announced remotes ("addr#id" or "addr#id#port").</summary>
    private static FakeConnectionContext Client(string locals, string announced = "")
    {
        var ctx = new FakeConnectionContext();
        ctx.AddInitialSubflow();
        var ifIndex = 2;
        foreach (var l in Split(locals))
        {
            var parts = l.Split('%');
            ctx.AddLocal(parts[0], parts.Length > 1 ? parts[1] : "eth0", ifIndex++);
        }

        foreach (var r in Split(announced))
        {
            var parts = r.Split('#');
            ctx.AddRemote(parts[0], byte.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), parts.Length > 2 ? ushort.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture) : null);
        }

        return ctx;
    }

    private static string[] Split(string s) => s.Length == 0 ? [] : s.Split(',');

    private static string[] Sorted(IEnumerable<string> s) => s.Order(StringComparer.Ordinal).ToArray();

    [Theory]
    [InlineData("192.0.2.1", "", "")]
    [InlineData("192.0.2.1,198.51.100.1", "", "198.51.100.1->203.0.113.1:443")]
    [InlineData("192.0.2.1,198.51.100.1,2001:db8::1", "", "198.51.100.1->203.0.113.1:443")]
    [InlineData("192.0.2.1,198.51.100.1,198.51.100.2", "", "198.51.100.1->203.0.113.1:443;198.51.100.2->203.0.113.1:443")]
    [InlineData("192.0.2.1,198.51.100.1", "203.0.113.2#1", "198.51.100.1->203.0.113.1:443;192.0.2.1->203.0.113.2:443;198.51.100.1->203.0.113.2:443")]
    [InlineData("192.0.2.1", "203.0.113.2#1#8443", "192.0.2.1->203.0.113.2:8443")]
    [InlineData("192.0.2.1,2001:db8::1", "2001:db8:2::1#2#8443", "2001:db8::1->2001:db8:2::1:8443")]
    [InlineData("192.0.2.1,2001:db8::1", "2001:db8:2::1#2", "2001:db8::1->2001:db8:2::1:443")]
    public void Fullmesh_opens_one_subflow_per_missing_pair_of_the_same_family_on_established(string locals, string announced, string expected)
    {
        var ctx = Client(locals, announced);
        Fullmesh().OnEstablished(ctx);
        Assert.Equal(Sorted(Split(expected.Replace(';', ','))), Sorted(ctx.OpenedPairs));
        Assert.All(ctx.Opened, o => Assert.False(o.Backup));
    }

    [Theory]
    [InlineData(SubflowPhase.Established, false, "198.51.100.1", 0)]
    [InlineData(SubflowPhase.Connecting, false, "198.51.100.1", 0)]
    [InlineData(SubflowPhase.Pending, false, "198.51.100.1", 0)]
    [InlineData(SubflowPhase.Closed, false, "198.51.100.1", 0)]
    [InlineData(SubflowPhase.Established, true, "198.51.100.1", 1)]
    public void Fullmesh_skips_a_pair_that_already_has_a_subflow_unless_it_was_abandoned(SubflowPhase phase, bool abandoned, string existingLocal, int expectedOpens)
    {
        var ctx = Client("192.0.2.1,198.51.100.1");
        var existing = ctx.AddSubflow($"[{existingLocal}]:50000", "203.0.113.1:443", phase, openedByUs: true);
        existing.Abandoned = abandoned;
        Fullmesh().OnEstablished(ctx);
        Assert.Equal(expectedOpens, ctx.Opened.Count);
    }

    [Fact]
    public void Fullmesh_treats_a_v4_mapped_remote_as_the_same_address()
    {
        var ctx = Client("192.0.2.1,198.51.100.1");
        ctx.AddSubflow("198.51.100.1:50000", "[::ffff:203.0.113.1]:443", openedByUs: true);
        Fullmesh().OnEstablished(ctx);
        Assert.Empty(ctx.Opened);
    }

    [Fact]
    public void Fullmesh_counts_a_subflow_given_up_on_but_still_in_the_kernel_against_its_cap_and_looks_again_later()
    {
        // The address flapped: the old cellular subflow was given up on while connecting (its destroy waits for its
        // port); the address is back. With max-subflows = 2 the kernel may still hold initial + old: no third yet.
        var ctx = Client("192.0.2.1,198.51.100.1");
        var old = ctx.AddSubflow("198.51.100.1:0", "203.0.113.1:443", SubflowPhase.Connecting, openedByUs: true);
        old.Abandoned = true;
        var policy = Fullmesh(2);
        policy.OnLocalAddressAdded(ctx, ctx.LocalAddressList[1]);
        Assert.Empty(ctx.Opened);
        Assert.Contains(ctx.TimersStarted, t => t.Key == "fullmesh-refill" && t.Delay == FullmeshPolicy.RefillDelay);

        // Once it is gone, the refill opens the pair.
        ctx.Settle();
        policy.OnTimer(ctx, "fullmesh-refill");
        Assert.Equal(["198.51.100.1->203.0.113.1:443"], ctx.OpenedPairs);
    }

    [Fact]
    public void Fullmesh_closes_a_subflow_that_comes_up_over_its_cap_and_keeps_one_within_it()
    {
        var ctx = Client("192.0.2.1,198.51.100.1");
        var policy = Fullmesh(2);
        var within = ctx.AddSubflow("198.51.100.1:50001", "203.0.113.1:443");
        policy.OnSubflowEstablished(ctx, within);
        Assert.Empty(ctx.Closed);

        // One the kernel reports that Smapp did not open (or a stale join that connected late): a third.
        var extra = ctx.AddSubflow("198.51.100.1:50002", "203.0.113.1:443");
        policy.OnSubflowEstablished(ctx, extra);
        Assert.Equal([extra], ctx.Closed);
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    [InlineData(3, 2)]
    [InlineData(4, 3)]
    [InlineData(8, 3)]
    public void Fullmesh_never_exceeds_max_subflows_counting_the_initial_one(int maxSubflows, int expectedOpens)
    {
        var ctx = Client("192.0.2.1,198.51.100.1,198.51.100.2,198.51.100.3");
        Fullmesh(maxSubflows).OnEstablished(ctx);
        Assert.Equal(expectedOpens, ctx.Opened.Count);
        Assert.True(ctx.Subflows.Count(s => !s.Abandoned) <= Math.Max(maxSubflows, 1));
        if (expectedOpens < 3)
        {
            Assert.Contains(ctx.Logs, l => l.Decision == "skip");
        }
    }

    [Theory]
    [InlineData("wlan0", "198.51.100.1->203.0.113.1:443")]
    [InlineData("wlan0,eth1", "198.51.100.1->203.0.113.1:443;198.51.100.2->203.0.113.1:443")]
    [InlineData("usb0", "")]
    [InlineData("", "198.51.100.1->203.0.113.1:443;198.51.100.2->203.0.113.1:443;198.51.100.3->203.0.113.1:443")]
    public void Fullmesh_uses_only_local_addresses_on_the_configured_interfaces(string interfaces, string expected)
    {
        var ctx = Client("192.0.2.1%eth0,198.51.100.1%wlan0,198.51.100.2%eth1");
        ctx.LocalAddressList.Add(new LocalAddress(System.Net.IPAddress.Parse("198.51.100.3"), 9, null)); // no interface name
        Fullmesh(8, true, Split(interfaces)).OnEstablished(ctx);
        Assert.Equal(Sorted(Split(expected.Replace(';', ','))), Sorted(ctx.OpenedPairs));
    }

    [Fact]
    public void Fullmesh_opens_toward_an_announced_address_from_every_local_address()
    {
        var ctx = Client("192.0.2.1,198.51.100.1");
        ctx.AddSubflow("198.51.100.1:50000", "203.0.113.1:443", openedByUs: true);
        var policy = Fullmesh();
        policy.OnEstablished(ctx);
        Assert.Empty(ctx.Opened);

        var announced = ctx.AddRemote("203.0.113.2", 3, 8080);
        policy.OnAnnounced(ctx, announced);
        Assert.Equal(["192.0.2.1->203.0.113.2:8080", "198.51.100.1->203.0.113.2:8080"], Sorted(ctx.OpenedPairs));
    }

    [Fact]
    public void Fullmesh_ignores_announcements_when_use_announced_is_off()
    {
        var ctx = Client("192.0.2.1,198.51.100.1", "203.0.113.2#1");
        var policy = Fullmesh(useAnnounced: false);
        policy.OnEstablished(ctx);
        Assert.Equal(["198.51.100.1->203.0.113.1:443"], ctx.OpenedPairs);

        ctx.ClearRecords();
        policy.OnAnnounced(ctx, ctx.AddRemote("203.0.113.3", 2));
        policy.OnLocalAddressAdded(ctx, ctx.AddLocal("198.51.100.2"));
        Assert.Equal(["198.51.100.2->203.0.113.1:443"], ctx.OpenedPairs);
    }

    [Fact]
    public void Fullmesh_opens_from_a_local_address_that_appears()
    {
        var ctx = Client("192.0.2.1");
        var policy = Fullmesh();
        policy.OnEstablished(ctx);
        Assert.Empty(ctx.Opened);

        policy.OnLocalAddressAdded(ctx, ctx.AddLocal("198.51.100.7", "wwan0"));
        var opened = Assert.Single(ctx.Opened);
        Assert.Equal("198.51.100.7", opened.Local.Address.ToString());
        Assert.Equal(new Endpoint(System.Net.IPAddress.Parse("203.0.113.1"), 443), opened.Remote);
    }

    [Fact]
    public void Fullmesh_closes_the_subflows_of_a_removed_local_address_and_never_reopens_them()
    {
        var ctx = Client("192.0.2.1,198.51.100.1");
        var policy = Fullmesh();
        var other = ctx.AddSubflow("198.51.100.1:50000", "203.0.113.1:443", openedByUs: true);
        var second = ctx.AddSubflow("198.51.100.1:50001", "203.0.113.2:443", openedByUs: true);
        var initial = ctx.Subflows.Single(s => s.Initial);
        var gone = ctx.LocalAddressList[1];
        ctx.LocalAddressList.Remove(gone);

        policy.OnLocalAddressRemoved(ctx, gone);
        Assert.Equal([other.Id, second.Id], ctx.Closed.Select(s => s.Id).Order());
        Assert.DoesNotContain(initial, ctx.Closed);

        // The kernel then reports them closed: nothing is re-opened, now or when another address comes and goes.
        policy.OnSubflowClosed(ctx, other, ctx.CloseBeforeCallback(other, 104));
        policy.OnSubflowClosed(ctx, second, ctx.CloseBeforeCallback(second, 0));
        policy.OnLocalAddressAdded(ctx, ctx.AddLocal("2001:db8::5"));
        Assert.Empty(ctx.Reopened);
        Assert.Empty(ctx.Opened);
    }

    [Fact]
    public void Fullmesh_closes_non_initial_subflows_to_an_address_the_peer_withdrew()
    {
        var ctx = Client("192.0.2.1,198.51.100.1", "203.0.113.2#1");
        var toWithdrawn = ctx.AddSubflow("192.0.2.1:50000", "203.0.113.2:443", openedByUs: true);
        var toInitial = ctx.AddSubflow("198.51.100.1:50001", "203.0.113.1:443", openedByUs: true);
        var withdrawn = ctx.RemoteAddressList.Single(r => r.Id == 1);
        ctx.RemoteAddressList.Remove(withdrawn);

        Fullmesh().OnRemoved(ctx, withdrawn);
        Assert.Equal([toWithdrawn], ctx.Closed);
        Assert.False(toInitial.Abandoned);
    }

    [Theory]
    [InlineData(104, 1, 1_000)]
    [InlineData(104, 2, 2_000)]
    [InlineData(104, 5, 16_000)]
    [InlineData(104, 6, 30_000)]
    [InlineData(104, 10, 30_000)]
    [InlineData(104, 11, null)]
    [InlineData(113, 1, 5_000)]
    [InlineData(113, 2, 10_000)]
    [InlineData(113, 3, 20_000)]
    [InlineData(113, 4, 30_000)]
    [InlineData(113, 11, null)]
    [InlineData(110, 1, 5_000)]
    [InlineData(0, 1, 2_000)]
    [InlineData(22, 3, 8_000)]
    public void Fullmesh_reopens_a_closed_subflow_after_the_backoff_for_its_error_and_attempt(int errno, int attempt, int? expectedMs)
    {
        var ctx = Client("192.0.2.1,198.51.100.1");
        var s = ctx.AddSubflow("198.51.100.1:50000", "203.0.113.1:443", openedByUs: true);
        s.Failures = attempt - 1;
        var reason = ctx.CloseBeforeCallback(s, errno);

        Fullmesh().OnSubflowClosed(ctx, s, reason);

        if (expectedMs is { } ms)
        {
            var r = Assert.Single(ctx.Reopened);
            Assert.Same(s, r.Subflow);
            Assert.Equal(TimeSpan.FromMilliseconds(ms), r.Delay);
            Assert.Empty(ctx.Closed);
            Assert.Contains(ctx.Logs, l => l.Decision == "reopen");
        }
        else
        {
            Assert.Empty(ctx.Reopened);
            Assert.Equal([s], ctx.Closed);
            Assert.Contains(ctx.Logs, l => l.Decision == "give up");
        }

        Assert.Empty(ctx.Opened);
    }

    [Fact]
    public void Fullmesh_reopens_with_growing_delays_until_it_gives_up()
    {
        var ctx = Client("192.0.2.1,198.51.100.1");
        var s = ctx.AddSubflow("198.51.100.1:50000", "203.0.113.1:443", openedByUs: true);
        var policy = Fullmesh();
        for (var i = 0; i < 11; i++)
        {
            policy.OnSubflowClosed(ctx, s, ctx.CloseBeforeCallback(s, 104));
        }

        Assert.Equal(new[] { 1, 2, 4, 8, 16, 30, 30, 30, 30, 30 }.Select(x => TimeSpan.FromSeconds(x)), ctx.Reopened.Select(r => r.Delay));
        Assert.Equal([s], ctx.Closed);
    }

    [Fact]
    public void Fullmesh_reopens_the_initial_subflow_too()
    {
        var ctx = Client("192.0.2.1,198.51.100.1");
        var initial = ctx.Subflows.Single(s => s.Initial);
        Fullmesh().OnSubflowClosed(ctx, initial, ctx.CloseBeforeCallback(initial, 104));
        Assert.Equal(TimeSpan.FromSeconds(1), Assert.Single(ctx.Reopened).Delay);
    }

    [Fact]
    public void Fullmesh_gives_up_on_a_closed_subflow_whose_local_address_is_gone()
    {
        var ctx = Client("192.0.2.1");
        var s = ctx.AddSubflow("198.51.100.1:50000", "203.0.113.1:443", openedByUs: true);
        Fullmesh().OnSubflowClosed(ctx, s, ctx.CloseBeforeCallback(s, 104));
        Assert.Empty(ctx.Reopened);
        Assert.Equal([s], ctx.Closed);
    }

    [Fact]
    public void Fullmesh_gives_up_on_a_closed_subflow_whose_interface_is_no_longer_allowed()
    {
        var ctx = Client("192.0.2.1%wlan0,198.51.100.1%eth1");
        var s = ctx.AddSubflow("198.51.100.1:50000", "203.0.113.1:443", openedByUs: true);
        Fullmesh(8, true, "wlan0").OnSubflowClosed(ctx, s, ctx.CloseBeforeCallback(s, 104));
        Assert.Empty(ctx.Reopened);
        Assert.Equal([s], ctx.Closed);
    }

    [Fact]
    public void Fullmesh_gives_up_on_a_closed_subflow_to_an_address_the_peer_no_longer_has()
    {
        var ctx = Client("192.0.2.1,198.51.100.1");
        var s = ctx.AddSubflow("198.51.100.1:50000", "203.0.113.9:443", openedByUs: true);
        Fullmesh().OnSubflowClosed(ctx, s, ctx.CloseBeforeCallback(s, 104));
        Assert.Empty(ctx.Reopened);
        Assert.Equal([s], ctx.Closed);
    }

    [Fact]
    public void Fullmesh_does_nothing_on_the_server_side()
    {
        var ctx = new FakeConnectionContext(Side.Server, "192.0.2.1:443", "203.0.113.1:50000");
        ctx.AddInitialSubflow();
        ctx.AddLocal("192.0.2.1");
        ctx.AddLocal("198.51.100.1");
        var joined = ctx.AddSubflow("198.51.100.1:443", "203.0.113.1:50001");
        var policy = Fullmesh();

        policy.OnEstablished(ctx);
        policy.OnLocalAddressAdded(ctx, ctx.AddLocal("198.51.100.2"));
        policy.OnAnnounced(ctx, ctx.AddRemote("203.0.113.2", 1));
        policy.OnSubflowClosed(ctx, joined, ctx.CloseBeforeCallback(joined, 104));

        Assert.Empty(ctx.Opened);
        Assert.Empty(ctx.Reopened);
        Assert.Empty(ctx.Closed);
    }

    [Fact]
    public void Fullmesh_ignores_the_close_of_a_subflow_it_already_abandoned()
    {
        var ctx = Client("192.0.2.1,198.51.100.1");
        var s = ctx.AddSubflow("198.51.100.1:50000", "203.0.113.1:443", openedByUs: true);
        s.Abandoned = true;
        Fullmesh().OnSubflowClosed(ctx, s, ctx.CloseBeforeCallback(s, 104));
        Assert.Empty(ctx.Reopened);
        Assert.Empty(ctx.Closed);
    }
}
