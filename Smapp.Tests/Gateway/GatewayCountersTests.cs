using System.Buffers.Binary;
using System.Net;
using Smapp.Actors.Gateway;
using Smapp.Netlink;
using Smapp.Netlink.Mptcp;
using Smapp.Tests.Support;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Tests.Gateway;

/// <summary>The gateway's counters: command outcomes by kind and errno (through the command channel), events, latency.</summary>
public class GatewayCountersTests
{
    private static readonly MptcpAddress Local = new(IPAddress.Parse("198.51.100.1"), 1);
    private static readonly MptcpAddress Remote = new(IPAddress.Parse("203.0.113.1"), null, 443);

    private sealed class FakeConnection : INetlinkConnection
    {
        private readonly Queue<byte[]> _answers = new();
        private byte[] _received = [];
        private uint _seq = 100;

        public List<byte[]> Written { get; } = [];

        public uint NextSequence() => ++_seq;

        public void Send(ReadOnlySpan<byte> data) => Written.Add(data.ToArray());

        public ReceiveStatus Receive(bool block = true)
        {
            if (!_answers.TryDequeue(out var d))
            {
                return ReceiveStatus.WouldBlock;
            }

            _received = d;
            return ReceiveStatus.Datagram;
        }

        public ReadOnlySpan<byte> Received => _received;

        public void Answer(string fixture, byte[] request)
        {
            var d = Fixture.Load(fixture).Single.ToArray();
            BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(8), BinaryPrimitives.ReadUInt32LittleEndian(request.AsSpan(8)));
            _answers.Enqueue(d);
        }
    }

    private sealed class Replies : ICommandReplies
    {
        public void OnResult(CommandResult result)
        {
        }
    }

    private sealed class Recorder : ILatencySink
    {
        public List<double> Seen { get; } = [];

        public void Observe(double seconds) => Seen.Add(seconds);
    }

    [Fact]
    public void Command_outcomes_are_counted_by_kind_and_errno_as_the_kernel_answers_them()
    {
        var counters = new GatewayCounters();
        var socket = new FakeConnection();
        var now = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var channel = new CommandChannel(socket, 0x1c, TimeSpan.FromSeconds(5), new AnnounceListeners(), () => now) { Counters = counters };
        var replies = new Replies();
        channel.Send(new CreateSubflow(1, 1, Local, Remote), replies);
        channel.Send(new CreateSubflow(2, 2, Local, Remote), replies);
        channel.Send(new DestroySubflow(3, 3, Local with { Port = 50001 }, Remote), replies);
        channel.Send(new SetBackup(4, 4, Local, Remote, true), replies);
        socket.Answer("ack-ok", socket.Written[0]);
        socket.Answer("ack-error-invalid-token", socket.Written[1]);
        socket.Answer("ack-error-invalid-token", socket.Written[2]);
        channel.Drain();
        now += TimeSpan.FromSeconds(6);
        channel.Sweep(); // the SET_FLAGS never answered: ETIMEDOUT

        var snapshot = counters.Snapshot();
        Assert.Equal(
            [
                new CommandCount("SUBFLOW_CREATE", "ok", "", 1),
                new CommandCount("SUBFLOW_CREATE", "error", "EINVAL", 1),
                new CommandCount("SUBFLOW_DESTROY", "error", "EINVAL", 1),
                new CommandCount("SET_FLAGS", "error", "ETIMEDOUT", 1),
            ],
            snapshot.Commands);
    }

    [Fact]
    public void Events_are_counted_by_kernel_name_and_only_the_first_command_of_an_event_is_its_latency()
    {
        var counters = new GatewayCounters();
        counters.Event(MptcpEventType.Created);
        counters.Event(MptcpEventType.SubEstablished);
        counters.Event(MptcpEventType.SubEstablished);
        counters.Resync();
        counters.Forged();
        Assert.Equal(new Dictionary<string, long> { ["created"] = 1, ["sub_established"] = 2 }, counters.Snapshot().Events);
        Assert.Equal((1L, 1L, 0L), (counters.Snapshot().Resyncs, counters.Snapshot().Forged, counters.Snapshot().Malformed));

        // No sink: nothing is timed.
        counters.EventStarts();
        counters.CommandWritten();
        counters.EventEnds();

        var sink = new Recorder();
        counters.EventToCommand = sink;
        counters.EventStarts();
        counters.CommandWritten();
        counters.CommandWritten(); // a second command of the same event
        counters.EventEnds();
        counters.CommandWritten(); // a command outside any event (a timer): not a reaction
        counters.EventStarts();
        counters.EventEnds(); // an event that wrote nothing
        var latency = Assert.Single(sink.Seen);
        Assert.InRange(latency, 0, 10);
    }
}
