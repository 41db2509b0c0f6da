using System.Net;
using Akka.Actor;
using Smapp.Actors.Configuration;
using Smapp.Actors.Connections;
using Smapp.Policy;
using Xunit.Abstractions;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Tests.Actors;

/// <summary>ENOBUFS: the supervisor reconciles every connection with the kernel's sock_diag view.</summary>
public class LostEventsTests(ITestOutputHelper output) : ControllerTestKit(output)
{
    private const uint Kept = 0xa0000001;
    private const uint Gone = 0xa0000002;
    private const uint Unseen = 0xa0000003;

    [Fact]
    public async Task After_lost_events_connections_gain_the_subflows_they_missed_lose_the_dead_and_the_unseen_are_adopted()
    {
        var observer = CreateTestProbe();
        await StartSupervisorAsync(PolicySelector.Of("recording", () => new RecordingPolicy(observer)), false, Eth0, Wlan0);
        foreach (var (token, port) in new[] { (Kept, (ushort)40001), (Gone, (ushort)40002) })
        {
            Supervisor.Tell(Created(token, port));
            Supervisor.Tell(Established(token, port));
            await observer.FishForMessageAsync<Called>(c => c.Token == token && c.Callback == "established");
        }

        Supervisor.Tell(new EventsLost("mptcp_pm_events"));
        var dump = await Gateway.FishForMessageAsync<DumpConnections>(d => d.Purpose == DumpPurpose.Resync);
        Assert.Null(dump.Token);

        // The kernel's view: Kept has gained a subflow we never heard of, Gone has ended, Unseen is new to us.
        Supervisor.Tell(new ConnectionsDumped(dump.Purpose,
            [ConnDiag(Kept, Local1, 40001, Remote1, 443), ConnDiag(Unseen, Local1, 40003, Remote1, 443)],
            [
                SubDiag(Kept, Local1, 40001, Remote1, 443),
                SubDiag(Kept, Local2, 50001, Remote1, 443, localId: 1),
                SubDiag(Unseen, Local1, 40003, Remote1, 443),
            ],
            null));

        // Three connections answer in their own order: gather until each has.
        var calls = new List<Called>();
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!(calls.Any(c => c.Token == Kept && c.Callback == "subflow_established")
            && calls.Any(c => c.Token == Unseen && c.Callback == "established")
            && calls.Any(c => c.Token == Gone && c.Callback == "closed")))
        {
            Assert.True(DateTime.UtcNow < deadline, $"calls so far: {string.Join(", ", calls.Select(c => $"{c.Token:x8} {c.Callback}"))}");
            calls.Add(await observer.ExpectMsgAsync<Called>(TimeSpan.FromSeconds(5)));
        }

        Assert.Equal(2, calls.First(c => c.Token == Kept && c.Callback == "subflow_established").Subflows.Count);
        Assert.True(calls.First(c => c.Token == Unseen && c.Callback == "established").Connection.TakenOver);
        AwaitAssert(() => Assert.Equal([Kept, Unseen], SupervisorStateAsync().Result.Tokens.Order()), TimeSpan.FromSeconds(3));
    }
}
