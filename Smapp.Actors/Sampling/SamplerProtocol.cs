using Smapp.Netlink.Diag;

namespace Smapp.Actors.Sampling;

/// <summary>The messages of the <see cref="Sampler"/>.</summary>
public static class SamplerProtocol
{
    /// <summary>How many connections want samples, and how often; 0 stops the dumps. Batches go to the sender.</summary>
    public sealed record Demand(int Connections, TimeSpan Interval);

    /// <summary>A sampler tick for every connection, by token.</summary>
    public sealed record SampleBatch(IReadOnlyDictionary<uint, List<SubflowDiag>> ByToken, DateTimeOffset At);

    public sealed record GetStats
    {
        public static readonly GetStats Instance = new();
    }

    /// <summary>The sampler's counters; <paramref name="Interval"/> is the tick now (zero: stopped), <paramref name="FastEpisodes"/> how often it went fast.</summary>
    public sealed record Stats(long Ticks, long Dumps, long Skipped, long Failed, TimeSpan LastDumpTime, int LastSubflows, TimeSpan Interval, long FastEpisodes);
}
