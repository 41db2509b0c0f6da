using Smapp.Policy;

namespace Smapp.Tests.Policy;

/// <summary>The re-establishment backoff as a pure function: (errno, attempt) → delay, for the default settings.</summary>
public class BackoffTests
{
    [Theory]
    // ECONNRESET: a reset, 1 s doubling per attempt, capped at 30 s, given up after the 10th attempt.
    [InlineData(104, 1, 1_000)]
    [InlineData(104, 2, 2_000)]
    [InlineData(104, 3, 4_000)]
    [InlineData(104, 4, 8_000)]
    [InlineData(104, 5, 16_000)]
    [InlineData(104, 6, 30_000)]
    [InlineData(104, 10, 30_000)]
    [InlineData(104, 11, null)]
    [InlineData(104, 0, null)]
    [InlineData(104, -1, null)]
    // ECONNREFUSED and EPIPE are resets too.
    [InlineData(111, 1, 1_000)]
    [InlineData(32, 2, 2_000)]
    // EHOSTUNREACH: unreachable, 5 s doubling, capped.
    [InlineData(113, 1, 5_000)]
    [InlineData(113, 2, 10_000)]
    [InlineData(113, 3, 20_000)]
    [InlineData(113, 4, 30_000)]
    [InlineData(113, 10, 30_000)]
    [InlineData(113, 11, null)]
    // ENETUNREACH, ETIMEDOUT, EHOSTDOWN, ENETDOWN, EADDRNOTAVAIL.
    [InlineData(101, 1, 5_000)]
    [InlineData(110, 1, 5_000)]
    [InlineData(112, 1, 5_000)]
    [InlineData(100, 1, 5_000)]
    [InlineData(99, 1, 5_000)]
    // A close without an error, or any other errno: 2 s doubling.
    [InlineData(0, 1, 2_000)]
    [InlineData(0, 2, 4_000)]
    [InlineData(22, 1, 2_000)]
    [InlineData(22, 4, 16_000)]
    [InlineData(22, 5, 30_000)]
    [InlineData(22, 11, null)]
    public void Default_backoff_delay_by_errno_and_attempt(int errno, int attempt, int? expectedMs)
    {
        var delay = Backoff.Delay(BackoffSettings.Default, (Errno)errno, attempt);
        Assert.Equal(expectedMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null, delay);
    }

    [Theory]
    [InlineData(104, FailureKind.Reset)]
    [InlineData(111, FailureKind.Reset)]
    [InlineData(32, FailureKind.Reset)]
    [InlineData(101, FailureKind.Unreachable)]
    [InlineData(113, FailureKind.Unreachable)]
    [InlineData(110, FailureKind.Unreachable)]
    [InlineData(112, FailureKind.Unreachable)]
    [InlineData(100, FailureKind.Unreachable)]
    [InlineData(99, FailureKind.Unreachable)]
    [InlineData(0, FailureKind.Other)]
    [InlineData(22, FailureKind.Other)]
    [InlineData(1, FailureKind.Other)]
    [InlineData(255, FailureKind.Other)]
    public void Classify_sorts_errnos_into_reset_unreachable_and_other(int errno, FailureKind expected) =>
        Assert.Equal(expected, Backoff.Classify((Errno)errno));

    [Theory]
    [InlineData(1, 1_000)]
    [InlineData(11, 30_000)]
    [InlineData(1_000, 30_000)]
    [InlineData(5_000, 30_000)]
    public void Max_attempts_zero_never_gives_up_and_stays_capped(int attempt, int expectedMs)
    {
        var s = BackoffSettings.Default with { MaxAttempts = 0 };
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), Backoff.Delay(s, (Errno)104, attempt));
    }

    [Fact]
    public void Custom_settings_scale_each_kind_with_their_own_multiplier()
    {
        var s = new BackoffSettings(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(200), 3.0, TimeSpan.FromSeconds(2), 3);
        Assert.Equal(TimeSpan.FromMilliseconds(100), Backoff.Delay(s, (Errno)104, 1));
        Assert.Equal(TimeSpan.FromMilliseconds(900), Backoff.Delay(s, (Errno)104, 3));
        Assert.Equal(TimeSpan.FromMilliseconds(900), Backoff.Delay(s, (Errno)113, 2));
        Assert.Equal(TimeSpan.FromSeconds(2), Backoff.Delay(s, (Errno)113, 3));
        Assert.Equal(TimeSpan.FromMilliseconds(600), Backoff.Delay(s, (Errno)0, 2));
        Assert.Null(Backoff.Delay(s, (Errno)0, 4));
    }
}
