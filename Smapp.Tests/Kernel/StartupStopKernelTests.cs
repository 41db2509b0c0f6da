using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>
/// SIGTERM while `smapp run` is still starting ends it cleanly and promptly. It once hung 4 times in 20: a stop in the
/// first ~100 ms stopped the connection supervisor while start-up still waited (5 minutes at most) for its "ready",
/// and the runtime's exit hook waited for that start-up.
/// </summary>
public class StartupStopKernelTests
{
    [Fact]
    public void Sigterm_at_any_moment_of_start_up_exits_0_promptly()
    {
        using var bed = Testbed.Up("two-path");
        foreach (var delayMs in new[] { 0, 15, 30, 45, 60, 90 })
        {
            using var run = new SmappProcess("--netns", bed.ClientNs, "--set", "smapp.gateway.realtime-priority=0");
            run.WaitFor("smapp running", TimeSpan.FromSeconds(60));
            Thread.Sleep(delayMs); // the moment of the stop is what varies (not synchronisation)
            Assert.True(run.SignalAndWait("TERM") == 0, $"TERM {delayMs} ms after 'smapp running':\n{run.Output}");
        }
    }
}
