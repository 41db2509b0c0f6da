using Smapp.Policy;

namespace Smapp.Tests.Policy;

/// <summary>server-guard: refuses subflows beyond the limit, or a second one from the same remote address.</summary>
public class ServerGuardPolicyTests
{
    private static readonly DateTimeOffset T0 = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>A server connection 192.0.2.1:443 &lt;- <paramref name="client"/> on its initial subflow.</summary>
    private static FakeConnectionContext Server(string client = "203.0.113.1:50000")
    {
        var ctx = new FakeConnectionContext(Side.Server, "192.0.2.1:443", client);
        ctx.AddInitialSubflow();
        ctx.AddLocal("192.0.2.1");
        return ctx;
    }

    [Theory]
    // max, one-per-address, initial client, subflows already joined (';'), the new one, refused?
    [InlineData(2, true, "203.0.113.1:50000", "", "203.0.113.2:50001", false)]
    [InlineData(2, true, "203.0.113.1:50000", "203.0.113.2:50001", "203.0.113.3:50002", true)]
    [InlineData(3, true, "203.0.113.1:50000", "203.0.113.2:50001", "203.0.113.3:50002", false)]
    [InlineData(1, true, "203.0.113.1:50000", "", "203.0.113.2:50001", true)]
    [InlineData(4, true, "203.0.113.1:50000", "", "203.0.113.1:50001", true)]
    [InlineData(4, false, "203.0.113.1:50000", "", "203.0.113.1:50001", false)]
    [InlineData(2, false, "203.0.113.1:50000", "203.0.113.1:50001", "203.0.113.1:50002", true)]
    [InlineData(4, true, "[::ffff:203.0.113.1]:50000", "", "203.0.113.1:50001", true)]
    [InlineData(4, true, "203.0.113.1:50000", "", "[::ffff:203.0.113.1]:50001", true)]
    [InlineData(4, true, "[2001:db8::1]:50000", "", "[2001:db8::1]:50001", true)]
    [InlineData(4, true, "[2001:db8::1]:50000", "", "[2001:db8::2]:50001", false)]
    public void Server_guard_refuses_a_subflow_beyond_the_limit_or_from_an_address_that_has_one(
        int max, bool onePerAddress, string client, string joined, string newcomer, bool refused)
    {
        var ctx = Server(client);
        foreach (var j in joined.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            ctx.AddSubflow("192.0.2.1:443", j);
        }

        var s = ctx.AddSubflow("192.0.2.1:443", newcomer);
        new ServerGuardPolicy(max, onePerAddress).OnSubflowEstablished(ctx, s);

        if (refused)
        {
            Assert.Equal([s], ctx.Closed);
            Assert.Contains(ctx.Logs, l => l.Decision == "refuse");
        }
        else
        {
            Assert.Empty(ctx.Closed);
        }
    }

    [Fact]
    public void Server_guard_ignores_subflows_that_are_not_established_or_already_refused()
    {
        var ctx = Server();
        ctx.AddSubflow("192.0.2.1:443", "203.0.113.2:50001", SubflowPhase.Closed);
        var refused = ctx.AddSubflow("192.0.2.1:443", "203.0.113.3:50002");
        refused.Abandoned = true;
        var s = ctx.AddSubflow("192.0.2.1:443", "203.0.113.2:50003");
        new ServerGuardPolicy(2, true).OnSubflowEstablished(ctx, s);
        Assert.Empty(ctx.Closed);
    }

    [Fact]
    public void Server_guard_on_takeover_keeps_the_oldest_subflows_within_the_limit()
    {
        var ctx = Server();
        // Listed out of age order, as a dump may list them.
        var newest = ctx.AddSubflow("192.0.2.1:443", "203.0.113.4:50003", establishedAt: T0.AddSeconds(3));
        var oldest = ctx.AddSubflow("192.0.2.1:443", "203.0.113.2:50001", establishedAt: T0.AddSeconds(1));
        var middle = ctx.AddSubflow("192.0.2.1:443", "203.0.113.3:50002", establishedAt: T0.AddSeconds(2));

        new ServerGuardPolicy(2, true).OnEstablished(ctx);

        Assert.Equal(new[] { middle.Id, newest.Id }.Order(), ctx.Closed.Select(s => s.Id).Order());
        Assert.False(oldest.Abandoned);
        Assert.False(ctx.Subflows.Single(s => s.Initial).Abandoned);
    }

    [Fact]
    public void Server_guard_on_takeover_keeps_the_oldest_subflow_of_each_remote_address()
    {
        var ctx = Server();
        var younger = ctx.AddSubflow("192.0.2.1:443", "[::ffff:203.0.113.2]:50002", establishedAt: T0.AddSeconds(2));
        var older = ctx.AddSubflow("192.0.2.1:443", "203.0.113.2:50001", establishedAt: T0.AddSeconds(1));
        var sameAsInitial = ctx.AddSubflow("192.0.2.1:443", "203.0.113.1:50003", establishedAt: T0.AddSeconds(0.5));

        new ServerGuardPolicy(8, true).OnEstablished(ctx);

        Assert.Equal(new[] { younger.Id, sameAsInitial.Id }.Order(), ctx.Closed.Select(s => s.Id).Order());
        Assert.False(older.Abandoned);
    }

    [Fact]
    public void Server_guard_on_an_ordinary_establishment_refuses_nothing()
    {
        var ctx = Server();
        new ServerGuardPolicy(1, true).OnEstablished(ctx);
        Assert.Empty(ctx.Closed);
    }
}
