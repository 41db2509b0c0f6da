using System.Net;
using Akka.Actor;
using Smapp.Actors.Configuration;
using Smapp.Actors.Connections;
using Smapp.Netlink.Diag;
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

    /// <summary>Every resync dump the gateway is asked for within <paramref name="within"/> (other messages are skipped).</summary>
    private async Task<List<DumpConnections>> ResyncDumpsAsync(TimeSpan within)
    {
        var dumps = new List<DumpConnections>();
        var until = DateTime.UtcNow + within;
        while (DateTime.UtcNow < until)
        {
            try
            {
                if (await Gateway.ReceiveOneAsync(until - DateTime.UtcNow) is DumpConnections { Purpose: DumpPurpose.Resync } d)
                {
                    dumps.Add(d);
                }
            }
            catch (Exception) when (DateTime.UtcNow >= until)
            {
            }
        }

        return dumps;
    }

    private static ConnectionsDumped Answer(DumpConnections d, params uint[] tokens) =>
        new(d.Purpose, tokens.Select((t, i) => ConnDiag(t, Local1, (ushort)(40001 + i), Remote1, 443)).ToList(),
            tokens.Select((t, i) => SubDiag(t, Local1, (ushort)(40001 + i), Remote1, 443)).ToList(), null) { RequestedAt = d.RequestedAt };

    [Fact]
    public async Task A_connection_whose_established_was_lost_is_told_established_by_the_reconcile_and_one_still_opening_is_not()
    {
        var observer = CreateTestProbe();
        await StartSupervisorAsync(PolicySelector.Of("recording", () => new RecordingPolicy(observer)), false, Eth0, Wlan0);
        const uint lost = 0xb0000001, opening = 0xb0000002;
        Supervisor.Tell(Created(lost, 40011));
        Supervisor.Tell(Created(opening, 40012));
        // Two connection actors answer in their own order.
        var created = new HashSet<uint>();
        while (created.Count < 2)
        {
            var c = await observer.ExpectMsgAsync<Called>(TimeSpan.FromSeconds(5));
            Assert.Equal("created", c.Callback);
            created.Add(c.Token);
        }

        Supervisor.Tell(new EventsLost("mptcp_pm_events"));
        var dump = await Gateway.FishForMessageAsync<DumpConnections>(d => d.Purpose == DumpPurpose.Resync);

        // lost: data acknowledged at the MPTCP level (fully established; its ESTABLISHED was dropped); opening: no data yet.
        var acked = ConnDiag(lost, Local1, 40011, Remote1, 443) with { Info = new MptcpInfo { Token = lost, BytesAcked = 64 } };
        Supervisor.Tell(new ConnectionsDumped(dump.Purpose, [acked, ConnDiag(opening, Local1, 40012, Remote1, 443)],
            [SubDiag(lost, Local1, 40011, Remote1, 443), SubDiag(opening, Local1, 40012, Remote1, 443)], null) { RequestedAt = dump.RequestedAt });

        var established = await observer.FishForMessageAsync<Called>(c => c.Callback == "established", TimeSpan.FromSeconds(5));
        Assert.Equal(lost, established.Token);
        Assert.False(established.Connection.TakenOver);
        Assert.True((await StateAsync(lost)).Established);
        Assert.False((await StateAsync(opening)).Established);
    }

    [Fact]
    public async Task Reconcile_runs_rounds_until_a_dump_changes_nothing()
    {
        var observer = CreateTestProbe();
        await StartSupervisorAsync(PolicySelector.Of("recording", () => new RecordingPolicy(observer)), false, Eth0, Wlan0);
        Supervisor.Tell(Created(Kept, 40001));
        Supervisor.Tell(Established(Kept, 40001));
        await observer.FishForMessageAsync<Called>(c => c.Token == Kept && c.Callback == "established");

        Supervisor.Tell(new EventsLost("mptcp_pm_events"));
        var first = await Gateway.FishForMessageAsync<DumpConnections>(d => d.Purpose == DumpPurpose.Resync);
        Assert.NotEqual(0, first.RequestedAt);

        // Round 1 finds a connection we never saw: a change, so a second round follows after its backoff.
        Supervisor.Tell(Answer(first, Kept, Unseen));
        await observer.FishForMessageAsync<Called>(c => c.Token == Unseen && c.Callback == "established");
        await SupervisorStateAsync(); // the answer is handled (its round's timer started)
        Assert.Empty(await ResyncDumpsAsync(Quiet));
        Advance(ConnectionSupervisor.ResyncDelay(1));
        var second = await Gateway.FishForMessageAsync<DumpConnections>(d => d.Purpose == DumpPurpose.Resync);

        // Round 2 agrees: no third.
        Supervisor.Tell(Answer(second, Kept, Unseen));
        await SupervisorStateAsync();
        Advance(TimeSpan.FromSeconds(5));
        Assert.Empty(await ResyncDumpsAsync(Quiet * 2));
        Assert.Equal([Kept, Unseen], (await SupervisorStateAsync()).Tokens.Order());
    }

    [Fact]
    public async Task Events_lost_while_a_dump_runs_make_one_more_round_and_a_quiet_one_ends_it()
    {
        var observer = CreateTestProbe();
        await StartSupervisorAsync(PolicySelector.Of("recording", () => new RecordingPolicy(observer)), false, Eth0, Wlan0);
        Supervisor.Tell(Created(Kept, 40001));
        Supervisor.Tell(Established(Kept, 40001));
        await observer.FishForMessageAsync<Called>(c => c.Token == Kept && c.Callback == "established");

        Supervisor.Tell(new EventsLost("mptcp_pm_events"));
        var first = await Gateway.FishForMessageAsync<DumpConnections>(d => d.Purpose == DumpPurpose.Resync);
        Supervisor.Tell(new EventsLost("mptcp_pm_events")); // while the dump runs: not a second dump at once...
        Assert.Empty(await ResyncDumpsAsync(Quiet));

        Supervisor.Tell(Answer(first, Kept)); // ...but one more round after this one, though it changed nothing
        await SupervisorStateAsync();
        Advance(ConnectionSupervisor.ResyncDelay(1));
        var second = await Gateway.FishForMessageAsync<DumpConnections>(d => d.Purpose == DumpPurpose.Resync);
        Supervisor.Tell(Answer(second, Kept));
        await SupervisorStateAsync();
        Advance(TimeSpan.FromSeconds(5));
        Assert.Empty(await ResyncDumpsAsync(Quiet * 2));
    }

    [Fact]
    public async Task Reconcile_gives_up_after_its_rounds_when_the_kernel_keeps_changing()
    {
        var observer = CreateTestProbe();
        await StartSupervisorAsync(PolicySelector.Of("recording", () => new RecordingPolicy(observer)), false, Eth0, Wlan0);
        Supervisor.Tell(new EventsLost("mptcp_pm_events"));
        for (var round = 1; round <= ConnectionSupervisor.MaxResyncRounds; round++)
        {
            var d = await Gateway.FishForMessageAsync<DumpConnections>(x => x.Purpose == DumpPurpose.Resync);
            Supervisor.Tell(Answer(d, 0xb0000000u + (uint)round)); // every round a new connection: never agreeing
            await SupervisorStateAsync();
            Advance(TimeSpan.FromSeconds(3));
        }

        Assert.Empty(await ResyncDumpsAsync(Quiet * 2));
    }
}
