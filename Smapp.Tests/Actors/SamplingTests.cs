using Akka.Actor;
using Smapp.Actors.Configuration;
using Smapp.Actors.Connections;
using Smapp.Actors.Sampling;
using Xunit.Abstractions;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Tests.Actors;

/// <summary>Samples: demand from the supervisor, batches to the policies, RTO growth as the timeout event, and the sampler's ticks.</summary>
public class SamplingTests(ITestOutputHelper output) : ControllerTestKit(output)
{
    private const uint Token = 0x5a5a0001;
    private const uint Other = 0x5a5a0002;

    private SamplerProtocol.SampleBatch Batch(uint rtoUs, byte backoff = 0) => new(
        new Dictionary<uint, List<Smapp.Netlink.Diag.SubflowDiag>>
        {
            [Token] = [SubDiag(Token, Local1, 40000, Remote1, 443, rtoUs: rtoUs, backoff: backoff, rttUs: 5_000, cwnd: 10)],
            [Other] = [SubDiag(Other, Local1, 40001, Remote1, 443, rtoUs: 999_000)],
        },
        Clock.Now);

    /// <summary>Waits until the connection, its subflow actors, and then the connection again have handled all that was sent.</summary>
    private async Task DrainAsync()
    {
        await SettleAsync(Token);
        await StateAsync(Token);
    }

    [Fact]
    public async Task A_policy_that_wants_samples_makes_the_supervisor_ask_the_sampler_and_gets_them()
    {
        var observer = CreateTestProbe();
        await StartSupervisorAsync(PolicySelector.Of("sampling", () => new SamplingRecordingPolicy(observer)), false, Eth0);
        Supervisor.Tell(Created(Token));
        Supervisor.Tell(Established(Token));

        var demand = await Sampler.ExpectMsgAsync<SamplerProtocol.Demand>();
        Assert.Equal(1, demand.Connections);
        Assert.Equal(TimeSpan.FromMilliseconds(100), demand.Interval);
        Assert.Equal(Supervisor, Sampler.LastSender);
        Assert.Equal(1, (await SupervisorStateAsync()).WantingSamples);
        await observer.FishForMessageAsync<Called>(c => c.Callback == "established");

        var batch = Batch(204_000);
        Supervisor.Tell(batch);
        var sample = await observer.ExpectMsgAsync<Called>(c => c.Callback == "sample");
        Assert.Equal(Token, sample.Token);
        var s = Assert.Single(sample.Subflows);
        Assert.NotNull(s.LastSample);
        Assert.Equal(TimeSpan.FromMilliseconds(204), s.LastSample.Rto);
        Assert.Equal(TimeSpan.FromMilliseconds(5), s.LastSample.Rtt);
        Assert.Equal(10u, s.LastSample.Cwnd);
        Assert.Equal(batch.At, s.LastSample.At);
        Assert.Equal(TimeSpan.FromMilliseconds(204), (await StateAsync(Token)).Subflows[0].LastSample?.Rto);

        Supervisor.Tell(Closed(Token));
        var stop = await Sampler.ExpectMsgAsync<SamplerProtocol.Demand>();
        Assert.Equal(0, stop.Connections);
    }

    [Fact]
    public async Task A_growing_rto_between_two_batches_fires_the_timeout_callback_once()
    {
        var observer = CreateTestProbe();
        await StartSupervisorAsync(PolicySelector.Of("sampling", () => new SamplingRecordingPolicy(observer)), false, Eth0);
        Supervisor.Tell(Created(Token));
        Supervisor.Tell(Established(Token));
        await observer.FishForMessageAsync<Called>(c => c.Callback == "established");

        Supervisor.Tell(Batch(204_000));
        await observer.ExpectMsgAsync<Called>(c => c.Callback == "sample");
        await DrainAsync();
        await observer.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(20)); // a first sample has nothing to compare with

        Supervisor.Tell(Batch(408_000));
        await observer.ExpectMsgAsync<Called>(c => c.Callback == "sample");
        var timeout = await observer.ExpectMsgAsync<Called>(c => c.Callback == "timeout");
        Assert.Equal(TimeSpan.FromMilliseconds(408), timeout.Argument);
        Assert.Equal(TimeSpan.FromMilliseconds(408), timeout.Subflows[0].LastSample?.Rto);

        Supervisor.Tell(Batch(408_000));
        await observer.ExpectMsgAsync<Called>(c => c.Callback == "sample");
        Supervisor.Tell(Batch(300_000));
        await observer.ExpectMsgAsync<Called>(c => c.Callback == "sample");
        await DrainAsync();
        await observer.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(20)); // same, then smaller: no timeout

        Supervisor.Tell(Batch(300_000, backoff: 1));
        await observer.ExpectMsgAsync<Called>(c => c.Callback == "sample");
        Assert.Equal("timeout", (await observer.ExpectMsgAsync<Called>()).Callback); // an RTO backoff counts as growth
    }

    [Fact]
    public async Task A_policy_without_sampling_callbacks_asks_for_no_samples()
    {
        await StartSupervisorAsync(PolicySelector.Defaults("fullmesh"), false, Eth0);
        Supervisor.Tell(Created(Token));
        Supervisor.Tell(Established(Token));
        Assert.Equal(0, (await SupervisorStateAsync()).WantingSamples);
        await Sampler.ExpectNoMsgAsync(Quiet);
    }

    [Fact]
    public async Task The_sampler_dumps_every_tick_skips_while_a_dump_is_in_flight_and_stops_without_demand()
    {
        var sampler = Sys.ActorOf(Smapp.Actors.Sampling.Sampler.Props(Gateway), "sampler-under-test");
        var stats = CreateTestProbe();

        async Task<SamplerProtocol.Stats> StatsAsync()
        {
            sampler.Tell(SamplerProtocol.GetStats.Instance, stats);
            return await stats.ExpectMsgAsync<SamplerProtocol.Stats>();
        }

        // No demand: no dumps, however long we wait.
        Advance(TimeSpan.FromSeconds(10));
        await Gateway.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(20));

        sampler.Tell(new SamplerProtocol.Demand(2, TimeSpan.FromMilliseconds(100)), TestActor);
        await StatsAsync();
        Advance(0);
        Assert.Equal(1, (await Gateway.ExpectMsgAsync<DumpSubflows>()).RequestId);

        Advance(100); // the dump has not come back: this tick is skipped
        var s = await StatsAsync();
        Assert.Equal(2, s.Ticks);
        Assert.Equal(1, s.Skipped);
        await Gateway.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(20));

        var at = Clock.Now;
        sampler.Tell(new SubflowsDumped(1,
            [
                SubDiag(Token, Local1, 40000, Remote1, 443),
                SubDiag(Other, Local1, 40001, Remote1, 443),
                SubDiag(Token, Local2, 40002, Remote1, 443, localId: 1),
            ],
            at, null), Gateway);
        var batch = await ExpectMsgAsync<SamplerProtocol.SampleBatch>();
        Assert.Equal(at, batch.At);
        Assert.Equal([Token, Other], batch.ByToken.Keys.Order());
        Assert.Equal([(ushort)40000, (ushort)40002], batch.ByToken[Token].Select(d => d.Id.SourcePort));
        Assert.Equal([(ushort)40001], batch.ByToken[Other].Select(d => d.Id.SourcePort));

        Advance(100);
        Assert.Equal(2, (await Gateway.ExpectMsgAsync<DumpSubflows>()).RequestId);
        sampler.Tell(new SubflowsDumped(2, [], Clock.Now, "sock_diag: EPERM"), Gateway);
        s = await StatsAsync();
        Assert.Equal(1, s.Failed);
        Assert.Equal(1, s.Dumps);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(20)); // a failed dump sends no batch

        sampler.Tell(new SamplerProtocol.Demand(0, TimeSpan.Zero), TestActor);
        await StatsAsync();
        Advance(TimeSpan.FromSeconds(10));
        await Gateway.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(20));
        Assert.Equal(3, (await StatsAsync()).Ticks);

        // Demand again, at another interval: ticks resume at once, then at the new interval.
        sampler.Tell(new SamplerProtocol.Demand(1, TimeSpan.FromMilliseconds(250)), TestActor);
        await StatsAsync();
        Advance(0);
        Assert.Equal(3, (await Gateway.ExpectMsgAsync<DumpSubflows>()).RequestId);
        sampler.Tell(new SubflowsDumped(3, [], Clock.Now, null), Gateway);
        await ExpectMsgAsync<SamplerProtocol.SampleBatch>(b => b.ByToken.Count == 0);
        Advance(249);
        await Gateway.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(20));
        Advance(1);
        Assert.Equal(4, (await Gateway.ExpectMsgAsync<DumpSubflows>()).RequestId);
    }

    private static Smapp.Netlink.Diag.SubflowDiag Diag(ushort port, byte backoff = 0, byte caState = 0, uint unacked = 0, uint lastAckMs = 0, uint rtoUs = 200_000, byte tcpState = 1) =>
        SubDiag(Token, Local1, port, Remote1, 443) with
        {
            TcpState = tcpState,
            Info = new Smapp.Netlink.Diag.TcpInfo { State = tcpState, Backoff = backoff, CaState = caState, Unacked = unacked, LastAckRecvMs = lastAckMs, RtoUs = rtoUs },
        };

    [Fact]
    public void A_subflow_is_at_risk_of_a_timeout_when_its_timer_backed_off_it_is_in_loss_or_it_waited_half_its_rto_for_an_ack()
    {
        Assert.False(Smapp.Actors.Sampling.Sampler.AtRisk(Diag(1)));
        Assert.True(Smapp.Actors.Sampling.Sampler.AtRisk(Diag(1, backoff: 1)));
        Assert.True(Smapp.Actors.Sampling.Sampler.AtRisk(Diag(1, caState: 4)));
        Assert.False(Smapp.Actors.Sampling.Sampler.AtRisk(Diag(1, caState: 3))); // fast recovery: ACKs are coming
        Assert.True(Smapp.Actors.Sampling.Sampler.AtRisk(Diag(1, unacked: 3, lastAckMs: 100, rtoUs: 200_000)));
        Assert.False(Smapp.Actors.Sampling.Sampler.AtRisk(Diag(1, unacked: 3, lastAckMs: 99, rtoUs: 200_000)));
        Assert.False(Smapp.Actors.Sampling.Sampler.AtRisk(Diag(1, unacked: 0, lastAckMs: 5_000))); // idle: no timer runs
        Assert.False(Smapp.Actors.Sampling.Sampler.AtRisk(Diag(1, backoff: 3, tcpState: 4))); // closing (FIN_WAIT1): no policy's concern any more
    }

    [Fact]
    public async Task The_sampler_ticks_fast_while_a_subflow_is_at_risk_of_a_timeout_and_slows_down_once_none_is()
    {
        var sampler = Sys.ActorOf(Smapp.Actors.Sampling.Sampler.Props(Gateway), "sampler-under-test");
        var stats = CreateTestProbe();
        long request = 0;

        async Task<SamplerProtocol.Stats> StatsAsync()
        {
            sampler.Tell(SamplerProtocol.GetStats.Instance, stats);
            return await stats.ExpectMsgAsync<SamplerProtocol.Stats>();
        }

        async Task ExpectDumpAsync()
        {
            Assert.Equal(++request, (await Gateway.ExpectMsgAsync<DumpSubflows>()).RequestId);
        }

        async Task AnswerAsync(params Smapp.Netlink.Diag.SubflowDiag[] subflows)
        {
            sampler.Tell(new SubflowsDumped(request, subflows, Clock.Now, null), Gateway);
            await ExpectMsgAsync<SamplerProtocol.SampleBatch>();
            await StatsAsync();
        }

        async Task NoDumpWithinAsync(int ms)
        {
            Advance(ms);
            await Gateway.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(20));
        }

        sampler.Tell(new SamplerProtocol.Demand(1, TimeSpan.FromMilliseconds(100)), TestActor);
        await StatsAsync();
        Advance(0);
        await ExpectDumpAsync();
        await AnswerAsync(Diag(40000), Diag(40001));
        Assert.Equal(TimeSpan.FromMilliseconds(100), (await StatsAsync()).Interval);
        await NoDumpWithinAsync(99);
        Advance(1);
        await ExpectDumpAsync();

        // A retransmission timer backed off: the next dumps come every 20 ms.
        await AnswerAsync(Diag(40000), Diag(40001, backoff: 1));
        var s = await StatsAsync();
        Assert.Equal(TimeSpan.FromMilliseconds(20), s.Interval);
        Assert.Equal(1, s.FastEpisodes);
        await NoDumpWithinAsync(19);
        Advance(1);
        await ExpectDumpAsync();

        // Still at risk (the backoff is over, but no ACK for half the RTO): still fast.
        await AnswerAsync(Diag(40000), Diag(40001, unacked: 10, lastAckMs: 150, rtoUs: 300_000));
        Advance(20);
        await ExpectDumpAsync();

        // No subflow at risk: back to the demanded interval.
        await AnswerAsync(Diag(40000), Diag(40001, unacked: 10, lastAckMs: 2));
        Assert.Equal(TimeSpan.FromMilliseconds(100), (await StatsAsync()).Interval);
        await NoDumpWithinAsync(99);
        Advance(1);
        await ExpectDumpAsync();

        // A dump that took as long as the fast interval: fast ticks would only be skipped.
        Advance(20);
        await AnswerAsync(Diag(40001, backoff: 2));
        Assert.Equal(TimeSpan.FromMilliseconds(100), (await StatsAsync()).Interval);
        await NoDumpWithinAsync(79);
        Advance(1);
        await ExpectDumpAsync();

        // More subflows than a cheap dump holds: too dear to go fast.
        var many = Enumerable.Range(0, Smapp.Actors.Sampling.Sampler.MaxFastSubflows).Select(i => Diag((ushort)(20000 + i))).Append(Diag(40001, backoff: 2)).ToArray();
        await AnswerAsync(many);
        Assert.Equal(TimeSpan.FromMilliseconds(100), (await StatsAsync()).Interval);
        await NoDumpWithinAsync(99);
        Advance(1);
        await ExpectDumpAsync();

        // A cheap one again: fast; then the demand stops, and with it every tick.
        await AnswerAsync(Diag(40001, caState: 4));
        Assert.Equal(TimeSpan.FromMilliseconds(20), (await StatsAsync()).Interval);
        Assert.Equal(2, (await StatsAsync()).FastEpisodes);
        sampler.Tell(new SamplerProtocol.Demand(0, TimeSpan.Zero), TestActor);
        Assert.Equal(TimeSpan.Zero, (await StatsAsync()).Interval);
        await NoDumpWithinAsync(1000);

        // Demand at 20 ms or less: nothing to gain, the interval stays as demanded.
        sampler.Tell(new SamplerProtocol.Demand(1, TimeSpan.FromMilliseconds(20)), TestActor);
        await StatsAsync();
        Advance(0);
        await ExpectDumpAsync();
        await AnswerAsync(Diag(40001, backoff: 1));
        s = await StatsAsync();
        Assert.Equal(TimeSpan.FromMilliseconds(20), s.Interval);
        Assert.Equal(2, s.FastEpisodes);
    }
}
