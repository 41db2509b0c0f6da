using Smapp.Tests.Support;

namespace Smapp.Tests.Kernel;

/// <summary>
/// `smapp ctl` and `smapp monitor` with bad arguments, as the built binary runs them: each is refused before anything
/// is sent (SMAPP_NETLINK_TRACE=1 would print every datagram sent as "nl>"), with one line that names the argument,
/// the value and the reason, exit code 2 (a kernel refusal is 1), and no stack trace.
/// </summary>
public class CtlValidationTests
{
    private static (int Code, string Stdout, string Stderr) Smapp(params string[] args) =>
        Shell.Run("dotnet", [Repo.SmappDll, .. args], TimeSpan.FromSeconds(60), new Dictionary<string, string> { ["SMAPP_NETLINK_TRACE"] = "1" });

    [Theory]
    [InlineData("--id", "256", "out of range", "ctl", "remove", "--token", "1", "--id", "256")]
    [InlineData("--id", "-1", "out of range", "ctl", "remove", "--token", "1", "--id", "-1")]
    [InlineData("--id", "one", "not an address id", "ctl", "remove", "--token", "1", "--id", "one")]
    [InlineData("--id", "0", "not a valid id here", "ctl", "announce", "--token", "1", "--addr", "192.0.2.1", "--id", "0")]
    [InlineData("--id", "256", "out of range", "ctl", "announce", "--token", "1", "--addr", "192.0.2.1", "--id", "256")]
    [InlineData("--id", "0", "not a valid id here", "ctl", "endpoint", "del", "--id", "0")]
    [InlineData("--id", "0", "not a valid id here", "ctl", "endpoint", "add", "--addr", "192.0.2.1", "--id", "0")]
    [InlineData("--local-id", "300", "out of range", "ctl", "subflow", "add", "--token", "1", "--local", "192.0.2.1", "--local-id", "300", "--remote", "203.0.113.1:80")]
    [InlineData("--count", "-1", "at least 1", "monitor", "--count", "-1")]
    [InlineData("--count", "0", "at least 1", "monitor", "--count", "0")]
    [InlineData("--samples", "0", "at least 1", "monitor", "--samples", "0")]
    [InlineData("--timeout", "-2", "more than 0", "monitor", "--timeout", "-2")]
    [InlineData("--token", "notanumber", "not a token", "ctl", "remove", "--token", "notanumber", "--id", "1")]
    [InlineData("--token", "0x1ffffffff", "not a token", "ctl", "remove", "--token", "0x1ffffffff", "--id", "1")]
    [InlineData("--token", "-5", "not a token", "ctl", "endpoint", "show", "--token", "-5")]
    [InlineData("--local", "300.1.1.1", "not an IP address", "ctl", "subflow", "add", "--token", "1", "--local", "300.1.1.1", "--local-id", "2", "--remote", "203.0.113.1:80")]
    [InlineData("--local", "192.0.2.1:5", "takes no port", "ctl", "subflow", "add", "--token", "1", "--local", "192.0.2.1:5", "--local-id", "2", "--remote", "203.0.113.1:80")]
    [InlineData("--remote", "203.0.113.1", "needs a port", "ctl", "subflow", "add", "--token", "1", "--local", "192.0.2.1", "--local-id", "2", "--remote", "203.0.113.1")]
    [InlineData("--local", "192.0.2.1:0", "no valid port", "ctl", "subflow", "del", "--token", "1", "--local", "192.0.2.1:0", "--remote", "203.0.113.1:80")]
    [InlineData("--remote", "203.0.113.1:65536", "no valid port", "ctl", "subflow", "del", "--token", "1", "--local", "192.0.2.1:5", "--remote", "203.0.113.1:65536")]
    [InlineData("--remote", "2001:db8::1", "address family", "ctl", "subflow", "add", "--token", "1", "--local", "192.0.2.1", "--local-id", "2", "--remote", "[2001:db8::1]:80")]
    [InlineData("--remote", "203.0.113.1", "address family", "ctl", "subflow", "backup", "on", "--token", "1", "--local", "2001:db8::1", "--remote", "203.0.113.1:80")]
    [InlineData("--flags", "sometimes", "not an endpoint flag", "ctl", "endpoint", "add", "--addr", "192.0.2.1", "--flags", "sometimes")]
    [InlineData("--subflows", "9", "between 0 and 8", "ctl", "limits", "--subflows", "9")]
    public void A_bad_argument_is_refused_before_anything_is_sent_naming_the_argument_the_value_and_the_reason(
        string argument, string value, string reason, params string[] args)
    {
        var r = Smapp(args);
        Assert.True(r.Code == 2, $"exit {r.Code}, stderr:\n{r.Stderr}");
        Assert.StartsWith("smapp: ", r.Stderr);
        var line = r.Stderr.Split('\n').First(l => l.Contains(argument));
        Assert.Contains($"'{value}'", line);
        Assert.Contains(reason, line);
        Assert.DoesNotContain("nl> ", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.DoesNotContain("Exception", r.Stderr);
    }

    [Theory]
    [InlineData("ctl", "remove", "--id", "1")]
    [InlineData("ctl", "subflow", "add", "--token", "1", "--local", "192.0.2.1", "--local-id", "2", "--remote", "203.0.113.1:80", "--no-such-option")]
    [InlineData("ctl", "no-such-command")]
    public void A_usage_error_of_the_parser_itself_exits_2_with_smapp_lines_only(params string[] args)
    {
        var r = Smapp(args);
        Assert.True(r.Code == 2, $"exit {r.Code}, stderr:\n{r.Stderr}");
        Assert.All(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => Assert.StartsWith("smapp: ", l));
        Assert.DoesNotContain("nl> ", r.Stderr);
    }
}

/// <summary>`smapp ctl list` in text counts every subflow sock_diag lists (mptcpi_subflows counts only the added ones).</summary>
public class CtlListCountTests(TwoPathFixture fx) : IClassFixture<TwoPathFixture>
{
    [Fact]
    public void Ctl_list_text_says_subflows_2_for_a_connection_with_two()
    {
        var bed = fx.Bed;
        var port = TwoPathFixture.NextPort();
        using var events = new EventCollector(bed.ClientNs);
        using var server = new Mptcp.Server(bed.ServerNs, System.Net.IPAddress.Any, port);
        using var socket = Mptcp.Connect(bed.ClientNs, bed.ServerAddress, port);
        var token = events.WaitFor(Smapp.Netlink.Mptcp.MptcpEventType.Established, e => e.DestinationPort == port).Token!.Value;
        var add = Shell.Smapp("ctl", "subflow", "add", "--netns", bed.ClientNs, "--token", token.ToString(), "--local", bed.ClientAddress2.ToString(),
            "--local-id", "2", "--remote", $"{bed.ServerAddress}:{port}");
        Assert.True(add.Code == 0, add.Stderr);
        events.WaitFor(Smapp.Netlink.Mptcp.MptcpEventType.SubEstablished, e => e.Token == token);

        var list = Shell.Smapp("ctl", "list", "--netns", bed.ClientNs);
        Assert.True(list.Code == 0, list.Stderr);
        var block = list.Stdout.Split("token ").Single(b => b.StartsWith($"{token:x8}"));
        Assert.Contains("subflows=2", block);
        Assert.Equal(2, block.Split('\n').Count(l => l.TrimStart().StartsWith("subflow ")));
    }
}
