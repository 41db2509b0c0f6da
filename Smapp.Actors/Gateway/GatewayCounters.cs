using System.Diagnostics;
using Smapp.Netlink.Mptcp;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Actors.Gateway;

/// <summary>
/// Something that wants each latency as it is measured (the metrics' histograms). Called on the measuring thread
/// (the event loop, or the sock_diag worker): it must be cheap, lock-free and allocation-free.
/// </summary>
public interface ILatencySink
{
    void Observe(double seconds);
}

/// <summary>
/// The gateway's counters, read by `smapp status` and the metrics from other threads. Each is a plain long bumped
/// with one <see cref="Interlocked"/> add on the thread that counts it (the event loop, mostly): no lock, no
/// allocation, nothing on the hot path beyond that. Readers take a <see cref="Snapshot"/> whenever they like.
/// </summary>
public sealed class GatewayCounters
{
    /// <summary>The command kinds counted, in a fixed order (index of <see cref="KindOf"/>).</summary>
    public static readonly string[] CommandNames = ["SUBFLOW_CREATE", "SUBFLOW_DESTROY", "SET_FLAGS", "ANNOUNCE", "REMOVE"];

    /// <summary>errno values above this are counted as this (there is no errno this large in Linux).</summary>
    public const int MaxErrno = 255;

    private readonly long[] _events = new long[32];
    private readonly long[] _commands = new long[CommandNames.Length * (MaxErrno + 1)];
    private long _malformed;
    private long _dropped;
    private long _forged;
    private long _resyncs;
    private long _eventStart;
    private long _sampleDumps;

    /// <summary>Event-to-command latency: from the decoded event to the first command written in reaction to it.</summary>
    public ILatencySink? EventToCommand { get; set; }

    /// <summary>How long each sampler tick's sock_diag dump takes (on the sock_diag worker).</summary>
    public ILatencySink? SamplerTick { get; set; }

    public void Event(MptcpEventType type) => Interlocked.Increment(ref _events[(int)type & 31]);

    /// <summary>A command's outcome: 0 for success, else its errno.</summary>
    public void Command(PmCommand command, int errno) =>
        Interlocked.Increment(ref _commands[(KindOf(command) * (MaxErrno + 1)) + Math.Clamp(errno, 0, MaxErrno)]);

    public void Malformed() => Interlocked.Increment(ref _malformed);

    /// <summary>The kernel dropped events for us (ENOBUFS).</summary>
    public void Dropped() => Interlocked.Increment(ref _dropped);

    /// <summary>A message whose sender was not the kernel, dropped.</summary>
    public void Forged() => Interlocked.Increment(ref _forged);

    /// <summary>A reconciliation with sock_diag after lost events.</summary>
    public void Resync() => Interlocked.Increment(ref _resyncs);

    // --- event-to-command latency (loop thread only) ---------------------------------------------------------

    /// <summary>An event is about to reach its subscribers: its commands are timed from now (loop thread).</summary>
    public void EventStarts()
    {
        if (EventToCommand is not null)
        {
            _eventStart = Stopwatch.GetTimestamp();
        }
    }

    /// <summary>A command is written: the first one for the current event gives the latency (loop thread).</summary>
    public void CommandWritten()
    {
        if (_eventStart != 0 && EventToCommand is { } sink)
        {
            sink.Observe(Stopwatch.GetElapsedTime(_eventStart).TotalSeconds);
            _eventStart = 0;
        }
    }

    /// <summary>The event has been handled: commands after this are not its reaction (loop thread).</summary>
    public void EventEnds() => _eventStart = 0;

    /// <summary>A sampler dump took this long (sock_diag worker).</summary>
    public void SampleDump(TimeSpan took)
    {
        Interlocked.Increment(ref _sampleDumps);
        SamplerTick?.Observe(took.TotalSeconds);
    }

    public static int KindOf(PmCommand command) => command switch
    {
        CreateSubflow => 0,
        DestroySubflow => 1,
        SetBackup => 2,
        Announce => 3,
        _ => 4,
    };

    /// <summary>Every non-zero counter now.</summary>
    public CountersSnapshot Snapshot()
    {
        var events = new Dictionary<string, long>();
        for (var i = 0; i < _events.Length; i++)
        {
            var n = Interlocked.Read(ref _events[i]);
            if (n != 0)
            {
                events[EventName((MptcpEventType)i)] = n;
            }
        }

        var commands = new List<CommandCount>();
        for (var k = 0; k < CommandNames.Length; k++)
        {
            for (var e = 0; e <= MaxErrno; e++)
            {
                var n = Interlocked.Read(ref _commands[(k * (MaxErrno + 1)) + e]);
                if (n != 0)
                {
                    commands.Add(new CommandCount(CommandNames[k], e == 0 ? "ok" : "error", e == 0 ? "" : Smapp.Netlink.Errno.Name(e), n));
                }
            }
        }

        return new CountersSnapshot(events, commands, Interlocked.Read(ref _malformed), Interlocked.Read(ref _dropped), Interlocked.Read(ref _forged),
            Interlocked.Read(ref _resyncs), Interlocked.Read(ref _sampleDumps));
    }

    /// <summary>The event's name as the kernel spells it, lower case (created, sub_established, …).</summary>
    public static string EventName(MptcpEventType type) => type switch
    {
        MptcpEventType.Created => "created",
        MptcpEventType.Established => "established",
        MptcpEventType.Closed => "closed",
        MptcpEventType.Announced => "announced",
        MptcpEventType.Removed => "removed",
        MptcpEventType.SubEstablished => "sub_established",
        MptcpEventType.SubClosed => "sub_closed",
        MptcpEventType.SubPriority => "sub_priority",
        MptcpEventType.ListenerCreated => "listener_created",
        MptcpEventType.ListenerClosed => "listener_closed",
        var other => $"type_{(int)other}",
    };
}

/// <summary>One command kind's count for one outcome ("ok", or "error" with its errno name).</summary>
public sealed record CommandCount(string Command, string Outcome, string Errno, long Count);

public sealed record CountersSnapshot(
    IReadOnlyDictionary<string, long> Events,
    IReadOnlyList<CommandCount> Commands,
    long Malformed,
    long Dropped,
    long Forged,
    long Resyncs,
    long SamplerDumps);
