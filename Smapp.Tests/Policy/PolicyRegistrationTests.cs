using System.Reflection;
using Smapp.Policy;

namespace Smapp.Tests.Policy;

/// <summary>A policy registers for events by listing them; only those reach it, and only they make samples run.</summary>
public class PolicyRegistrationTests
{
    [Fact]
    public void Fullmesh_registers_for_the_address_and_subflow_events_and_not_for_samples()
    {
        var e = new FullmeshPolicy().Subscriptions;
        Assert.Equal(
            PolicyEvents.Established | PolicyEvents.LocalAddressAdded | PolicyEvents.LocalAddressRemoved |
            PolicyEvents.Announced | PolicyEvents.Removed | PolicyEvents.SubflowClosed |
            PolicyEvents.SubflowEstablished | PolicyEvents.Timer, // the cap on subflows it did not open; the refill once those given up on are gone
            e);
        Assert.False(PolicyRegistration.NeedsSamples(e));
    }

    public static TheoryData<string> BuiltIns => new(BuiltInPolicies.All.Keys);

    /// <summary>
    /// The declared subscriptions of each built-in policy are exactly the callbacks it overrides: a callback it
    /// overrides but did not register for would never be called, one it registered for but does not override costs
    /// a call for nothing.
    /// </summary>
    [Theory]
    [MemberData(nameof(BuiltIns))]
    public void A_built_in_policy_registers_for_exactly_the_callbacks_it_overrides(string name)
    {
        var definition = BuiltInPolicies.All[name];
        var policy = definition.Create(PolicyParameters.Defaults(definition.Parameters));
        Assert.Equal(Overridden(policy.GetType()), policy.Subscriptions);
    }

    [Theory]
    [InlineData(PolicyEvents.Sample, true)]
    [InlineData(PolicyEvents.SubflowTimeout, true)]
    [InlineData(PolicyEvents.SubflowTimeout | PolicyEvents.Timer, true)]
    [InlineData(PolicyEvents.Established | PolicyEvents.SubflowClosed, false)]
    [InlineData(PolicyEvents.None, false)]
    public void Only_a_policy_registered_for_samples_or_timeouts_needs_samples(PolicyEvents e, bool expected) =>
        Assert.Equal(expected, PolicyRegistration.NeedsSamples(e));

    [Fact]
    public void A_policy_can_register_for_an_event_whose_callback_a_base_class_overrides()
    {
        var policy = new DerivedSamplingPolicy();
        Assert.Equal(PolicyEvents.Sample | PolicyEvents.CommandResult, policy.Subscriptions);
        Assert.Equal(Overridden(typeof(DerivedSamplingPolicy)), policy.Subscriptions);
    }

    /// <summary>The events whose callbacks <paramref name="type"/> (or a base class of its own) overrides.</summary>
    private static PolicyEvents Overridden(Type type)
    {
        var e = PolicyEvents.None;
        foreach (var flag in Enum.GetValues<PolicyEvents>().Where(f => f != PolicyEvents.None))
        {
            var method = type.GetMethod("On" + flag, BindingFlags.Public | BindingFlags.Instance);
            Assert.NotNull(method);
            if (method!.DeclaringType != typeof(SubflowPolicy))
            {
                e |= flag;
            }
        }

        return e;
    }

    public class BaseSamplingPolicy : SubflowPolicy
    {
        public override string Name => "base";

        public override PolicyEvents Subscriptions => PolicyEvents.Sample;

        public override void OnSample(IConnectionContext ctx) { }
    }

    /// <summary>Inherits OnSample from its base and overrides one more callback itself.</summary>
    public sealed class DerivedSamplingPolicy : BaseSamplingPolicy
    {
        public override string Name => "derived";

        public override PolicyEvents Subscriptions => base.Subscriptions | PolicyEvents.CommandResult;

        public override void OnCommandResult(IConnectionContext ctx, CommandOutcome outcome) { }
    }
}
