using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>One two-path testbed (IPv4 and IPv6) shared by the tests of a class: client in userspace PM mode, server in-kernel.</summary>
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
