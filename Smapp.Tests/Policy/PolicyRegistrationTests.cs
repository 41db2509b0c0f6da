using Smapp.Policy;

namespace Smapp.Tests.Policy;

/// <summary>A policy registers for exactly the events whose callbacks it overrides.</summary>
public class PolicyRegistrationTests
{
    [Fact]
    public void Fullmesh_registers_the_address_and_subflow_events_it_overrides_and_not_samples()
    {
        var e = PolicyRegistration.Of(typeof(FullmeshPolicy));
        Assert.Equal(
            PolicyEvents.Established | PolicyEvents.LocalAddressAdded | PolicyEvents.LocalAddressRemoved |
            PolicyEvents.Announced | PolicyEvents.Removed | PolicyEvents.SubflowClosed,
            e);
        Assert.False(e.HasFlag(PolicyEvents.Sample));
        Assert.False(PolicyRegistration.NeedsSamples(e));
    }

    [Theory]
    [InlineData(typeof(NdiffportsPolicy), PolicyEvents.Established | PolicyEvents.LocalAddressRemoved | PolicyEvents.SubflowClosed)]
    [InlineData(typeof(ServerGuardPolicy), PolicyEvents.Established | PolicyEvents.SubflowEstablished)]
    [InlineData(typeof(PassivePolicy), PolicyEvents.None)]
    [InlineData(typeof(SamplingPolicy), PolicyEvents.Sample)]
    [InlineData(typeof(TimeoutPolicy), PolicyEvents.SubflowTimeout | PolicyEvents.Timer)]
    [InlineData(typeof(DerivedSamplingPolicy), PolicyEvents.Sample | PolicyEvents.CommandResult)]
    public void Registered_events_are_the_overridden_callbacks(Type type, PolicyEvents expected) =>
        Assert.Equal(expected, PolicyRegistration.Of(type));

    [Theory]
    [InlineData(typeof(SamplingPolicy), true)]
    [InlineData(typeof(TimeoutPolicy), true)]
    [InlineData(typeof(DerivedSamplingPolicy), true)]
    [InlineData(typeof(FullmeshPolicy), false)]
    [InlineData(typeof(NdiffportsPolicy), false)]
    [InlineData(typeof(ServerGuardPolicy), false)]
    [InlineData(typeof(PassivePolicy), false)]
    public void Only_a_policy_overriding_OnSample_or_OnSubflowTimeout_needs_samples(Type type, bool expected) =>
        Assert.Equal(expected, PolicyRegistration.NeedsSamples(PolicyRegistration.Of(type)));

    public sealed class SamplingPolicy : SubflowPolicy
    {
        public override string Name => "sampling";

        public override void OnSample(IConnectionContext ctx) { }
    }

    public sealed class TimeoutPolicy : SubflowPolicy
    {
        public override string Name => "timeout";

        public override void OnSubflowTimeout(IConnectionContext ctx, Subflow subflow, TimeSpan rto) { }

        public override void OnTimer(IConnectionContext ctx, string key) { }
    }

    public class BaseSamplingPolicy : SubflowPolicy
    {
        public override string Name => "base";

        public override void OnSample(IConnectionContext ctx) { }
    }

    /// <summary>Inherits OnSample from its base and overrides one more callback itself.</summary>
    public sealed class DerivedSamplingPolicy : BaseSamplingPolicy
    {
        public override string Name => "derived";

        public override void OnCommandResult(IConnectionContext ctx, CommandOutcome outcome) { }
    }
}
