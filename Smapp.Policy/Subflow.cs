namespace Smapp.Policy;

/// <summary>
/// A policy's view of one subflow of its connection. The controller updates it; policies read it. It keeps its
/// <see cref="Id"/> across re-establishments, so a policy can re-open "the same" subflow after it closed.
/// </summary>
public sealed class Subflow
{
    internal Subflow(int id, Endpoint local, Endpoint remote, byte localId, bool backup, SubflowPhase phase)
    {
        Id = id;
        Local = local;
        Remote = remote;
        LocalId = localId;
        Backup = backup;
        Phase = phase;
    }

    /// <summary>Per connection, stable across re-establishment.</summary>
    public int Id { get; }

    /// <summary>Local address and port (port 0 until the kernel has picked one).</summary>
    public Endpoint Local { get; internal set; }

    public Endpoint Remote { get; internal set; }

    public byte LocalId { get; internal set; }

    public byte RemoteId { get; internal set; }

    public bool Backup { get; internal set; }

    public SubflowPhase Phase { get; internal set; }

    /// <summary>True for the subflow the connection started on.</summary>
    public bool Initial { get; internal set; }

    /// <summary>Whether this host asked for it (SUBFLOW_CREATE) rather than the peer or the kernel.</summary>
    public bool OpenedByUs { get; internal set; }

    public DateTimeOffset? EstablishedAt { get; internal set; }

    /// <summary>Consecutive failed attempts since it was last established.</summary>
    public int Failures { get; internal set; }

    public CloseReason? LastClose { get; internal set; }

    /// <summary>The policy closed or gave up on it: it will not be re-opened, and it leaves the list once closed.</summary>
    public bool Abandoned { get; internal set; }

    public SubflowSample? LastSample { get; internal set; }

    /// <summary>The last sample if it was taken since the subflow was (re-)established; null otherwise.</summary>
    public SubflowSample? CurrentSample => LastSample is { } s && EstablishedAt is { } e && s.At >= e ? s : null;

    /// <summary>The last command given for this subflow (its create, its destroy, a backup change).</summary>
    public CommandHandle? LastCommand { get; internal set; }

    /// <summary>
    /// When it entered its current phase (a <see cref="System.Diagnostics.Stopwatch"/> timestamp): a reconcile judges
    /// only what existed before its dump was asked for.
    /// </summary>
    internal long Stamp { get; set; }

    public override string ToString() => $"#{Id} {Local}->{Remote}{(Backup ? " backup" : "")} {Phase.ToString().ToLowerInvariant()}";
}
