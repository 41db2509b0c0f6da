namespace Smapp.Tests.Support;

public static class Eventually
{
    /// <summary>Polls <paramref name="condition"/> until it holds (returns true) or the time is up (returns false).</summary>
    public static bool Holds(Func<bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(3));
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
