namespace Smapp.Actors.Configuration;

/// <summary>Settings of the supervisor.</summary>
/// <param name="ConnectionDispatcher">Dispatcher of the connection actors (the event loop's in production; null: the default).</param>
/// <param name="Takeover">Adopt the connections that exist at start.</param>
/// <param name="Mailbox">Mailbox of the connection and subflow actors (null: Akka's default).</param>
/// <param name="SampleInterval">The sampler's interval for policies that do not ask for their own (null: 100 ms).</param>
/// <param name="Direct">
/// The supervisor and its connections run on the gateway's own event loop: events reach the connections by direct
/// calls on the loop thread and their commands go straight to the kernel (the production wiring). Off, everything
/// goes by message.
/// </param>
/// <param name="DecisionsAtInfo">Policies' decision logs at Info (else Debug: one line per connection costs the next connection's reaction).</param>
public sealed record SupervisorSettings(string? ConnectionDispatcher, bool Takeover, int MaxRestarts = 10, TimeSpan? RestartWindow = null, string? Mailbox = null, TimeSpan? SampleInterval = null, bool Direct = false, bool DecisionsAtInfo = true);
