using static Smapp.Policy.PolicyHelpers;

namespace Smapp.Policy;

/// <summary>When <see cref="BackupPolicy"/> goes back to the primary address after a failover.</summary>
public enum BackupReturn
{
    /// <summary>Stays on the backup subflow for the rest of the connection.</summary>
    Never,

    /// <summary>After <c>probe-after</c>, tries the primary address again; if the probe holds, the backup subflow is closed.</summary>
    WhenPrimaryRecovers,
}

/// <summary>
/// The paper's smarter backup (section 4.2), break-before-make: the connection runs on its initial subflow alone; no
/// backup subflow is opened in advance (it would cost a phone energy and radio resources). When the active
/// subflow's retransmission timer grows past <c>rto-threshold</c> (the timeout event, or a sample), the subflow is
/// considered underperforming: it is closed and a subflow is opened from an address on one of
/// <c>backup-interfaces</c> to the connection's remote endpoint. Client side only; on the server side it does nothing.
/// <para>
/// Decisions: the threshold is crossed when the RTO is strictly greater than it. The backup address is the first
/// address of the remote's family on the first listed backup interface that has one, other than the failing
/// subflow's address; if there is none, the policy logs it (once per episode) and keeps the failing subflow, and it
/// checks again at every sample (an address that appears later is used then). If the kernel closes the active
/// subflow while it is on the primary address, that is a failure too (failover at once); a backup subflow the kernel
/// closes is re-opened with the backoff, as ndiffports does.
/// </para>
/// <para>
/// With <c>return = when-primary-recovers</c>: <c>probe-after</c> after the failover, a probe subflow is opened from
/// the primary address (an ordinary subflow, not a backup one, so that data and with it losses reach it: a probe that
/// carries nothing would always look healthy). If its RTO stays at or below the threshold for <c>probe-hold</c> after
/// it was established, the connection moves back: the backup subflow is closed and the probe becomes the active
/// subflow. If the probe's RTO crosses the threshold, or the kernel closes it, it is closed and another probe follows
/// <c>probe-after</c> later.
/// </para>
/// </summary>
public sealed class BackupPolicy(
    TimeSpan rtoThreshold,
    IReadOnlyList<string> backupInterfaces,
    BackupReturn returnMode,
    TimeSpan probeAfter,
    TimeSpan probeHold,
    TimeSpan sampleInterval,
    BackoffSettings backoff) : SubflowPolicy
{
    public const string ProbeTimer = "probe";

    private Subflow? _active;
    private Subflow? _probe;
    private bool _onBackup;
    private bool _noBackupLogged;

    public BackupPolicy()
        : this(TimeSpan.FromSeconds(1), ["cell"], BackupReturn.Never, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(100), BackoffSettings.Default)
    {
    }

    public override string Name => "backup";

    public override PolicyEvents Subscriptions =>
        PolicyEvents.Established | PolicyEvents.SubflowTimeout | PolicyEvents.Sample | PolicyEvents.Timer |
        PolicyEvents.SubflowClosed | PolicyEvents.LocalAddressRemoved;

    public override TimeSpan? SampleInterval => sampleInterval;

    /// <summary>The subflow the connection runs on now (null before established, or on the server side).</summary>
    public Subflow? Active => _active;

    /// <summary>The probe subflow on the primary address, while one is being tried.</summary>
    public Subflow? Probe => _probe;

    /// <summary>Whether the connection runs on a backup interface.</summary>
    public bool OnBackup => _onBackup;

    public override void OnEstablished(IConnectionContext ctx)
    {
        if (ctx.Connection.Side == Side.Server)
        {
            return;
        }

        // The initial subflow; on takeover, whatever established subflow there is.
        var up = ctx.Subflows.Where(s => s.Phase == SubflowPhase.Established && Live(s)).ToList();
        _active = up.FirstOrDefault(s => s.Initial) ?? up.OrderBy(s => s.Id).FirstOrDefault();
        _onBackup = _active is not null && IsBackupAddress(ctx, _active);
        if (_onBackup && returnMode == BackupReturn.WhenPrimaryRecovers)
        {
            ctx.StartTimer(ProbeTimer, probeAfter);
        }
    }

    /// <summary>The paper's trigger: a retransmission timer expired and grew.</summary>
    public override void OnSubflowTimeout(IConnectionContext ctx, Subflow subflow, TimeSpan rto) => Assess(ctx, subflow, rto);

    public override void OnSample(IConnectionContext ctx)
    {
        // The RTO may be past the threshold without having grown since the previous sample (the first sample, or a
        // threshold crossed while no backup address existed): samples are checked too.
        if (_active is { } active && FreshSample(active) is { } a)
        {
            Assess(ctx, active, a.Rto);
        }

        if (_probe is { Phase: SubflowPhase.Established } probe && FreshSample(probe) is { } p)
        {
            Assess(ctx, probe, p.Rto);
            if (_probe == probe && probe.EstablishedAt is { } up && p.At - up >= probeHold)
            {
                ReturnToPrimary(ctx, probe, p.Rto);
            }
        }
    }

    public override void OnTimer(IConnectionContext ctx, string key)
    {
        if (key != ProbeTimer || !_onBackup || _probe is not null || returnMode != BackupReturn.WhenPrimaryRecovers)
        {
            return;
        }

        if (Local(ctx, ctx.Connection.Local.Address) is not { } primary)
        {
            ctx.Log("no probe", $"the primary address {ctx.Connection.Local.Address} is gone; trying again in {Ms(probeAfter)}");
            ctx.StartTimer(ProbeTimer, probeAfter);
            return;
        }

        _probe = ctx.OpenSubflow(primary, ctx.Connection.Remote);
        ctx.Log("probe", $"subflow {_probe}: trying the primary address {primary} again; moving back if its RTO stays at or below {Ms(rtoThreshold)} for {Ms(probeHold)}");
    }

    public override void OnSubflowClosed(IConnectionContext ctx, Subflow subflow, CloseReason reason)
    {
        if (ctx.Connection.Side == Side.Server || subflow.Abandoned)
        {
            return;
        }

        if (subflow == _probe)
        {
            // Not re-opened: the next probe is a new subflow.
            ctx.Log("probe failed", $"subflow {subflow} closed ({reason}); next probe in {Ms(probeAfter)}");
            _probe = null;
            ctx.StartTimer(ProbeTimer, probeAfter);
            return;
        }

        if (subflow != _active)
        {
            return;
        }

        if (!_onBackup && FailOver(ctx, subflow, $"closed by the kernel ({reason})"))
        {
            return;
        }

        ReopenOrGiveUp(ctx, subflow, reason, backoff);
    }

    public override void OnLocalAddressRemoved(IConnectionContext ctx, LocalAddress address)
    {
        if (_probe is { } probe && AddressForm.Same(probe.Local.Address, address.Address))
        {
            ctx.Log("probe failed", $"subflow {probe}: its local address {address} went away; next probe in {Ms(probeAfter)}");
            ctx.CloseSubflow(probe);
            _probe = null;
            ctx.StartTimer(ProbeTimer, probeAfter);
        }

        if (_active is { } active && AddressForm.Same(active.Local.Address, address.Address))
        {
            FailOver(ctx, active, $"its local address {address} went away");
        }
    }

    private void Assess(IConnectionContext ctx, Subflow subflow, TimeSpan rto)
    {
        if (subflow.Abandoned || ctx.Connection.Side == Side.Server)
        {
            return;
        }

        if (subflow == _active)
        {
            if (rto > rtoThreshold)
            {
                FailOver(ctx, subflow, $"its RTO {Ms(rto)} exceeds the threshold {Ms(rtoThreshold)}");
            }
            else
            {
                _noBackupLogged = false;
            }
        }
        else if (subflow == _probe && rto > rtoThreshold)
        {
            ctx.Log("probe failed", $"subflow {subflow}: its RTO {Ms(rto)} exceeds the threshold {Ms(rtoThreshold)}; staying on the backup, next probe in {Ms(probeAfter)}");
            ctx.CloseSubflow(subflow);
            _probe = null;
            ctx.StartTimer(ProbeTimer, probeAfter);
        }
    }

    /// <summary>Break before make: closes <paramref name="failing"/> and opens a subflow from a backup address. False when there is none.</summary>
    private bool FailOver(IConnectionContext ctx, Subflow failing, string why)
    {
        var target = BackupAddress(ctx, failing);
        if (target is null)
        {
            if (!_noBackupLogged)
            {
                ctx.Log("no backup", $"subflow {failing}: {why}, but no address on {string.Join(", ", backupInterfaces)} (of the remote's family, other than {failing.Local.Address}) to move to; keeping it");
                _noBackupLogged = true;
            }

            return false;
        }

        ctx.CloseSubflow(failing);
        var next = ctx.OpenSubflow(target, ctx.Connection.Remote);
        ctx.Log("failover", $"subflow {failing}: {why}; closed it and opened subflow {next} from {target}");
        var wasOnBackup = _onBackup;
        _active = next;
        _onBackup = true;
        _noBackupLogged = false;
        if (!wasOnBackup && returnMode == BackupReturn.WhenPrimaryRecovers)
        {
            ctx.StartTimer(ProbeTimer, probeAfter);
        }

        return true;
    }

    private void ReturnToPrimary(IConnectionContext ctx, Subflow probe, TimeSpan rto)
    {
        var backup = _active;
        ctx.Log("return", $"subflow {probe} on the primary address held for {Ms(probeHold)} (RTO {Ms(rto)}); closing the backup subflow {backup}");
        if (backup is not null)
        {
            ctx.CloseSubflow(backup);
        }

        _active = probe;
        _probe = null;
        _onBackup = false;
        _noBackupLogged = false;
    }

    private LocalAddress? BackupAddress(IConnectionContext ctx, Subflow failing)
    {
        foreach (var name in backupInterfaces)
        {
            var a = ctx.LocalAddresses.FirstOrDefault(a =>
                string.Equals(a.InterfaceName, name, StringComparison.Ordinal) &&
                AddressForm.SameFamily(a.Address, ctx.Connection.Remote.Address) &&
                !AddressForm.Same(a.Address, failing.Local.Address));
            if (a is not null)
            {
                return a;
            }
        }

        return null;
    }

    private bool IsBackupAddress(IConnectionContext ctx, Subflow s) =>
        Local(ctx, s.Local.Address) is { InterfaceName: { } name } && backupInterfaces.Contains(name);
}
