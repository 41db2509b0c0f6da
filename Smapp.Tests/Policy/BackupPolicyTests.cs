using Smapp.Policy;

namespace Smapp.Tests.Policy;

/// <summary>backup (paper 4.2): break-before-make failover on a long RTO, and the optional return to the primary.</summary>
public class BackupPolicyTests
{
    private static readonly TimeSpan Threshold = TimeSpan.FromSeconds(1);

    private static BackupPolicy Backup(BackupReturn mode = BackupReturn.Never, params string[] interfaces) => new(
        Threshold, interfaces.Length == 0 ? ["cell"] : interfaces, mode, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(100), BackoffSettings.Default);

    /// <summary>A client 192.0.2.1:40000 (wlan0) -> 203.0.113.1:443 on its initial subflow, with a cellular address 198.51.100.1 unless told otherwise.</summary>
    private static FakeConnectionContext Client(bool cell = true)
    {
        var ctx = new FakeConnectionContext();
        ctx.AddInitialSubflow();
        ctx.AddLocal("192.0.2.1", "wlan0", 2);
        if (cell)
        {
            ctx.AddLocal("198.51.100.1", "cell", 3);
        }

        return ctx;
    }

    private static (FakeConnectionContext Ctx, BackupPolicy Policy, Subflow Primary) Started(BackupReturn mode = BackupReturn.Never, bool cell = true)
    {
        var ctx = Client(cell);
        var policy = Backup(mode);
        policy.OnEstablished(ctx);
        return (ctx, policy, ctx.Subflows.Single(s => s.Initial));
    }

    private static Subflow FailOver(FakeConnectionContext ctx, BackupPolicy policy, Subflow primary)
    {
        ctx.Sample(primary, TimeSpan.FromMilliseconds(1600));
        policy.OnSubflowTimeout(ctx, primary, TimeSpan.FromMilliseconds(1600));
        var backup = Assert.Single(ctx.Opened).Subflow;
        ctx.Now += TimeSpan.FromMilliseconds(30);
        ctx.Establish(backup);
        ctx.Settle();
        ctx.ClearRecords();
        return backup;
    }

    [Fact]
    public void Backup_opens_no_backup_subflow_in_advance_and_samples_often()
    {
        var (ctx, policy, primary) = Started();
        Assert.Empty(ctx.Opened);
        Assert.Empty(ctx.Closed);
        Assert.Same(primary, policy.Active);
        Assert.False(policy.OnBackup);
        Assert.Equal(TimeSpan.FromMilliseconds(100), policy.SampleInterval);
        Assert.True(PolicyRegistration.NeedsSamples(policy.Subscriptions));
    }

    [Theory]
    [InlineData(204, false)]
    [InlineData(999, false)]
    [InlineData(1000, false)]
    [InlineData(1001, true)]
    [InlineData(3200, true)]
    public void Backup_fails_over_on_a_timeout_only_when_the_RTO_exceeds_the_threshold(int rtoMs, bool failover)
    {
        var (ctx, policy, primary) = Started();
        var rto = TimeSpan.FromMilliseconds(rtoMs);
        ctx.Sample(primary, rto);
        policy.OnSubflowTimeout(ctx, primary, rto);

        Assert.Equal(failover ? 1 : 0, ctx.Opened.Count);
        Assert.Equal(failover ? new[] { primary } : [], ctx.Closed);
        Assert.Equal(failover, policy.OnBackup);
    }

    [Theory]
    [InlineData(1000, false)]
    [InlineData(1001, true)]
    public void Backup_also_checks_the_RTO_at_each_sample(int rtoMs, bool failover)
    {
        // The first sample raises no timeout event (it is the baseline), yet the RTO may already be too long.
        var (ctx, policy, primary) = Started();
        ctx.Sample(primary, TimeSpan.FromMilliseconds(rtoMs));
        policy.OnSample(ctx);
        Assert.Equal(failover ? 1 : 0, ctx.Opened.Count);
    }

    [Fact]
    public void Backup_closes_the_primary_and_opens_a_subflow_from_the_cellular_address_to_the_remote_endpoint()
    {
        var (ctx, policy, primary) = Started();
        policy.OnSubflowTimeout(ctx, primary, TimeSpan.FromMilliseconds(1600));

        Assert.Equal([primary], ctx.Closed);
        var opened = Assert.Single(ctx.Opened);
        Assert.Equal("198.51.100.1->203.0.113.1:443", Assert.Single(ctx.OpenedPairs));
        Assert.Equal("cell", opened.Local.InterfaceName);
        Assert.False(opened.Backup); // it is the active subflow now, not an MPTCP backup one
        Assert.Same(opened.Subflow, policy.Active);
        Assert.True(policy.OnBackup);
        Assert.Contains(ctx.Logs, l => l.Decision == "failover" && l.Reason.Contains("1600 ms", StringComparison.Ordinal));
        Assert.Empty(ctx.TimersStarted); // return = never: no probe
    }

    [Fact]
    public void Backup_takes_the_first_listed_backup_interface_that_has_an_address_of_the_remote_family()
    {
        var ctx = new FakeConnectionContext();
        ctx.AddInitialSubflow();
        ctx.AddLocal("192.0.2.1", "wlan0", 2);
        ctx.AddLocal("2001:db8::1", "cell", 3);
        ctx.AddLocal("198.51.100.7", "lte", 4);
        ctx.AddLocal("198.51.100.9", "sat", 5);
        var policy = Backup(BackupReturn.Never, "cell", "lte", "sat");
        policy.OnEstablished(ctx);
        policy.OnSubflowTimeout(ctx, ctx.Subflows.Single(), TimeSpan.FromSeconds(2));
        Assert.Equal("198.51.100.7->203.0.113.1:443", Assert.Single(ctx.OpenedPairs));
    }

    [Fact]
    public void Backup_without_a_backup_address_logs_once_keeps_the_subflow_and_fails_over_when_one_appears()
    {
        var (ctx, policy, primary) = Started(cell: false);
        for (var i = 0; i < 3; i++)
        {
            ctx.Now += TimeSpan.FromMilliseconds(100);
            ctx.Sample(primary, TimeSpan.FromMilliseconds(1600 + (i * 400)));
            policy.OnSample(ctx);
            policy.OnSubflowTimeout(ctx, primary, primary.LastSample!.Rto);
        }

        Assert.Empty(ctx.Opened);
        Assert.Empty(ctx.Closed);
        Assert.Single(ctx.Logs, l => l.Decision == "no backup");
        Assert.False(policy.OnBackup);

        ctx.AddLocal("198.51.100.1", "cell", 3);
        ctx.Now += TimeSpan.FromMilliseconds(100);
        policy.OnSample(ctx);
        Assert.Equal("198.51.100.1->203.0.113.1:443", Assert.Single(ctx.OpenedPairs));
        Assert.Equal([primary], ctx.Closed);
    }

    [Fact]
    public void Backup_fails_over_once_for_one_failing_subflow()
    {
        var (ctx, policy, primary) = Started();
        ctx.Sample(primary, TimeSpan.FromMilliseconds(1600));
        policy.OnSample(ctx);
        policy.OnSubflowTimeout(ctx, primary, TimeSpan.FromMilliseconds(1600)); // same batch
        ctx.Now += TimeSpan.FromMilliseconds(100);
        policy.OnSubflowTimeout(ctx, primary, TimeSpan.FromMilliseconds(3200)); // before its close was seen
        policy.OnSample(ctx);                                                    // the new one is still connecting
        Assert.Single(ctx.Opened);
        Assert.Single(ctx.Closed);
    }

    [Fact]
    public void Backup_fails_over_when_the_kernel_closes_the_primary()
    {
        var (ctx, policy, primary) = Started();
        policy.OnSubflowClosed(ctx, primary, ctx.CloseBeforeCallback(primary, 110));
        Assert.Equal("198.51.100.1->203.0.113.1:443", Assert.Single(ctx.OpenedPairs));
        Assert.Empty(ctx.Reopened);
    }

    [Fact]
    public void Backup_reopens_the_primary_with_backoff_when_the_kernel_closes_it_and_there_is_no_backup_address()
    {
        var (ctx, policy, primary) = Started(cell: false);
        policy.OnSubflowClosed(ctx, primary, ctx.CloseBeforeCallback(primary, 104));
        Assert.Empty(ctx.Opened);
        Assert.Equal(TimeSpan.FromSeconds(1), Assert.Single(ctx.Reopened).Delay);
    }

    [Fact]
    public void Backup_reopens_a_backup_subflow_the_kernel_closed_with_backoff()
    {
        var (ctx, policy, primary) = Started();
        var backup = FailOver(ctx, policy, primary);
        policy.OnSubflowClosed(ctx, backup, ctx.CloseBeforeCallback(backup, 113));
        Assert.Empty(ctx.Opened);
        var (s, delay) = Assert.Single(ctx.Reopened);
        Assert.Same(backup, s);
        Assert.Equal(TimeSpan.FromSeconds(5), delay);
        Assert.Same(backup, policy.Active);
    }

    [Fact]
    public void Backup_fails_over_when_the_primary_address_goes_away()
    {
        var (ctx, policy, primary) = Started();
        var wlan = ctx.LocalAddressList[0];
        ctx.LocalAddressList.Remove(wlan);
        policy.OnLocalAddressRemoved(ctx, wlan);
        Assert.Equal([primary], ctx.Closed);
        Assert.Equal("198.51.100.1->203.0.113.1:443", Assert.Single(ctx.OpenedPairs));
    }

    [Fact]
    public void Backup_on_the_backup_with_a_long_RTO_and_no_other_backup_address_keeps_it()
    {
        var (ctx, policy, primary) = Started();
        var backup = FailOver(ctx, policy, primary);
        ctx.Sample(backup, TimeSpan.FromSeconds(2));
        policy.OnSubflowTimeout(ctx, backup, TimeSpan.FromSeconds(2));
        Assert.Empty(ctx.Opened);
        Assert.Empty(ctx.Closed);
        Assert.Single(ctx.Logs, l => l.Decision == "no backup");
    }

    [Fact]
    public void Backup_with_return_never_never_probes_the_primary()
    {
        var (ctx, policy, primary) = Started(BackupReturn.Never);
        FailOver(ctx, policy, primary);
        ctx.Now += TimeSpan.FromMinutes(5);
        policy.OnTimer(ctx, BackupPolicy.ProbeTimer);
        policy.OnSample(ctx);
        Assert.Empty(ctx.Opened);
        Assert.Empty(ctx.TimersStarted);
        Assert.True(policy.OnBackup);
    }

    /// <summary>Fails over with return = when-primary-recovers, fires the probe timer, and establishes the probe.</summary>
    private static (FakeConnectionContext Ctx, BackupPolicy Policy, Subflow Backup, Subflow Probe) Probing()
    {
        var (ctx, policy, primary) = Started(BackupReturn.WhenPrimaryRecovers);
        ctx.Sample(primary, TimeSpan.FromMilliseconds(1600));
        policy.OnSubflowTimeout(ctx, primary, TimeSpan.FromMilliseconds(1600));
        Assert.Equal((BackupPolicy.ProbeTimer, TimeSpan.FromSeconds(10), false), Assert.Single(ctx.TimersStarted));
        var backup = ctx.Opened.Single().Subflow;
        ctx.Establish(backup);
        ctx.Settle();
        ctx.ClearRecords();

        ctx.Now += TimeSpan.FromSeconds(10);
        policy.OnTimer(ctx, BackupPolicy.ProbeTimer);
        var probe = Assert.Single(ctx.Opened);
        Assert.Equal("192.0.2.1->203.0.113.1:443", Assert.Single(ctx.OpenedPairs));
        Assert.Equal("wlan0", probe.Local.InterfaceName);
        Assert.False(probe.Backup);
        Assert.Same(probe.Subflow, policy.Probe);
        Assert.Empty(ctx.Closed);
        ctx.Now += TimeSpan.FromMilliseconds(20);
        ctx.Establish(probe.Subflow);
        ctx.ClearRecords();
        return (ctx, policy, backup, probe.Subflow);
    }

    [Fact]
    public void Backup_returns_to_the_primary_when_the_probe_holds()
    {
        var (ctx, policy, backup, probe) = Probing();
        for (var ms = 100; ms < 2000; ms += 100)
        {
            ctx.Now = probe.EstablishedAt!.Value + TimeSpan.FromMilliseconds(ms);
            ctx.Sample(probe, TimeSpan.FromMilliseconds(300));
            ctx.Sample(backup, TimeSpan.FromMilliseconds(400));
            policy.OnSample(ctx);
        }

        Assert.Empty(ctx.Closed); // 1.9 s: not yet held for probe-hold (2 s)
        ctx.Now = probe.EstablishedAt!.Value + TimeSpan.FromSeconds(2);
        ctx.Sample(probe, TimeSpan.FromMilliseconds(300));
        policy.OnSample(ctx);

        Assert.Equal([backup], ctx.Closed);
        Assert.Empty(ctx.Opened);
        Assert.Same(probe, policy.Active);
        Assert.Null(policy.Probe);
        Assert.False(policy.OnBackup);
        Assert.Contains(ctx.Logs, l => l.Decision == "return");
    }

    [Fact]
    public void Backup_does_not_return_when_the_probe_RTO_exceeds_the_threshold_and_probes_again_later()
    {
        var (ctx, policy, backup, probe) = Probing();
        ctx.Now += TimeSpan.FromMilliseconds(800);
        ctx.Sample(probe, TimeSpan.FromMilliseconds(1400));
        policy.OnSubflowTimeout(ctx, probe, TimeSpan.FromMilliseconds(1400));

        Assert.Equal([probe], ctx.Closed);
        Assert.Same(backup, policy.Active);
        Assert.True(policy.OnBackup);
        Assert.Null(policy.Probe);
        Assert.Equal((BackupPolicy.ProbeTimer, TimeSpan.FromSeconds(10), false), Assert.Single(ctx.TimersStarted));

        ctx.Settle();
        ctx.Now += TimeSpan.FromSeconds(5);
        ctx.Sample(backup, TimeSpan.FromMilliseconds(400));
        policy.OnSample(ctx);
        Assert.Single(ctx.Closed); // the backup stays

        ctx.Now += TimeSpan.FromSeconds(5);
        policy.OnTimer(ctx, BackupPolicy.ProbeTimer);
        Assert.Equal("192.0.2.1->203.0.113.1:443", Assert.Single(ctx.OpenedPairs));
    }

    [Fact]
    public void Backup_does_not_count_a_probe_sample_from_before_it_was_established()
    {
        var (ctx, policy, backup, probe) = Probing();
        probe.LastSample = ctx.Sample(probe) with { At = probe.EstablishedAt!.Value - TimeSpan.FromSeconds(1) };
        ctx.Now += TimeSpan.FromSeconds(5);
        policy.OnSample(ctx);
        Assert.Empty(ctx.Closed);
        Assert.Same(probe, policy.Probe);
        Assert.Same(backup, policy.Active);
    }

    [Fact]
    public void Backup_probes_again_when_the_kernel_closes_the_probe_and_does_not_reopen_it()
    {
        var (ctx, policy, _, probe) = Probing();
        policy.OnSubflowClosed(ctx, probe, ctx.CloseBeforeCallback(probe, 111));
        Assert.Empty(ctx.Reopened);
        Assert.Empty(ctx.Opened);
        Assert.Null(policy.Probe);
        Assert.Equal((BackupPolicy.ProbeTimer, TimeSpan.FromSeconds(10), false), Assert.Single(ctx.TimersStarted));
    }

    [Fact]
    public void Backup_waits_for_the_primary_address_to_come_back_before_probing()
    {
        var (ctx, policy, primary) = Started(BackupReturn.WhenPrimaryRecovers);
        FailOver(ctx, policy, primary);
        ctx.LocalAddressList.RemoveAll(a => a.InterfaceName == "wlan0");
        ctx.Now += TimeSpan.FromSeconds(10);
        policy.OnTimer(ctx, BackupPolicy.ProbeTimer);
        Assert.Empty(ctx.Opened);
        Assert.Equal((BackupPolicy.ProbeTimer, TimeSpan.FromSeconds(10), false), Assert.Single(ctx.TimersStarted));
    }

    [Fact]
    public void Backup_does_nothing_on_the_server_side()
    {
        var ctx = new FakeConnectionContext(Side.Server, "192.0.2.1:443", "203.0.113.1:50000");
        var initial = ctx.AddInitialSubflow();
        ctx.AddLocal("192.0.2.1", "eth0");
        ctx.AddLocal("198.51.100.1", "cell", 3);
        var policy = Backup(BackupReturn.WhenPrimaryRecovers);
        policy.OnEstablished(ctx);
        ctx.Sample(initial, TimeSpan.FromSeconds(3));
        policy.OnSample(ctx);
        policy.OnSubflowTimeout(ctx, initial, TimeSpan.FromSeconds(3));
        policy.OnSubflowClosed(ctx, initial, ctx.CloseBeforeCallback(initial, 104));
        policy.OnTimer(ctx, BackupPolicy.ProbeTimer);

        Assert.Empty(ctx.Opened);
        Assert.Empty(ctx.Closed);
        Assert.Empty(ctx.Reopened);
        Assert.Empty(ctx.TimersStarted);
    }
}
