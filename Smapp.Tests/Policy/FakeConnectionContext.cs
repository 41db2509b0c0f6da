using System.Net;
using Smapp.Policy;

namespace Smapp.Tests.Policy;

/// <summary>
/// An <see cref="IConnectionContext"/> with no actor behind it: it records every command a policy issues and
/// updates the subflow views the way the connection actor does (a closed subflow is abandoned, a re-opened one is
/// pending), so a policy's decisions can be checked one callback at a time.
/// </summary>
public sealed class FakeConnectionContext : IConnectionContext
{
    private readonly List<Subflow> _subflows = [];
    private int _nextId;
    private long _nextCommand;

    public FakeConnectionContext(Side side = Side.Client, string local = "192.0.2.1:40000", string remote = "203.0.113.1:443", bool takenOver = false)
    {
        var l = ParseEndpoint(local);
        var r = ParseEndpoint(remote);
        Connection = new ConnectionInfo(0x1234abcd, side, l, r, takenOver);
        RemoteAddressList.Add(new RemoteAddress(r.Address, r.Port, 0));
    }

    public ConnectionInfo Connection { get; set; }

    public IReadOnlyCollection<Subflow> Subflows => _subflows;

    public List<LocalAddress> LocalAddressList { get; } = [];

    public List<RemoteAddress> RemoteAddressList { get; } = [];

    public IReadOnlyCollection<LocalAddress> LocalAddresses => LocalAddressList;

    public IReadOnlyCollection<RemoteAddress> RemoteAddresses => RemoteAddressList;

    public DateTimeOffset Now { get; set; } = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    // --- what the policy did -----------------------------------------------------------------------------------

    public List<(LocalAddress Local, Endpoint Remote, bool Backup, Subflow Subflow)> Opened { get; } = [];

    public List<(Subflow Subflow, TimeSpan Delay)> Reopened { get; } = [];

    public List<Subflow> Closed { get; } = [];

    public List<(Subflow Subflow, bool Backup)> BackupSet { get; } = [];

    public List<(LocalAddress Address, ushort? Port)> Announced { get; } = [];

    public List<LocalAddress> Withdrawn { get; } = [];

    public List<(string Key, TimeSpan Delay, bool Repeat)> TimersStarted { get; } = [];

    public List<string> TimersCancelled { get; } = [];

    public List<(string Decision, string Reason)> Logs { get; } = [];

    /// <summary>Opened subflows as "local -> remote:port", for table-driven assertions.</summary>
    public IEnumerable<string> OpenedPairs => Opened.Select(o => $"{o.Local.Address}->{o.Remote.Address}:{o.Remote.Port}");

    // --- setting the scene ---------------------------------------------------------------------------------------

    public LocalAddress AddLocal(string address, string? interfaceName = "eth0", int ifIndex = 2)
    {
        var a = new LocalAddress(IPAddress.Parse(address), ifIndex, interfaceName);
        LocalAddressList.Add(a);
        return a;
    }

    public RemoteAddress AddRemote(string address, byte id, ushort? port = null)
    {
        var a = new RemoteAddress(IPAddress.Parse(address), port, id);
        RemoteAddressList.Add(a);
        return a;
    }

    /// <summary>The subflow the connection started on, established, as the connection actor records it.</summary>
    public Subflow AddInitialSubflow()
    {
        var s = AddSubflow(Connection.Local.ToString(), Connection.Remote.ToString());
        s.Initial = true;
        return s;
    }

    public Subflow AddSubflow(string local, string remote, SubflowPhase phase = SubflowPhase.Established, bool openedByUs = false, DateTimeOffset? establishedAt = null, byte localId = 0)
    {
        var s = new Subflow(++_nextId, ParseEndpoint(local), ParseEndpoint(remote), localId, false, phase)
        {
            OpenedByUs = openedByUs,
            EstablishedAt = phase == SubflowPhase.Established ? establishedAt ?? Now : null,
        };
        _subflows.Add(s);
        return s;
    }

    /// <summary>What the connection actor does before OnSubflowClosed: the subflow is closed and one more attempt failed.</summary>
    public CloseReason CloseBeforeCallback(Subflow s, int errno)
    {
        s.Phase = SubflowPhase.Closed;
        s.Failures++;
        var reason = new CloseReason((Errno)errno);
        s.LastClose = reason;
        return reason;
    }

    /// <summary>What the connection actor does on sub_established for a subflow the policy opened: the kernel's port, established now.</summary>
    public Subflow Establish(Subflow s, ushort? port = null)
    {
        s.Phase = SubflowPhase.Established;
        s.EstablishedAt = Now;
        s.Failures = 0;
        s.Local = s.Local with { Port = port ?? (ushort)(50000 + s.Id) };
        return s;
    }

    /// <summary>A tcp_info sample of <paramref name="s"/> taken now, as the sampler would set it before OnSample / OnSubflowTimeout.</summary>
    public SubflowSample Sample(Subflow s, TimeSpan? rto = null, ulong pacingRate = 1_000_000, ulong bytesAcked = 0, ulong bytesReceived = 0, byte backoff = 0)
    {
        var x = new SubflowSample(Now, rto ?? TimeSpan.FromMilliseconds(204), backoff, TimeSpan.FromMilliseconds(4), 10, pacingRate, pacingRate, bytesAcked, bytesAcked, bytesReceived, 0, 0);
        s.LastSample = x;
        return x;
    }

    /// <summary>The subflows the policy has not given up on.</summary>
    public IEnumerable<Subflow> Live => _subflows.Where(s => !s.Abandoned);

    /// <summary>What the connection actor does once the kernel reported an abandoned subflow closed: it leaves the list.</summary>
    public void Settle() => _subflows.RemoveAll(s => s.Abandoned || s.Phase == SubflowPhase.Closed);

    public void ClearRecords()
    {
        Opened.Clear();
        Reopened.Clear();
        Closed.Clear();
        Logs.Clear();
        TimersStarted.Clear();
        TimersCancelled.Clear();
    }

    // --- IConnectionContext ----------------------------------------------------------------------------------------

    public Subflow OpenSubflow(LocalAddress local, Endpoint remote, bool backup = false)
    {
        var s = new Subflow(++_nextId, new Endpoint(local.Address, 0), remote, 1, backup, SubflowPhase.Connecting) { OpenedByUs = true };
        _subflows.Add(s);
        Opened.Add((local, remote, backup, s));
        return s;
    }

    public void Reopen(Subflow subflow, TimeSpan delay)
    {
        Reopened.Add((subflow, delay));
        subflow.Phase = SubflowPhase.Pending;
    }

    public CommandHandle? CloseSubflow(Subflow subflow)
    {
        Closed.Add(subflow);
        subflow.Abandoned = true;
        return Handle(CommandKind.CloseSubflow);
    }

    public CommandHandle? SetBackup(Subflow subflow, bool backup)
    {
        BackupSet.Add((subflow, backup));
        return Handle(CommandKind.SetBackup);
    }

    public CommandHandle Announce(LocalAddress address, ushort? port = null)
    {
        Announced.Add((address, port));
        return Handle(CommandKind.Announce);
    }

    public CommandHandle? Withdraw(LocalAddress address, ushort? port = null)
    {
        Withdrawn.Add(address);
        return Handle(CommandKind.Withdraw);
    }

    private CommandHandle Handle(CommandKind kind) => new(++_nextCommand, kind);

    public void StartTimer(string key, TimeSpan delay, bool repeat = false) => TimersStarted.Add((key, delay, repeat));

    public void CancelTimer(string key) => TimersCancelled.Add(key);

    public void Log(string decision, string reason) => Logs.Add((decision, reason));

    public static Endpoint ParseEndpoint(string s)
    {
        var i = s.LastIndexOf(':');
        var host = s[..i].Trim('[', ']');
        return new Endpoint(IPAddress.Parse(host), ushort.Parse(s[(i + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }
}
