namespace Smapp.Policy;

/// <summary>The connection a policy instance manages.</summary>
public sealed record ConnectionInfo(uint Token, Side Side, Endpoint Local, Endpoint Remote, bool TakenOver)
{
    public override string ToString() => $"{Token:x8} {Side.ToString().ToLowerInvariant()} {Local}->{Remote}";
}

/// <summary>
/// What a policy can see and do. Commands return at once with a handle (null when nothing had to be sent); the
/// kernel's answer comes back through <see cref="SubflowPolicy.OnCommandResult"/> carrying the same handle (and,
/// for subflows, through the subflow events).
/// </summary>
public interface IConnectionContext
{
    ConnectionInfo Connection { get; }

    /// <summary>Every subflow the controller tracks for this connection, in every phase.</summary>
    IReadOnlyCollection<Subflow> Subflows { get; }

    /// <summary>This host's usable addresses now.</summary>
    IReadOnlyCollection<LocalAddress> LocalAddresses { get; }

    /// <summary>The peer's addresses: the initial one (id 0) and those it announced.</summary>
    IReadOnlyCollection<RemoteAddress> RemoteAddresses { get; }

    DateTimeOffset Now { get; }

    /// <summary>
    /// Opens a new subflow from <paramref name="local"/> to <paramref name="remote"/>; the kernel picks the source
    /// port. The create's handle is the subflow's <see cref="Subflow.LastCommand"/>.
    /// </summary>
    Subflow OpenSubflow(LocalAddress local, Endpoint remote, bool backup = false);

    /// <summary>Re-opens a closed subflow (same addresses) after <paramref name="delay"/>; cancelled if its local address goes away.</summary>
    void Reopen(Subflow subflow, TimeSpan delay);

    /// <summary>Closes a subflow (SUBFLOW_DESTROY) or abandons a pending / closed one.</summary>
    CommandHandle? CloseSubflow(Subflow subflow);

    /// <summary>Marks a subflow backup or not (MP_PRIO to the peer).</summary>
    CommandHandle? SetBackup(Subflow subflow, bool backup);

    /// <summary>Advertises a local address to the peer (with a port, Smapp also listens there).</summary>
    CommandHandle Announce(LocalAddress address, ushort? port = null);

    /// <summary>Withdraws an address (on that port) this policy announced; Smapp stops listening there.</summary>
    CommandHandle? Withdraw(LocalAddress address, ushort? port = null);

    /// <summary>Starts (or restarts) a timer; <see cref="SubflowPolicy.OnTimer"/> gets its key.</summary>
    void StartTimer(string key, TimeSpan delay, bool repeat = false);

    void CancelTimer(string key);

    /// <summary>Records a decision and its reason in the structured log.</summary>
    void Log(string decision, string reason);
}
