using Akka.Actor;
using Smapp.Actors.Configuration;
using Smapp.Actors.Connections;
using Smapp.Actors.Observing;
using Xunit.Abstractions;

namespace Smapp.Tests.Actors;

/// <summary>
/// After a busy spell (1,000 connections started since the last trim) and once every connection is gone for 5 s, the
/// supervisor makes one compacting collection, so that resident memory goes back toward its baseline; not before,
/// not after a small spell, and not when a connection came back meanwhile.
/// </summary>
public class IdleTrimTests(ITestOutputHelper output) : ControllerTestKit(output)
{
    private async Task<StatusProtocol.ConnectionsStatus> StatusAsync() => await Supervisor.Ask<StatusProtocol.ConnectionsStatus>(StatusProtocol.GetStatus.Instance, TimeSpan.FromSeconds(5));

    private async Task<int> TrimsAsync() => (await StatusAsync()).IdleTrims;

    /// <summary>Until the supervisor holds no slot at all: an ended connection's slot goes when its actor has stopped.</summary>
    private Task NoSlotsAsync() => AwaitAssertAsync(async () => Assert.Equal(0, (await StatusAsync()).Slots), TimeSpan.FromSeconds(30));

    private async Task ChurnAsync(uint first, int count)
    {
        for (var i = 0u; i < count; i++)
        {
            Supervisor.Tell(Created(first + i, localPort: (ushort)(10000 + (i % 50000))));
            Supervisor.Tell(Closed(first + i));
        }

        await NoSlotsAsync();
    }

    [Fact]
    public async Task A_busy_spell_once_over_is_followed_by_one_trim_after_the_delay()
    {
        await StartSupervisorAsync(PolicySelector.Defaults("passive"), false, Eth0);
        await ChurnAsync(1, ConnectionSupervisor.TrimAfter);

        Advance(ConnectionSupervisor.TrimDelay - TimeSpan.FromMilliseconds(100));
        Assert.Equal(0, await TrimsAsync());
        Advance(200);
        await AwaitAssertAsync(async () => Assert.Equal(1, await TrimsAsync()), TimeSpan.FromSeconds(5));

        // Idle afterwards: nothing more.
        Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(1, await TrimsAsync());
    }

    [Fact]
    public async Task A_small_spell_makes_no_trim()
    {
        await StartSupervisorAsync(PolicySelector.Defaults("passive"), false, Eth0);
        await ChurnAsync(1, ConnectionSupervisor.TrimAfter - 1);
        Advance(ConnectionSupervisor.TrimDelay * 3);
        Assert.Equal(0, await TrimsAsync());
    }

    [Fact]
    public async Task A_connection_that_comes_before_the_delay_is_over_puts_the_trim_off_until_it_is_gone()
    {
        await StartSupervisorAsync(PolicySelector.Defaults("passive"), false, Eth0);
        await ChurnAsync(1, ConnectionSupervisor.TrimAfter);
        const uint late = 900_000;
        Supervisor.Tell(Created(late));
        Assert.Contains(late, (await SupervisorStateAsync()).Tokens);
        Advance(ConnectionSupervisor.TrimDelay * 2);
        Assert.Equal(0, await TrimsAsync());

        Supervisor.Tell(Closed(late));
        await NoSlotsAsync();
        Advance(ConnectionSupervisor.TrimDelay + TimeSpan.FromMilliseconds(100));
        await AwaitAssertAsync(async () => Assert.Equal(1, await TrimsAsync()), TimeSpan.FromSeconds(5));
    }
}
