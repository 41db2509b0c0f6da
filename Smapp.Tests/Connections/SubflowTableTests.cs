using System.Net;
using Smapp.Actors.Connections;
using Smapp.Policy;

namespace Smapp.Tests.Connections;

/// <summary>The subflow state machine, one rule per test, without actors.</summary>
public class SubflowTableTests
{
    private static readonly IPAddress Wifi = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress Cell = IPAddress.Parse("198.51.100.1");
    private static readonly IPAddress Server = IPAddress.Parse("203.0.113.1");
    private static readonly Endpoint Remote = new(Server, 443);
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static (SubflowTable Table, Subflow Connecting) WithOneConnecting()
    {
        var t = new SubflowTable();
        var s = t.Add(new Endpoint(Cell, 0), Remote, 1, false, SubflowPhase.Connecting);
        return (t, s);
    }

    [Fact]
    public void Ids_are_given_in_order_and_kept_for_the_subflows_life()
    {
        var t = new SubflowTable();
        var a = t.Add(new Endpoint(Wifi, 40000), Remote, 0, false, SubflowPhase.Established);
        var b = t.Add(new Endpoint(Cell, 0), Remote, 1, false, SubflowPhase.Connecting);
        Assert.Equal([1, 2], new[] { a.Id, b.Id });
        SubflowTable.Established(b, new Endpoint(Cell, 50001), Remote, 1, 0, null, T0);
        Assert.Same(b, t.ById(2));
    }

    [Fact]
    public void A_join_whose_port_we_never_knew_matches_the_oldest_connecting_subflow_from_that_address()
    {
        var (t, first) = WithOneConnecting();
        var second = t.Add(new Endpoint(Cell, 0), Remote, 1, false, SubflowPhase.Connecting);
        Assert.Same(first, t.Match(Cell, 50001, Server, 443));
        SubflowTable.Established(first, new Endpoint(Cell, 50001), Remote, 1, 0, null, T0);
        Assert.Same(first, t.Match(Cell, 50001, Server, 443));
        Assert.Same(second, t.Match(Cell, 50002, Server, 443));
    }

    [Fact]
    public void A_v4_mapped_address_matches_its_ipv4_form()
    {
        var t = new SubflowTable();
        var s = t.Add(new Endpoint(Wifi, 40000), Remote, 0, false, SubflowPhase.Established);
        Assert.Same(s, t.Find(Wifi.MapToIPv6(), 40000, Server.MapToIPv6(), 443));
        Assert.Same(s, t.FindByPorts(Wifi.MapToIPv6(), 40000, 443));
    }

    [Fact]
    public void Establishing_takes_the_kernels_tuple_and_ids_and_forgets_failures()
    {
        var (_, s) = WithOneConnecting();
        s.Failures = 3;
        SubflowTable.Established(s, new Endpoint(Cell, 50001), Remote, 4, 7, true, T0);
        Assert.Equal((SubflowPhase.Established, (ushort)50001, (byte)4, (byte)7, true, 0, T0),
            (s.Phase, s.Local.Port, s.LocalId, s.RemoteId, s.Backup, s.Failures, s.EstablishedAt!.Value));
    }

    [Fact]
    public void A_close_counts_a_failure_and_is_reported_unless_the_subflow_was_abandoned()
    {
        var (t, s) = WithOneConnecting();
        Assert.True(SubflowTable.Closed(s, new CloseReason(Errno.ECONNRESET)));
        Assert.Equal((SubflowPhase.Closed, 1, Errno.ECONNRESET), (s.Phase, s.Failures, s.LastClose!.Errno));

        var other = t.Add(new Endpoint(Wifi, 40001), Remote, 0, false, SubflowPhase.Established);
        t.Abandon(other);
        Assert.False(SubflowTable.Closed(other, CloseReason.None));
    }

    [Fact]
    public void A_closed_subflow_leaves_the_table_unless_the_policy_reopened_it_in_its_callback()
    {
        var (t, s) = WithOneConnecting();
        SubflowTable.Closed(s, CloseReason.None);
        Assert.True(t.Reopen(s));
        Assert.False(t.Settle(s));
        Assert.Equal(SubflowPhase.Pending, s.Phase);
        Assert.Contains(s, t.All);

        var gone = t.Add(new Endpoint(Wifi, 40001), Remote, 0, false, SubflowPhase.Established);
        SubflowTable.Closed(gone, CloseReason.None);
        Assert.True(t.Settle(gone));
        Assert.DoesNotContain(gone, t.All);
    }

    [Theory]
    [InlineData(SubflowPhase.Established, false)]
    [InlineData(SubflowPhase.Connecting, false)]
    [InlineData(SubflowPhase.Pending, false)]
    [InlineData(SubflowPhase.Closed, true)]
    public void Only_a_closed_live_subflow_can_be_reopened(SubflowPhase phase, bool expected)
    {
        var t = new SubflowTable();
        var s = t.Add(new Endpoint(Cell, 50001), Remote, 1, false, phase);
        Assert.Equal(expected, t.Reopen(s));
    }

    [Fact]
    public void An_abandoned_or_unknown_subflow_is_never_reopened()
    {
        var t = new SubflowTable();
        var s = t.Add(new Endpoint(Cell, 50001), Remote, 1, false, SubflowPhase.Closed);
        s.Abandoned = true;
        Assert.False(t.Reopen(s));
        var stranger = new SubflowTable().Add(new Endpoint(Cell, 50001), Remote, 1, false, SubflowPhase.Closed);
        Assert.False(t.Reopen(stranger));
    }

    [Theory]
    [InlineData(SubflowPhase.Established, 50001, "Destroy")]
    [InlineData(SubflowPhase.Connecting, 50001, "Destroy")]
    [InlineData(SubflowPhase.Connecting, 0, "DestroyWhenEstablished")]
    [InlineData(SubflowPhase.Pending, 0, "Forgotten")]
    [InlineData(SubflowPhase.Closed, 50001, "Forgotten")]
    public void Abandoning_destroys_what_the_kernel_has_waits_for_what_it_is_making_and_forgets_the_rest(SubflowPhase phase, int port, string action)
    {
        var expected = Enum.Parse<AbandonAction>(action);
        var t = new SubflowTable();
        var s = t.Add(new Endpoint(Cell, (ushort)port), Remote, 1, false, phase);
        Assert.Equal(expected, t.Abandon(s));
        Assert.True(s.Abandoned);
        Assert.Equal(expected != AbandonAction.Forgotten, t.All.Contains(s));
        Assert.Equal(AbandonAction.None, t.Abandon(s));
    }

    [Fact]
    public void A_create_going_out_forgets_the_old_port()
    {
        var t = new SubflowTable();
        var s = t.Add(new Endpoint(Cell, 50001), Remote, 1, false, SubflowPhase.Pending);
        s.LastSample = new SubflowSample(T0, TimeSpan.FromSeconds(3), 4, default, 0, 0, 0, 0, 0, 0, 0, 0);
        SubflowTable.Connecting(s);
        Assert.Equal((SubflowPhase.Connecting, (ushort)0), (s.Phase, s.Local.Port));
        Assert.Null(s.LastSample); // the new socket's first sample is not compared with the old one's last
    }

    [Fact]
    public void Waiting_on_an_address_lists_its_pending_and_closed_subflows_only()
    {
        var t = new SubflowTable();
        var pending = t.Add(new Endpoint(Cell, 0), Remote, 1, false, SubflowPhase.Pending);
        var closed = t.Add(new Endpoint(Cell, 50002), Remote, 1, false, SubflowPhase.Closed);
        t.Add(new Endpoint(Cell, 50003), Remote, 1, false, SubflowPhase.Established);
        t.Add(new Endpoint(Wifi, 0), Remote, 2, false, SubflowPhase.Pending);
        Assert.Equal([pending, closed], t.WaitingOn(Cell));
    }
}
