using System.Diagnostics;
using System.Net;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>The controller (actors + policies) against the real kernel on the two-path testbed.</summary>
public class ControllerKernelTests
{
    [Fact]
    public void Fullmesh_opens_a_subflow_on_the_second_path_within_a_second_of_established()
    {
        using var bed = Testbed.Up("two-path");
        using var daemon = Daemon.Start(bed.ClientNs);
        using var events = new EventCollector(bed.ClientNs);
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5201);
        Thread.Sleep(300);
        using var socket = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5201);
        var est = events.WaitFor(MptcpEventType.Established);
        var sw = Stopwatch.StartNew();
        var sub = events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == est.Token, TimeSpan.FromSeconds(1));
        Assert.Equal(bed.ClientAddress2, sub.SourceAddress);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1));
        var state = daemon.State(est.Token!.Value);
        Assert.Equal("fullmesh", state.Policy);
        Assert.Equal(2, state.Subflows.Count);
    }
}
