using System.Diagnostics;
using System.Net;
using Smapp.Policy;

namespace Smapp.Actors.Connections;

/// <summary>What to do with a subflow the policy gave up on (<see cref="SubflowTable.Abandon"/>).</summary>
internal enum AbandonAction
{
    /// <summary>Nothing to do: it was abandoned already.</summary>
    None,

    /// <summary>It is up (or its port is known): SUBFLOW_DESTROY it.</summary>
    Destroy,

    /// <summary>Its create is in flight and its port unknown: destroy it when the kernel reports it established.</summary>
    DestroyWhenEstablished,

    /// <summary>Pending or closed: nothing in the kernel, it has left the table.</summary>
    Forgotten,
}

/// <summary>
/// The subflows of one connection and their state machine, in one place. A subflow keeps its id across
/// re-establishments; its phase moves only through the methods here:
/// <code>
///   (new) ──Connecting()──▶ Connecting ──Established()──▶ Established
///   Connecting / Established ──Closed()──▶ Closed ──Reopen()──▶ Pending ──Connecting()──▶ Connecting
///   Closed ──Settle()──▶ (gone)      unless the policy re-opened it inside its OnSubflowClosed
///   any ──Abandon()──▶ destroyed (Established, or Connecting with a known port) · destroyed once established
///                      (Connecting, port unknown) · gone (Pending, Closed)
/// </code>
/// Rules: an abandoned subflow is never re-opened and its close is not reported to the policy; a refused create
/// is a close (<see cref="Closed"/>) like any other; an event matches a subflow by its exact 4-tuple (address
/// forms aside), or else the oldest Connecting subflow from the same local address to the same remote endpoint,
/// whose port the kernel had not told us yet.
/// </summary>
internal sealed class SubflowTable
{
    private readonly List<Subflow> _subflows = new(2);
    private int _nextId;

    public IReadOnlyCollection<Subflow> All => _subflows;

    public int Count => _subflows.Count;

    public void Clear() => _subflows.Clear();

    public Subflow Add(Endpoint local, Endpoint remote, byte localId, bool backup, SubflowPhase phase)
    {
        var s = new Subflow(++_nextId, local, remote, localId, backup, phase) { Stamp = Stopwatch.GetTimestamp() };
        _subflows.Add(s);
        return s;
    }

    public Subflow? ById(int id)
    {
        foreach (var s in _subflows)
        {
            if (s.Id == id)
            {
                return s;
            }
        }

        return null;
    }

    /// <summary>The subflow with exactly this 4-tuple.</summary>
    public Subflow? Find(IPAddress? localAddress, ushort? localPort, IPAddress? remoteAddress, ushort? remotePort)
    {
        if (localAddress is null || localPort is not { } lp || remoteAddress is null || remotePort is not { } rp)
        {
            return null;
        }

        foreach (var s in _subflows)
        {
            if (s.Local.Port == lp && s.Remote.Port == rp && AddressForm.Same(s.Local.Address, localAddress) && AddressForm.Same(s.Remote.Address, remoteAddress))
            {
                return s;
            }
        }

        return null;
    }

    /// <summary>The subflow with this local address and these ports (how sock_diag rows are matched).</summary>
    public Subflow? FindByPorts(IPAddress localAddress, ushort localPort, ushort remotePort)
    {
        foreach (var s in _subflows)
        {
            if (s.Local.Port == localPort && s.Remote.Port == remotePort && AddressForm.Same(s.Local.Address, localAddress))
            {
                return s;
            }
        }

        return null;
    }

    /// <summary>The oldest subflow we asked the kernel for (port not known yet) from this address to this endpoint.</summary>
    public Subflow? FindConnecting(IPAddress local, Endpoint remote)
    {
        Subflow? best = null;
        foreach (var x in _subflows)
        {
            if (x.Phase == SubflowPhase.Connecting && x.Local.Port == 0 && AddressForm.Same(x.Local.Address, local) && AddressForm.Same(x.Remote, remote) &&
                (best is null || x.Id < best.Id))
            {
                best = x;
            }
        }

        return best;
    }

    /// <summary>What the kernel has told of a connecting subflow without an event (a sock_diag row): its port.</summary>
    public static void PortLearned(Subflow s, ushort port) => s.Local = s.Local with { Port = port };

    /// <summary>The subflow an event names: by 4-tuple, else the connecting one it answers.</summary>
    public Subflow? Match(IPAddress? localAddress, ushort? localPort, IPAddress? remoteAddress, ushort? remotePort) =>
        Find(localAddress, localPort, remoteAddress, remotePort) ??
        (localAddress is null ? null : FindConnecting(localAddress, new Endpoint(remoteAddress ?? IPAddress.Any, remotePort ?? 0)));

    /// <summary>A create goes out for it: its port is the kernel's to choose, and the old socket's figures are void.</summary>
    public static void Connecting(Subflow s)
    {
        s.Phase = SubflowPhase.Connecting;
        s.Local = s.Local with { Port = 0 };
        s.LastSample = null;
        s.Stamp = Stopwatch.GetTimestamp();
    }

    /// <summary>The kernel reports it up: take the kernel's 4-tuple and ids, and forget earlier failures.</summary>
    public static void Established(Subflow s, Endpoint local, Endpoint remote, byte? localId, byte? remoteId, bool? backup, DateTimeOffset now)
    {
        s.Local = local;
        s.Remote = remote;
        s.Phase = SubflowPhase.Established;
        s.EstablishedAt = now;
        s.Stamp = Stopwatch.GetTimestamp();
        s.Failures = 0;
        s.Backup = backup ?? s.Backup;
        s.LocalId = localId ?? s.LocalId;
        s.RemoteId = remoteId ?? s.RemoteId;
    }

    /// <summary>The kernel closed it or refused its create. Returns whether the policy is to hear of it (not if abandoned).</summary>
    public static bool Closed(Subflow s, CloseReason reason)
    {
        s.Phase = SubflowPhase.Closed;
        s.Failures++;
        s.LastClose = reason;
        return !s.Abandoned;
    }

    /// <summary>After the policy heard of a close: a subflow it re-opened (now Pending) stays, any other leaves. Returns whether it left.</summary>
    public bool Settle(Subflow s)
    {
        if (s.Phase == SubflowPhase.Pending)
        {
            return false;
        }

        _subflows.Remove(s);
        return true;
    }

    /// <summary>The policy wants it re-opened later. Only a closed, live subflow of this table can be.</summary>
    public bool Reopen(Subflow s)
    {
        if (s.Abandoned || s.Phase != SubflowPhase.Closed || !_subflows.Contains(s))
        {
            return false;
        }

        s.Phase = SubflowPhase.Pending;
        return true;
    }

    /// <summary>The policy gives up on it (or its local address went away).</summary>
    public AbandonAction Abandon(Subflow s)
    {
        if (s.Abandoned)
        {
            return AbandonAction.None;
        }

        s.Abandoned = true;
        switch (s.Phase)
        {
            case SubflowPhase.Established:
            case SubflowPhase.Connecting when s.Local.Port != 0:
                return AbandonAction.Destroy;
            case SubflowPhase.Connecting:
                return AbandonAction.DestroyWhenEstablished;
            default:
                _subflows.Remove(s);
                return AbandonAction.Forgotten;
        }
    }

    /// <summary>The subflows waiting (Pending) or closed on a local address, which cannot come back once it is gone.</summary>
    public List<Subflow> WaitingOn(IPAddress local)
    {
        var list = new List<Subflow>();
        foreach (var s in _subflows)
        {
            if (s.Phase is SubflowPhase.Pending or SubflowPhase.Closed && AddressForm.Same(s.Local.Address, local))
            {
                list.Add(s);
            }
        }

        return list;
    }

    public bool Forget(Subflow s) => _subflows.Remove(s);
}
