using Smapp.Netlink.Diag;
using Smapp.Policy;

namespace Smapp.Actors.Connections;

/// <summary>
/// What a connection must change to agree with the kernel's view of it. The kernel is the truth: what it no longer has
/// is closed, what it has up is up, what it has and we never heard of is adopted.
/// </summary>
/// <param name="Vanished">Subflows we hold as established or connecting that the kernel does not have (their events were lost, or the create failed unseen).</param>
/// <param name="Promoted">Connecting subflows the kernel has established (their SUB_ESTABLISHED was lost), with the kernel's row.</param>
/// <param name="PortsLearned">Connecting subflows whose port we did not know and the kernel has still connecting, with its row.</param>
/// <param name="Unknown">Established subflows the kernel has that we never heard of.</param>
internal sealed record SubflowReconcile(
    IReadOnlyList<Subflow> Vanished,
    IReadOnlyList<(Subflow Subflow, SubflowDiag Row)> Promoted,
    IReadOnlyList<(Subflow Subflow, SubflowDiag Row)> PortsLearned,
    IReadOnlyList<SubflowDiag> Unknown)
{
    /// <summary>How many things the reconcile changes (0: the connection agrees with the kernel).</summary>
    public int Changes => Vanished.Count + Promoted.Count + PortsLearned.Count + Unknown.Count;
}

/// <summary>What the supervisor must change to agree with the kernel's list of connections.</summary>
/// <param name="Resync">Connections both know: each reconciles its subflows.</param>
/// <param name="Adopt">Connections the kernel has and we do not (token, sock_diag row); a connection that fell back to TCP, or has no token, is not ours to manage.</param>
/// <param name="Gone">Tokens we hold that the kernel no longer has.</param>
internal sealed record ConnectionReconcile(IReadOnlyList<uint> Resync, IReadOnlyList<ConnectionDiag> Adopt, IReadOnlyList<uint> Gone);

/// <summary>
/// Kernel view + actor view → actions, as pure functions. Run after events were lost (ENOBUFS), at takeover and
/// after a restart. A dump is a snapshot taken some time after it was asked for, while events go on arriving: only
/// what we held before the dump was asked for (<c>judgedBefore</c>, a <see cref="System.Diagnostics.Stopwatch"/>
/// timestamp) can be judged missing from it.
/// </summary>
internal static class Reconciliation
{
    /// <summary>TCP_ESTABLISHED: a subflow in any other state is connecting or already closing.</summary>
    public const byte TcpEstablished = 1;

    /// <summary>TCP_SYN_SENT and TCP_SYN_RECV: a subflow the kernel is still opening.</summary>
    public const byte TcpSynSent = 2;

    public const byte TcpSynRecv = 3;

    /// <summary>Whether a sock_diag row is a subflow the kernel holds for its connection (up, or being opened).</summary>
    public static bool Held(SubflowDiag d) => d.TcpState is TcpEstablished or TcpSynSent or TcpSynRecv;

    /// <summary>
    /// Whether a connection we hold as not yet established is fully established in the kernel, its ESTABLISHED event
    /// lost: its MPTCP socket is in TCP_ESTABLISHED, it did not fall back to TCP, and data has been acknowledged or
    /// received at the MPTCP level (the kernel's ESTABLISHED event comes when the connection is fully established,
    /// which for a client is when its first data is acknowledged; before that, SUBFLOW_CREATE is refused with ENOTCONN).
    /// </summary>
    public static bool EstablishedUnseen(bool established, ConnectionDiag connection) =>
        !established && connection.State == TcpEstablished && !connection.Info.Fallback && (connection.Info.BytesAcked > 0 || connection.Info.BytesReceived > 0);

    public static SubflowReconcile Subflows(IEnumerable<Subflow> tracked, IReadOnlyList<SubflowDiag> kernel, long judgedBefore = long.MaxValue)
    {
        var rows = kernel.Where(Held).ToList();
        var used = new bool[rows.Count];
        var all = tracked.Where(s => s.Phase is SubflowPhase.Established or SubflowPhase.Connecting).OrderBy(s => s.Id).ToList();
        var matched = new Dictionary<Subflow, SubflowDiag>();

        // Entries whose port we know match by it; a connecting one whose port we do not know takes the oldest row from
        // its local address to its remote endpoint that no other entry took.
        foreach (var s in all.Where(s => s.Local.Port != 0))
        {
            Take(s, d => Same(d, s));
        }

        foreach (var s in all.Where(s => s.Local.Port == 0))
        {
            Take(s, d => AddressForm.Same(d.Id.Source, s.Local.Address) && AddressForm.Same(d.Id.Destination, s.Remote.Address) && d.Id.DestinationPort == s.Remote.Port);
        }

        var vanished = new List<Subflow>();
        var promoted = new List<(Subflow, SubflowDiag)>();
        var learned = new List<(Subflow, SubflowDiag)>();
        foreach (var s in all)
        {
            var judged = s.Stamp < judgedBefore;
            if (!matched.TryGetValue(s, out var row))
            {
                if (judged)
                {
                    vanished.Add(s);
                }
            }
            else if (s.Phase == SubflowPhase.Connecting && row.TcpState == TcpEstablished && judged)
            {
                promoted.Add((s, row));
            }
            else if (s.Phase == SubflowPhase.Connecting && s.Local.Port == 0 && row.TcpState != TcpEstablished)
            {
                learned.Add((s, row));
            }
            else if (s.Phase == SubflowPhase.Established && row.TcpState != TcpEstablished && judged)
            {
                vanished.Add(s); // a port we knew up, re-used by a subflow being opened: ours is gone
            }
        }

        var unknown = rows.Where((d, i) => !used[i] && d.TcpState == TcpEstablished).ToList();
        return new SubflowReconcile(vanished, promoted, learned, unknown);

        void Take(Subflow s, Func<SubflowDiag, bool> fits)
        {
            for (var i = 0; i < rows.Count; i++)
            {
                if (!used[i] && fits(rows[i]))
                {
                    used[i] = true;
                    matched[s] = rows[i];
                    return;
                }
            }
        }
    }

    /// <summary>
    /// The connections to resync, adopt and end. <paramref name="held"/> gives each token we hold with when we learned
    /// of it: one learned after the dump was asked for is not judged gone for missing from it.
    /// </summary>
    public static ConnectionReconcile Connections(IEnumerable<(uint Token, long Since)> held, IReadOnlyList<ConnectionDiag> kernel, long judgedBefore = long.MaxValue)
    {
        var list = held.ToList();
        var ours = list.Select(h => h.Token).ToHashSet();
        var tokens = kernel.Select(c => c.Info.Token).ToHashSet();
        return new ConnectionReconcile(
            kernel.Select(c => c.Info.Token).Where(ours.Contains).Distinct().ToList(),
            kernel.Where(c => c.Info.Token != 0 && !c.Info.Fallback && !ours.Contains(c.Info.Token)).ToList(),
            list.Where(h => !tokens.Contains(h.Token) && h.Since < judgedBefore).Select(h => h.Token).ToList());
    }

    public static ConnectionReconcile Connections(IEnumerable<uint> held, IReadOnlyList<ConnectionDiag> kernel) =>
        Connections(held.Select(t => (t, 0L)), kernel);

    private static bool Same(SubflowDiag d, Subflow s) =>
        d.Id.SourcePort == s.Local.Port && d.Id.DestinationPort == s.Remote.Port && AddressForm.Same(d.Id.Source, s.Local.Address);
}
