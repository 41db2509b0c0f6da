using System.Collections.Immutable;
using System.Net;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Smapp.Actors.Configuration;
using Smapp.Actors.Connections;
using Smapp.Actors.Gateway;
using Smapp.Actors.Local;
using Smapp.Policy;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Xunit.Abstractions;

namespace Smapp.Tests.Actors;

/// <summary>
/// The controller's actors with the gateway, the local-address actor and the sampler replaced by probes, and time
/// virtual: a test moves the clock with <see cref="Advance"/> and nothing ever sleeps.
/// </summary>
public abstract class ControllerTestKit : Akka.TestKit.Xunit2.TestKit
{
    public static readonly Config TestConfig = ConfigurationFactory.ParseString("""
        akka.scheduler.implementation = "Akka.TestKit.TestScheduler, Akka.TestKit"
        akka.loglevel = WARNING
        akka.stdout-loglevel = WARNING
        akka.test.single-expect-default = 5s
        """);

    public static readonly IPAddress Local1 = IPAddress.Parse("192.0.2.1");
    public static readonly IPAddress Local2 = IPAddress.Parse("198.51.100.1");
    public static readonly IPAddress Local6 = IPAddress.Parse("2001:db8::1");
    public static readonly IPAddress Remote1 = IPAddress.Parse("203.0.113.1");

    /// <summary>A short real-time window for "nothing more comes": only used when virtual time says nothing is due.</summary>
    protected static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(150);

    protected ControllerTestKit(ITestOutputHelper output)
        : base(TestConfig, output: output)
    {
        Gateway = CreateTestProbe("gateway");
        LocalAddresses = CreateTestProbe("local-addresses");
        Sampler = CreateTestProbe("sampler");
    }

    protected TestProbe Gateway { get; }

    protected TestProbe LocalAddresses { get; }

    protected TestProbe Sampler { get; }

    protected IActorRef Supervisor { get; private set; } = ActorRefs.Nobody;

    protected TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    protected void Advance(TimeSpan by) => Clock.Advance(by);

    protected void Advance(int ms) => Clock.Advance(TimeSpan.FromMilliseconds(ms));

    public static LocalAddress Addr(IPAddress a, string ifName = "eth0", int ifIndex = 2) => new(a, ifIndex, ifName);

    public static readonly LocalAddress Eth0 = Addr(Local1, "eth0", 2);
    public static readonly LocalAddress Wlan0 = Addr(Local2, "wlan0", 3);
    public static readonly LocalAddress Eth0V6 = Addr(Local6, "eth0", 2);

    /// <summary>Starts the supervisor, checks its subscriptions and gives it the local addresses.</summary>
    protected async Task<IActorRef> StartSupervisorAsync(PolicySelector selector, bool takeover = false, params LocalAddress[] locals)
    {
        Supervisor = Sys.ActorOf(ConnectionSupervisor.Props(Gateway, LocalAddresses, Sampler, selector, new SupervisorSettings(null, takeover)), "connections");
        var sub = await LocalAddresses.ExpectMsgAsync<LocalAddressesProtocol.Subscribe>();
        Assert.Equal(Supervisor, sub.Subscriber);
        var events = await Gateway.ExpectMsgAsync<GatewayProtocol.SubscribeEvents>();
        Assert.Equal(Supervisor, events.Subscriber);
        if (takeover)
        {
            var dump = await Gateway.ExpectMsgAsync<GatewayProtocol.DumpConnections>();
            Assert.Equal(GatewayProtocol.DumpPurpose.Takeover, dump.Purpose);
            Assert.Null(dump.Token);
        }

        Supervisor.Tell(new LocalAddressesProtocol.Snapshot(locals.ToImmutableList()), LocalAddresses.Ref);
        return Supervisor;
    }

    // --- kernel events ---------------------------------------------------------------------------------------------

    public static MptcpEvent Connection(MptcpEventType type, uint token, IPAddress? local = null, ushort localPort = 40000, IPAddress? remote = null, ushort remotePort = 443, bool server = false) => new()
    {
        Type = type,
        Token = token,
        SourceAddress = local ?? Local1,
        SourcePort = localPort,
        DestinationAddress = remote ?? Remote1,
        DestinationPort = remotePort,
        LocalId = 0,
        RemoteId = 0,
        ServerSide = server,
    };

    public static MptcpEvent Created(uint token, ushort localPort = 40000, bool server = false, IPAddress? local = null, IPAddress? remote = null, ushort remotePort = 443) =>
        Connection(MptcpEventType.Created, token, local, localPort, remote, remotePort, server);

    public static MptcpEvent Established(uint token, ushort localPort = 40000, bool server = false, IPAddress? local = null, IPAddress? remote = null, ushort remotePort = 443) =>
        Connection(MptcpEventType.Established, token, local, localPort, remote, remotePort, server);

    public static MptcpEvent Closed(uint token) => new() { Type = MptcpEventType.Closed, Token = token };

    public static MptcpEvent SubEstablished(uint token, IPAddress local, ushort localPort, byte localId = 1, IPAddress? remote = null, ushort remotePort = 443, byte remoteId = 0) => new()
    {
        Type = MptcpEventType.SubEstablished,
        Token = token,
        SourceAddress = local,
        SourcePort = localPort,
        DestinationAddress = remote ?? Remote1,
        DestinationPort = remotePort,
        LocalId = localId,
        RemoteId = remoteId,
        Backup = false,
    };

    public static MptcpEvent SubClosed(uint token, IPAddress local, ushort localPort, byte error, IPAddress? remote = null, ushort remotePort = 443) => new()
    {
        Type = MptcpEventType.SubClosed,
        Token = token,
        SourceAddress = local,
        SourcePort = localPort,
        DestinationAddress = remote ?? Remote1,
        DestinationPort = remotePort,
        Error = error,
    };

    public static MptcpEvent Announced(uint token, IPAddress address, byte id, ushort? port = null) => new()
    {
        Type = MptcpEventType.Announced,
        Token = token,
        DestinationAddress = address,
        DestinationPort = port,
        RemoteId = id,
    };

    public static MptcpEvent Removed(uint token, byte id) => new() { Type = MptcpEventType.Removed, Token = token, RemoteId = id };

    // --- sock_diag views ------------------------------------------------------------------------------------------

    public static ConnectionDiag ConnDiag(uint token, IPAddress local, ushort localPort, IPAddress remote, ushort remotePort, uint flags = 0) =>
        new(new SocketId(local, localPort, remote, remotePort, 0, token), 1, new MptcpInfo { Token = token, Flags = flags });

    public static SubflowDiag SubDiag(uint token, IPAddress local, ushort localPort, IPAddress remote, ushort remotePort, byte localId = 0, byte remoteId = 0, uint rtoUs = 200_000, byte backoff = 0, uint rttUs = 10_000, uint cwnd = 10) =>
        new(new SocketId(local, localPort, remote, remotePort, 0, (ulong)localPort), 1, token, ~token, localId, remoteId, 0,
            new TcpInfo { RtoUs = rtoUs, Backoff = backoff, RttUs = rttUs, SndCwnd = cwnd });

    public static ConnectionDiag Listener(IPAddress address, ushort port) =>
        new(new SocketId(address, port, IPAddress.Any, 0, 0, 1), 10, new MptcpInfo());

    // --- looking at the actors ---------------------------------------------------------------------------------------

    protected async Task<ConnectionProtocol.ConnectionState> StateAsync(uint token)
    {
        var probe = CreateTestProbe();
        Supervisor.Tell(new ConnectionSupervisor.ToConnection(token, ConnectionProtocol.GetState.Instance), probe);
        return await probe.ExpectMsgAsync<ConnectionProtocol.ConnectionState>();
    }

    protected async Task<ConnectionProtocol.ConnectionsState> SupervisorStateAsync()
    {
        var probe = CreateTestProbe();
        Supervisor.Tell(ConnectionProtocol.GetState.Instance, probe);
        return await probe.ExpectMsgAsync<ConnectionProtocol.ConnectionsState>();
    }

    protected async Task<IActorRef?> IdentifyAsync(ActorPath path)
    {
        var probe = CreateTestProbe();
        Sys.ActorSelection(path).Tell(new Identify(path.ToString()), probe);
        return (await probe.ExpectMsgAsync<ActorIdentity>()).Subject;
    }

    protected ActorPath ConnectionPath(uint token) => Supervisor.Path / $"c-{token:x8}";

    /// <summary>
    /// Waits until the connection has handled what was sent to it so far, so that the timers it starts are
    /// registered at the current virtual time before the test moves the clock.
    /// </summary>
    protected Task<ConnectionProtocol.ConnectionState> SettleAsync(uint token) => StateAsync(token);

    /// <summary>The next gateway command of type <typeparamref name="T"/>, and who sent it.</summary>
    protected async Task<(T Command, IActorRef Sender)> ExpectCommandAsync<T>()
        where T : GatewayProtocol.PmCommand
    {
        var c = await Gateway.ExpectMsgAsync<T>();
        return (c, Gateway.LastSender);
    }

    protected static void Reply(IActorRef to, GatewayProtocol.PmCommand command, int errno = 0, string? message = null) =>
        to.Tell(new GatewayProtocol.CommandResult(command, errno, message));
}
