using Smapp.Netlink.Diag;
using Smapp.Policy;

namespace Smapp.Actors.Connections;

/// <summary>What a connection must change to agree with the kernel's view of it.</summary>
/// <param name="Vanished">Subflows we hold as established that the kernel no longer has.</param>
/// <param name="Unknown">Established subflows the kernel has that we never heard of.</param>
internal sealed record SubflowReconcile(IReadOnlyList<Subflow> Vanished, IReadOnlyList<SubflowDiag> Unknown);

/// <summary>What the supervisor must change to agree with the kernel's list of connections.</summary>
/// <param name="Resync">Connections both know: each reconciles its subflows.</param>
/// <param name="Adopt">Connections the kernel has and we do not (token, sock_diag row); a connection that fell back to TCP, or has no token, is not ours to manage.</param>
/// <param name="Gone">Tokens we hold that the kernel no longer has.</param>
internal sealed record ConnectionReconcile(IReadOnlyList<uint> Resync, IReadOnlyList<ConnectionDiag> Adopt, IReadOnlyList<uint> Gone);

/// <summary>
/// Kernel view + actor view → actions, as pure functions. Run after events were lost (ENOBUFS), at takeover and
/// after a restart.
/// </summary>
internal static class Reconciliation
{
    /// <summary>TCP_ESTABLISHED: a subflow in any other state is connecting or already closing.</summary>
    public const byte TcpEstablished = 1;

    public static SubflowReconcile Subflows(IEnumerable<Subflow> tracked, IReadOnlyList<SubflowDiag> kernel)
    {
        var live = kernel.Where(d => d.TcpState == TcpEstablished).ToList();
        var all = tracked.ToList();
        var vanished = all.Where(s => s.Phase == SubflowPhase.Established && !live.Any(d => Same(d, s))).ToList();
        var unknown = live.Where(d => !all.Any(s => Same(d, s))).ToList();
        return new SubflowReconcile(vanished, unknown);
    }

    public static ConnectionReconcile Connections(IEnumerable<uint> held, IReadOnlyList<ConnectionDiag> kernel)
    {
        var ours = held.ToHashSet();
        var tokens = kernel.Select(c => c.Info.Token).ToHashSet();
        return new ConnectionReconcile(
            kernel.Select(c => c.Info.Token).Where(ours.Contains).Distinct().ToList(),
            kernel.Where(c => c.Info.Token != 0 && !c.Info.Fallback && !ours.Contains(c.Info.Token)).ToList(),
            ours.Where(t => !tokens.Contains(t)).ToList());
    }

    private static bool Same(SubflowDiag d, Subflow s) =>
        d.Id.SourcePort == s.Local.Port && d.Id.DestinationPort == s.Remote.Port && AddressForm.Same(d.Id.Source, s.Local.Address);
}
