namespace Smapp.Tests.Support;

public static class Eventually
{
    /// <summary>The default bound: generous, for a loaded 2-core machine (a wait that holds returns as soon as it does).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Polls <paramref name="condition"/> until it holds (returns true) or the time is up (returns false).</summary>
    public static bool Holds(Func<bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            if (condition())
            {
                return true;
            }

            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            Thread.Sleep(20);
        }
    }
}
