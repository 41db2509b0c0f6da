using System.Collections.Immutable;
using System.Net;
using Akka.Event;
using BenchmarkDotNet.Attributes;
using Smapp.Actors.Configuration;
using Smapp.Actors.Connections;
using Smapp.Actors.Gateway;
using Smapp.Netlink;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Wire;
using Smapp.Policy;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Benchmarks;

/// <summary>
/// The managed work of one reaction, as the daemon does it on its loop thread (BenchmarkDotNet): decode the captured
/// CREATED and ESTABLISHED datagrams, start the connection's core, run fullmesh's OnEstablished, and encode its
/// SUBFLOW_CREATE into the command channel (whose socket here takes the bytes and does nothing).
/// </summary>
[MemoryDiagnoser]
public class ReactionPathBenchmarks : IConnectionHost, INetlinkSink<MptcpEvent>
{
    // Captured from kernel 6.18 (Smapp.Tests/Fixtures/event-cli-created.hex, event-cli-established.hex).
    private static readonly byte[] CreatedBytes = Load("event-cli-created");
    private static readonly byte[] EstablishedBytes = Load("event-cli-established");

    private readonly MptcpEventBatchDecoder _decoder = new(0x1c);
    private readonly ImmutableList<LocalAddress> _locals = [new(IPAddress.Parse("192.0.2.1"), 2, "wifi"), new(IPAddress.Parse("198.51.100.1"), 3, "cell")];
    private readonly PolicyChoice _choice = PolicySelector.Defaults("fullmesh").Select(Side.Client, new Endpoint(IPAddress.Parse("192.0.2.1"), 1), new Endpoint(IPAddress.Parse("203.0.113.1"), 5201));
    private CommandChannel _channel = null!;
    private ConnectionCore? _core;
    private MptcpEvent? _last;

    [GlobalSetup]
    public void Setup() => _channel = new CommandChannel(new NullConnection(), 0x1c, TimeSpan.FromTicks(-1), new AnnounceListeners()); // answered (timed out) at once by the sweep

    [Benchmark]
    public long CreatedThenEstablishedToSubflowCreate()
    {
        _decoder.Dispatch(CreatedBytes, this);
        _core = new ConnectionCore(_choice, this);
        _core.StartFromEvent(_last!.Token!.Value, _last, _locals);
        _decoder.Dispatch(EstablishedBytes, this);
        _core.OnEvent(_last);
        _channel.Sweep();
        return _channel.Sent;
    }

    private static byte[] Load(string name)
    {
        var dir = AppContext.BaseDirectory;
        for (var d = new DirectoryInfo(dir); d is not null; d = d.Parent)
        {
            var f = Path.Combine(d.FullName, "Smapp.Tests", "Fixtures", name + ".hex");
            if (File.Exists(f))
            {
                return Convert.FromHexString(File.ReadLines(f).First(l => l.Length > 0 && !l.StartsWith('#')));
            }
        }

        throw new FileNotFoundException(name);
    }

    void INetlinkSink<MptcpEvent>.OnItem(MptcpEvent item, ReadOnlySpan<byte> raw) => _last = item;

    void INetlinkSink<MptcpEvent>.OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram) => throw new InvalidOperationException(error.ToString());

    void INetlinkSink<MptcpEvent>.OnLost()
    {
    }

    // The core's host: commands go to the channel; no timers are needed on this path.
    public DateTimeOffset Now => DateTimeOffset.UnixEpoch;

    public ILoggingAdapter Log => NoLogger.Instance;

    public bool DecisionsAtInfo => false;

    public void Send(PmCommand command) => _channel.Send(command, NoReplies.Instance);

    public void StartReopenTimer(int subflowId, TimeSpan delay) => throw new InvalidOperationException();

    public void CancelReopenTimer(int subflowId)
    {
    }

    public void StartPolicyTimer(string key, TimeSpan delay, bool repeat) => throw new InvalidOperationException();

    public void CancelPolicyTimer(string key)
    {
    }

    public void Finished()
    {
    }

    private sealed class NoReplies : ICommandReplies
    {
        public static readonly NoReplies Instance = new();

        public void OnResult(CommandResult result)
        {
        }
    }

    /// <summary>Takes what is written and never answers.</summary>
    private sealed class NullConnection : INetlinkConnection
    {
        private uint _seq;

        public uint NextSequence() => ++_seq;

        public void Send(ReadOnlySpan<byte> data)
        {
        }

        public ReceiveStatus Receive(bool block = true) => ReceiveStatus.WouldBlock;

        public ReadOnlySpan<byte> Received => [];
    }
}
