using Smapp.Policy;

namespace Smapp.Actors.Configuration;

/// <summary>The policy a connection gets, chosen by the rules.</summary>
public sealed record PolicyChoice(string Name, Func<SubflowPolicy> Create, PolicyEvents Events, TimeSpan? SampleInterval, string Rule)
{
    public bool NeedsSamples => PolicyRegistration.NeedsSamples(Events);
}
