using Smapp.Netlink.Diag;
using Smapp.Policy;

namespace Smapp.Actors.Connections;

/// <summary>From the kernel's tcp_info of a subflow to what a policy reads, and the paper's timeout event.</summary>
internal static class SubflowSamples
{
    /// <summary>A policy's view of one tcp_info sample.</summary>
    public static SubflowSample From(TcpInfo i, DateTimeOffset at) => new(
        at, TimeSpan.FromTicks(i.RtoUs * 10L), i.Backoff, TimeSpan.FromTicks(i.RttUs * 10L), i.SndCwnd,
        i.PacingRate, i.DeliveryRate, i.BytesAcked, i.BytesSent, i.BytesReceived, i.TotalRetrans, i.Unacked);

    /// <summary>
    /// The timeout event: the subflow's retransmission timer grew (or backed off once more) since the previous
    /// sample. No previous sample, no event: the first sample only sets the baseline.
    /// </summary>
    public static bool RtoGrew(SubflowSample? previous, SubflowSample current) =>
        previous is not null && (current.Rto > previous.Rto || current.Backoff > previous.Backoff);
}
