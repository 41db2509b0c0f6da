namespace Smapp.Policy;

/// <summary>How long to wait before re-opening a subflow, by what closed it.</summary>
public sealed record BackoffSettings(
    TimeSpan AfterReset,
    TimeSpan AfterUnreachable,
    TimeSpan AfterOther,
    double Multiplier,
    TimeSpan Max,
    int MaxAttempts)
{
    public static readonly BackoffSettings Default = new(
        TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2), 2.0, TimeSpan.FromSeconds(30), 10);
}

/// <summary>What kind of failure closed a subflow.</summary>
public enum FailureKind
{
    /// <summary>The peer or a middlebox reset it (ECONNRESET, ECONNREFUSED, EPIPE): worth retrying soon.</summary>
    Reset,

    /// <summary>The path is unreachable or timed out (ENETUNREACH, EHOSTUNREACH, ETIMEDOUT, …): retry later.</summary>
    Unreachable,

    /// <summary>Anything else, including a close without an error.</summary>
    Other,
}

/// <summary>The re-establishment backoff: a pure function of the error and the attempt number.</summary>
public static class Backoff
{
    public static FailureKind Classify(Errno errno) => errno switch
    {
        Errno.ECONNRESET or Errno.ECONNREFUSED or Errno.EPIPE => FailureKind.Reset,
        Errno.ENETUNREACH or Errno.EHOSTUNREACH or Errno.ETIMEDOUT or Errno.EHOSTDOWN or Errno.ENETDOWN or Errno.EADDRNOTAVAIL => FailureKind.Unreachable,
        _ => FailureKind.Other,
    };

    /// <summary>
    /// The delay before attempt <paramref name="attempt"/> (1 = the first retry) after a close with
    /// <paramref name="errno"/>: the base for its kind times Multiplier^(attempt-1), capped at Max; null once
    /// MaxAttempts retries have been spent.
    /// </summary>
    public static TimeSpan? Delay(BackoffSettings s, Errno errno, int attempt)
    {
        if (attempt < 1 || (s.MaxAttempts > 0 && attempt > s.MaxAttempts))
        {
            return null;
        }

        var baseDelay = Classify(errno) switch
        {
            FailureKind.Reset => s.AfterReset,
            FailureKind.Unreachable => s.AfterUnreachable,
            _ => s.AfterOther,
        };
        var ms = baseDelay.TotalMilliseconds * Math.Pow(s.Multiplier, attempt - 1);
        return TimeSpan.FromMilliseconds(Math.Min(ms, s.Max.TotalMilliseconds));
    }
}
