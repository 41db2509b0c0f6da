using Smapp.Policy;

namespace Smapp.Actors.Observing;

/// <summary>
/// What the application API (Smapp.Client, through the daemon's application socket) asks the supervisor. Both are
/// handled in one supervisor turn on the event loop, which owns every connection's state; the access check (the
/// caller's uid against the socket's owner) is done before, by whoever asks.
/// </summary>
public static class AppProtocol
{
    /// <summary>
    /// Replace the policy of the connection whose initial subflow (or any subflow) is <paramref name="Local"/> →
    /// <paramref name="Remote"/> with a new <paramref name="Policy"/> built from its configured parameters with
    /// <paramref name="Parameters"/> (HOCON values as text) over them. The new instance is told the connection is
    /// established, so that it acts on the subflows there are. <paramref name="Rule"/> is what status shows as the
    /// rule that chose it. Answered with <see cref="Applied"/> or <see cref="Refused"/>.
    /// </summary>
    /// <remarks><paramref name="Token"/>, when given, must be the found connection's too (the token the access check saw, so that a
    /// 4-tuple reused by another connection meanwhile is not steered).</remarks>
    public sealed record SetPolicy(Endpoint Local, Endpoint Remote, string Policy, IReadOnlyDictionary<string, string> Parameters, string Rule, uint? Token = null);

    /// <summary>A block of <paramref name="Bytes"/> starts now, due <paramref name="Within"/> from now (the policy's OnBlock).</summary>
    public sealed record Block(Endpoint Local, Endpoint Remote, long Bytes, TimeSpan Within, uint? Token = null);

    public sealed record Applied(uint Token, string Policy, string Message);

    public sealed record Refused(string Reason);
}
