using System.Net;
using Smapp.Netlink.Mptcp;
using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>
/// At the default log level a busy daemon writes no line per connection (200,000 connections once wrote 400,001
/// lines): connections taken over at start, and connections that open, get their subflows, lose an address and close,
/// leave the log as it was; the same at --log-level debug does write them (so the check can fail).
/// </summary>
public class QuietLogKernelTests
{
    private const int Connections = 12;

    private static List<uint> Churn(Testbed bed, int port)
    {
        using var events = new EventCollector(bed.ClientNs);
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, port);
        var tokens = new List<uint>();
        var sockets = new List<System.Net.Sockets.Socket>();
        for (var i = 0; i < Connections; i++)
        {
            var s = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, port);
            sockets.Add(s);
            var port0 = ((IPEndPoint)s.LocalEndPoint!).Port;
            var token = events.WaitFor(MptcpEventType.Established, e => e.SourcePort == port0).Token!.Value;
            events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == token, TimeSpan.FromSeconds(10));
            tokens.Add(token);
        }

        // The cellular address goes away under every connection (each subflow on it closed), comes back, and they close.
        bed.Set("cell", "--addr-del");
        foreach (var t in tokens)
        {
            events.WaitFor(MptcpEventType.SubClosed, e => e.Token == t, TimeSpan.FromSeconds(10));
        }

        bed.Set("cell", "--addr-add");
        foreach (var s in sockets)
        {
            s.Dispose();
        }

        foreach (var t in tokens)
        {
            events.WaitFor(MptcpEventType.Closed, e => e.Token == t, TimeSpan.FromSeconds(10));
        }

        return tokens;
    }

    [Fact]
    public void At_the_default_level_connections_write_no_line_each_and_at_debug_they_do()
    {
        using var bed = Testbed.Up("two-path");

        // Connections that exist before the daemon starts are taken over: one summary line, not one each.
        using var events = new EventCollector(bed.ClientNs);
        using var server = new Mptcp.Server(bed.ServerNs, IPAddress.Any, 5203);
        var existing = new List<System.Net.Sockets.Socket>();
        var existingTokens = new List<uint>();
        for (var i = 0; i < Connections; i++)
        {
            var s = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, 5203);
            existing.Add(s);
            var port0 = ((IPEndPoint)s.LocalEndPoint!).Port;
            existingTokens.Add(events.WaitFor(MptcpEventType.Established, e => e.SourcePort == port0).Token!.Value);
        }

        using (var quiet = SmappProcess.Start("--netns", bed.ClientNs))
        {
            quiet.WaitFor($"start-up takeover: {Connections} live MPTCP connections found and adopted");
            quiet.WaitFor("smapp ready"); // the start-up lines are all written: what comes later is the connections'
            foreach (var t in existingTokens)
            {
                events.WaitFor(MptcpEventType.SubEstablished, e => e.Token == t, TimeSpan.FromSeconds(10));
            }

            foreach (var s in existing)
            {
                s.Dispose();
            }

            foreach (var t in existingTokens)
            {
                events.WaitFor(MptcpEventType.Closed, e => e.Token == t, TimeSpan.FromSeconds(10));
            }

            var before = quiet.Lines.Count(l => !l.Contains("start-up takeover") && !l.Contains("smapp running") && !l.Contains("netlink gateway up") && !l.Contains("local address")
                && !l.Contains("status socket") && !l.Contains("application socket") && !l.Contains("smapp ready"));
            Assert.True(before < Connections / 2, $"{before} lines for {Connections} connections taken over:\n{quiet.Output}");
            before = quiet.Lines.Count;
            var tokens = Churn(bed, 5201);
            Assert.Equal(0, quiet.Terminate());
            var during = quiet.Lines.Skip(before).Where(l => !l.Contains("smapp stopped") && !l.Contains("local address")).ToList();
            Assert.True(during.Count < Connections / 2, $"{during.Count} lines for {Connections} connections:\n{string.Join('\n', during)}");
            Assert.DoesNotContain(quiet.Lines, l => tokens.Concat(existingTokens).Any(t => l.Contains($"{t:x8}")));
        }

        using var verbose = SmappProcess.Start("--netns", bed.ClientNs, "--log-level", "debug");
        verbose.WaitFor("start-up takeover");
        var tokens2 = Churn(bed, 5202);
        Assert.Equal(0, verbose.Terminate());
        Assert.True(tokens2.Count(t => verbose.Output.Contains($"{t:x8}")) == Connections, verbose.Output);
    }
}
