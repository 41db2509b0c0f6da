using System.Text.Json.Serialization;
using Smapp.Actors.Gateway;

namespace Smapp.Host.Status;

/// <summary>What `smapp status` shows: the daemon's answer on its status socket (JSON, snake_case).</summary>
public sealed record StatusReport(
    string Namespace,
    int Pid,
    DateTimeOffset At,
    string DefaultPolicy,
    int Rules,
    IReadOnlyList<ConnectionReport> Connections,
    GatewayReport Gateway,
    ProcessReport? Process = null);

/// <summary>
/// The daemon process: connection slots and actors (the soak's "back to baseline" figures), the managed heap
/// (<see cref="GC.GetTotalMemory(bool)"/> without a collection, and the GC's heap size at its last collection),
/// resident memory, threads, and the compacting collections made when a busy spell's connections were all gone.
/// </summary>
public sealed record ProcessReport(int Slots, int Actors, long HeapBytes, long GcHeapBytes, long RssBytes, int Threads, long Gen0Collections, long Gen2Collections, int IdleTrims);

public sealed record ConnectionReport(
    string Token,
    string Side,
    string? Local,
    string? Remote,
    string Policy,
    string Rule,
    bool TakenOver,
    bool Established,
    bool Rebuilding,
    IReadOnlyList<SubflowReport> Subflows,
    IReadOnlyList<DecisionReport> Decisions);

/// <summary>One subflow: Smapp's view (phase, backup, failures) and the kernel's figures from sock_diag when it has the socket.</summary>
public sealed record SubflowReport(
    int Id,
    string? Interface,
    string Local,
    string Remote,
    string Phase,
    bool Backup,
    bool Initial,
    bool OpenedByUs,
    int Failures,
    string? LastClose,
    string? TcpState,
    double? RttMs,
    double? RtoMs,
    ulong? PacingRate,
    ulong? BytesAcked);

public sealed record DecisionReport(DateTimeOffset At, string What, string Why);

public sealed record GatewayReport(
    long Events,
    IReadOnlyDictionary<string, long> EventsByType,
    long CommandsSent,
    long CommandsFailed,
    long CommandsTimedOut,
    int CommandsPending,
    IReadOnlyList<CommandCount> Commands,
    long Resyncs,
    long DroppedEvents,
    long ForgedMessages,
    long MalformedMessages,
    long SamplerDumps,
    long LoopWakeups,
    IReadOnlyDictionary<string, long>? ForeignBySocket = null);

/// <summary>A request on the status socket: one JSON line.</summary>
public sealed record StatusRequest(string Op);

/// <summary>A refusal or failure on the status socket.</summary>
public sealed record StatusError(string Error);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(StatusReport))]
[JsonSerializable(typeof(StatusRequest))]
[JsonSerializable(typeof(StatusError))]
public sealed partial class StatusJson : JsonSerializerContext;
