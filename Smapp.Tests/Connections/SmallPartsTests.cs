using System.Net;
using Smapp.Actors.Connections;
using Smapp.Netlink.Diag;
using Smapp.Policy;
using Smapp.Tests.Actors;
using Smapp.Tests.Support;

namespace Smapp.Tests.Connections;

/// <summary>The local-id allocator, the pending-command table, the sample conversion and the address normaliser.</summary>
public class SmallPartsTests
{
    private static readonly IPAddress Wifi = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress Cell = IPAddress.Parse("198.51.100.1");
    private static readonly IPAddress Cell2 = IPAddress.Parse("198.51.100.2");

    [Fact]
    public void The_initial_address_is_id_0_and_each_other_address_keeps_the_lowest_free_id()
    {
        var ids = new LocalIdAllocator { Initial = Wifi };
        Assert.Equal(0, ids.IdFor(Wifi));
        Assert.Equal(0, ids.IdFor(Wifi.MapToIPv6()));
        Assert.Equal(1, ids.IdFor(Cell));
        Assert.Equal(2, ids.IdFor(Cell2));
        Assert.Equal(1, ids.IdFor(Cell.MapToIPv6()));
        Assert.Equal(2, ids.Count);
    }

    [Fact]
    public void Announcing_an_address_on_a_port_of_its_own_takes_another_id_even_the_initial_one()
    {
        var ids = new LocalIdAllocator { Initial = Wifi };
        Assert.Equal(1, ids.IdFor(Wifi, 6000));
        Assert.Equal(2, ids.IdFor(Cell));
        Assert.Equal((byte?)1, ids.Known(Wifi, 6000));
        Assert.Null(ids.Known(Wifi));
    }

    [Fact]
    public void Ids_the_kernel_reported_are_not_given_to_another_address()
    {
        var ids = new LocalIdAllocator { Initial = Wifi };
        ids.Remember(Cell2, 1);
        ids.Remember(Cell2, 5);
        ids.Remember(Wifi, 0);
        Assert.Equal((byte?)1, ids.Known(Cell2));
        Assert.Equal(2, ids.IdFor(Cell));
    }

    [Fact]
    public void A_result_completes_its_command_once_and_a_stranger_changes_nothing()
    {
        var pending = new PendingCommands();
        var a = pending.Add(CommandKind.Announce, null);
        var b = pending.Add(CommandKind.OpenSubflow, 7);
        Assert.NotEqual(a.Id, b.Id);
        Assert.Equal(2, pending.Count);
        Assert.False(pending.TryComplete(999, out _, out _));
        Assert.True(pending.TryComplete(b.Id, out var handle, out var subflow));
        Assert.Equal((b, (int?)7), (handle, subflow));
        Assert.False(pending.TryComplete(b.Id, out _, out _));
        Assert.Equal(1, pending.Count);
    }

    [Fact]
    public void A_sample_is_tcp_info_in_the_policys_units()
    {
        var at = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var s = SubflowSamples.From(new TcpInfo { RtoUs = 204_000, RttUs = 1_500, Backoff = 2, SndCwnd = 10, PacingRate = 1_000_000, BytesAcked = 65_536 }, at);
        Assert.Equal((TimeSpan.FromMilliseconds(204), TimeSpan.FromMilliseconds(1.5), (byte)2, 10u, 1_000_000ul, 65_536ul, at),
            (s.Rto, s.Rtt, s.Backoff, s.Cwnd, s.PacingRate, s.BytesAcked, s.At));
    }

    [Theory]
    [InlineData(null, 0, 200, 0, false)]   // the first sample only sets the baseline
    [InlineData(200, 0, 200, 0, false)]
    [InlineData(200, 0, 400, 0, true)]     // the timer grew
    [InlineData(400, 0, 200, 0, false)]    // it shrank
    [InlineData(400, 1, 400, 2, true)]     // one more backoff at the same RTO
    [InlineData(400, 2, 400, 1, false)]
    public void The_timeout_event_fires_when_the_retransmission_timer_grows_or_backs_off_again(int? previousMs, int previousBackoff, int currentMs, int currentBackoff, bool expected)
    {
        SubflowSample Sample(int ms, int backoff) => new(default, TimeSpan.FromMilliseconds(ms), (byte)backoff, default, 0, 0, 0, 0, 0, 0, 0, 0);
        Assert.Equal(expected, SubflowSamples.RtoGrew(previousMs is { } p ? Sample(p, previousBackoff) : null, Sample(currentMs, currentBackoff)));
    }

    [Theory]
    [InlineData("::ffff:198.51.100.1", "198.51.100.1", true)]
    [InlineData("198.51.100.1", "198.51.100.1", true)]
    [InlineData("198.51.100.1", "198.51.100.2", false)]
    [InlineData("2001:db8::1", "2001:db8::1", true)]
    public void An_address_is_the_same_whatever_its_form(string a, string b, bool expected) =>
        Assert.Equal(expected, AddressForm.Same(IPAddress.Parse(a), IPAddress.Parse(b)));

    [Theory]
    [InlineData("::ffff:198.51.100.1", 443, "198.51.100.1:443")]
    [InlineData("2001:db8::1", 443, "[2001:db8::1]:443")]
    public void Endpoints_print_v4_mapped_addresses_as_ipv4(string address, int port, string expected) =>
        Assert.Equal(expected, new Endpoint(IPAddress.Parse(address), (ushort)port).ToString());

    [Fact]
    public void Reconciling_subflows_finds_the_vanished_and_the_unknown()
    {
        var t = new SubflowTable();
        var kept = t.Add(new Endpoint(Wifi, 40000), new Endpoint(ControllerTestKit.Remote1, 443), 0, false, SubflowPhase.Established);
        var vanished = t.Add(new Endpoint(Cell, 50001), new Endpoint(ControllerTestKit.Remote1, 443), 1, false, SubflowPhase.Established);
        var connecting = t.Add(new Endpoint(Cell, 0), new Endpoint(ControllerTestKit.Remote1, 443), 1, false, SubflowPhase.Connecting);
        var unknown = ControllerTestKit.SubDiag(1, Cell2, 50002, ControllerTestKit.Remote1, 443, 2);
        var closing = ControllerTestKit.SubDiag(1, Cell, 50003, ControllerTestKit.Remote1, 443, 1) with { TcpState = 4 };
        var plan = Reconciliation.Subflows(t.All, [ControllerTestKit.SubDiag(1, Wifi, 40000, ControllerTestKit.Remote1, 443), unknown, closing]);

        // The connecting one has no subflow the kernel holds (a closing one is not held): it is dropped, not left connecting.
        Assert.Equal([vanished, connecting], plan.Vanished);
        Assert.Equal([unknown], plan.Unknown);
        Assert.DoesNotContain(kept, plan.Vanished);
        Assert.Empty(plan.Promoted);
        Assert.Equal(3, plan.Changes);
    }

    [Fact]
    public void Reconciling_subflows_promotes_a_connecting_one_the_kernel_has_up_and_learns_the_port_of_one_still_opening()
    {
        var t = new SubflowTable();
        var r = new Endpoint(ControllerTestKit.Remote1, 443);
        t.Add(new Endpoint(Wifi, 40000), r, 0, false, SubflowPhase.Established);
        var lostEvent = t.Add(new Endpoint(Cell, 0), r, 1, false, SubflowPhase.Connecting);
        var opening = t.Add(new Endpoint(Cell2, 0), r, 2, false, SubflowPhase.Connecting);
        var up = ControllerTestKit.SubDiag(1, Cell, 50001, ControllerTestKit.Remote1, 443, 1);
        var synSent = ControllerTestKit.SubDiag(1, Cell2, 50002, ControllerTestKit.Remote1, 443, 2) with { TcpState = Reconciliation.TcpSynSent };
        var plan = Reconciliation.Subflows(t.All, [ControllerTestKit.SubDiag(1, Wifi, 40000, ControllerTestKit.Remote1, 443), up, synSent]);
        Assert.Empty(plan.Vanished);
        Assert.Empty(plan.Unknown); // the row that is up is the connecting entry's, not a stranger
        Assert.Equal([(lostEvent, up)], plan.Promoted);
        Assert.Equal([(opening, synSent)], plan.PortsLearned);

        // Agreeing once the plan is applied: nothing more to change.
        SubflowTable.Established(lostEvent, new Endpoint(Cell, 50001), r, 1, 0, false, DateTimeOffset.UnixEpoch);
        SubflowTable.PortLearned(opening, 50002);
        Assert.Equal(0, Reconciliation.Subflows(t.All, [ControllerTestKit.SubDiag(1, Wifi, 40000, ControllerTestKit.Remote1, 443), up, synSent]).Changes);
    }

    [Fact]
    public void Reconciling_judges_only_what_existed_before_the_dump_was_asked_for()
    {
        var t = new SubflowTable();
        var r = new Endpoint(ControllerTestKit.Remote1, 443);
        var old = t.Add(new Endpoint(Wifi, 40000), r, 0, false, SubflowPhase.Established);
        var askedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        Assert.True(Eventually.Holds(() => System.Diagnostics.Stopwatch.GetTimestamp() > askedAt));
        var newer = t.Add(new Endpoint(Cell, 0), r, 1, false, SubflowPhase.Connecting);
        var plan = Reconciliation.Subflows(t.All, [], askedAt);
        Assert.Equal([old], plan.Vanished);
        Assert.DoesNotContain(newer, plan.Vanished);

        var conns = Reconciliation.Connections([(1u, askedAt - 1), (2u, askedAt + 1)], [], askedAt);
        Assert.Equal([1u], conns.Gone);
    }

    [Theory]
    [InlineData(1, 100)]
    [InlineData(2, 200)]
    [InlineData(3, 400)]
    [InlineData(5, 1600)]
    [InlineData(6, 2000)]
    [InlineData(10, 2000)]
    public void Reconcile_rounds_back_off_doubling_to_two_seconds(int round, int ms) =>
        Assert.Equal(TimeSpan.FromMilliseconds(ms), ConnectionSupervisor.ResyncDelay(round));

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 100)]
    [InlineData(2, 200)]
    [InlineData(6, 3200)]
    [InlineData(7, 5000)]
    [InlineData(30, 5000)]
    public void A_failed_socket_is_reopened_at_once_then_with_doubling_waits_to_five_seconds(int attempt, int ms) =>
        Assert.Equal(TimeSpan.FromMilliseconds(ms), Smapp.Actors.Gateway.NetlinkGateway.ReopenDelay(attempt));

    [Fact]
    public void Reconciling_connections_resyncs_the_known_adopts_the_new_and_ends_the_gone()
    {
        var r = ControllerTestKit.Remote1;
        var kernel = new[]
        {
            ControllerTestKit.ConnDiag(1, Wifi, 40000, r, 443),
            ControllerTestKit.ConnDiag(2, Wifi, 40001, r, 443),
            ControllerTestKit.ConnDiag(3, Wifi, 40002, r, 443, flags: 1), // fell back to TCP: not ours
            ControllerTestKit.ConnDiag(0, Wifi, 40003, r, 443),            // no token
        };
        var plan = Reconciliation.Connections([1u, 9u], kernel);
        Assert.Equal([1u], plan.Resync);
        Assert.Equal([2u], plan.Adopt.Select(c => c.Info.Token));
        Assert.Equal([9u], plan.Gone);
    }
}
