using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>
/// One two-path testbed (IPv4 and IPv6) shared by the tests of a class: client in userspace PM mode, server in-kernel.
/// </summary>
/// <remarks>
/// Sharing rules. xunit gives each class that declares <c>IClassFixture&lt;TwoPathFixture&gt;</c> its own instance (its
/// own namespaces), and runs the tests of one class one after another (a class is one test collection; collections run
/// in parallel with each other, never the tests inside one). So no two tests use one testbed at the same time — but a
/// test does see what the previous test's connections still report while they close (CLOSED, SUB_CLOSED), and every
/// collector sees every connection of the namespace. Each test therefore uses a port of its own
/// (<see cref="NextPort"/>) and matches only its own connection: by its socket's local port and that port, then by the
/// tokens found so. Never wait for an event of a type alone, and never count all events of the namespace.
/// Do not turn this into a collection fixture shared across classes without giving those classes one collection.
/// </remarks>
public sealed class TwoPathFixture : IDisposable
{
    private static int _port = 6000;

    public TwoPathFixture()
    {
        Bed = Testbed.Up("two-path", "--ipv6");
    }

    public Testbed Bed { get; }

    /// <summary>A fresh port per server, so tests of one class never share a listener.</summary>
    public static int NextPort() => Interlocked.Increment(ref _port);

    public void Dispose() => Bed.Dispose();
}
