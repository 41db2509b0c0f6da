using System.Buffers.Binary;
using System.Net;
using Smapp.Actors.Gateway;
using Smapp.Netlink;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Wire;
using Smapp.Tests.Support;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Tests.Gateway;

/// <summary>
/// The gateway's command channel against a fake socket at the message level (mdlayher's nltest idea): what it
/// writes, how it matches answers by sequence number, refusals, timeouts and failures before the kernel.
/// </summary>
public class CommandChannelTests
{
    private const ushort Family = 0x1c;
    private static readonly MptcpAddress Local = new(IPAddress.Parse("198.51.100.1"), 1);
    private static readonly MptcpAddress Remote = new(IPAddress.Parse("203.0.113.1"), null, 443);

    /// <summary>Records each datagram written; hands out the datagrams a test queued as the kernel's answers.</summary>
    private sealed class FakeConnection : INetlinkConnection
    {
        private readonly Queue<byte[]> _answers = new();
        private byte[] _received = [];
        private uint _seq = 100;

        public List<byte[]> Written { get; } = [];

        public Exception? FailNextSend { get; set; }

        public uint NextSequence() => ++_seq;

        public void Send(ReadOnlySpan<byte> data)
        {
            if (FailNextSend is { } e)
            {
                FailNextSend = null;
                throw e;
            }

            Written.Add(data.ToArray());
        }

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

        public void Answer(byte[] datagram) => _answers.Enqueue(datagram);
    }

    private sealed class Replies : ICommandReplies
    {
        public List<CommandResult> Results { get; } = [];

        public void OnResult(CommandResult result) => Results.Add(result);
    }

    /// <summary>A captured kernel answer with its sequence number set to <paramref name="seq"/>.</summary>
    private static byte[] Captured(string fixture, uint seq)
    {
        var d = Fixture.Load(fixture).Single.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(8), seq);
        return d;
    }

    private static uint SequenceOf(byte[] datagram) => BinaryPrimitives.ReadUInt32LittleEndian(datagram.AsSpan(8));

    private static (CommandChannel Channel, FakeConnection Socket, Replies Replies, Func<DateTime> Clock, Action<TimeSpan> Advance) Make()
    {
        var socket = new FakeConnection();
        var now = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var channel = new CommandChannel(socket, Family, TimeSpan.FromSeconds(5), new AnnounceListeners(), () => now);
        return (channel, socket, new Replies(), () => now, by => now += by);
    }

    [Fact]
    public void A_command_is_written_at_once_as_the_bytes_the_kernel_accepts()
    {
        var (channel, socket, replies, _, _) = Make();
        Assert.Null(channel.Send(new CreateSubflow(1, 0x1a42ab16, Local, Remote), replies));
        var written = Assert.Single(socket.Written);

        var expected = new NetlinkWriter();
        MptcpCommands.SubflowCreate(expected, Family, SequenceOf(written), 0x1a42ab16, Local, Remote);
        Assert.Equal(expected.ToArray(), written);
        Assert.Equal((1L, 1), (channel.Sent, channel.PendingCount));
        Assert.Empty(replies.Results);
    }

    [Fact]
    public void Answers_go_to_their_own_command_by_sequence_number_whatever_their_order()
    {
        var (channel, socket, replies, _, _) = Make();
        var a = new CreateSubflow(1, 1, Local, Remote);
        var b = new DestroySubflow(2, 2, Local with { Port = 50001 }, Remote);
        channel.Send(a, replies);
        channel.Send(b, replies);
        socket.Answer(Captured("ack-error-invalid-token", SequenceOf(socket.Written[1])));
        socket.Answer(Captured("ack-ok", SequenceOf(socket.Written[0])));
        socket.Answer(Captured("ack-ok", 9999)); // nobody asked: skipped
        channel.Drain();

        Assert.Equal(2, replies.Results.Count);
        Assert.Same(b, replies.Results[0].Command);
        Assert.Equal((22, "invalid token"), (replies.Results[0].Errno, replies.Results[0].Message));
        Assert.Same(a, replies.Results[1].Command);
        Assert.True(replies.Results[1].Success);
        Assert.Equal((0, 1L), (channel.PendingCount, channel.Failed));
    }

    [Fact]
    public void A_failed_socket_fails_every_waiting_command_and_the_channel_replacing_it_keeps_the_counts()
    {
        var (channel, socket, replies, _, _) = Make();
        var a = new CreateSubflow(1, 1, Local, Remote);
        var b = new DestroySubflow(2, 2, Local with { Port = 50001 }, Remote);
        channel.Send(a, replies);
        channel.Send(b, replies);
        socket.Answer(Captured("ack-ok", SequenceOf(socket.Written[0])));
        channel.Drain();

        Assert.Equal(1, channel.FailAll(Errno.EIO, "the command socket failed"));
        var failed = replies.Results[1];
        Assert.Same(b, failed.Command);
        Assert.Equal((Errno.EIO, "the command socket failed"), (failed.Errno, failed.Message));
        Assert.Equal((0, 1L, 2L), (channel.PendingCount, channel.Failed, channel.Sent));
        Assert.Equal(0, channel.FailAll(Errno.EIO, "again"));

        var next = new CommandChannel(new FakeConnection(), Family, TimeSpan.FromSeconds(5), new AnnounceListeners()) { Carried = channel };
        Assert.Equal((2L, 1L, 0), (next.Sent, next.Failed, next.PendingCount));
    }

    [Fact]
    public void A_command_the_kernel_never_answers_fails_with_etimedout_after_the_timeout()
    {
        var (channel, _, replies, _, advance) = Make();
        channel.Send(new SetBackup(1, 1, Local, Remote, true), replies);
        advance(TimeSpan.FromSeconds(4));
        Assert.Equal(0, channel.Sweep());
        advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, channel.Sweep());
        var r = Assert.Single(replies.Results);
        Assert.Equal(110, r.Errno);
        Assert.Contains("no answer", r.Message);
        Assert.Equal((1L, 0), (channel.TimedOut, channel.PendingCount));
    }

    [Fact]
    public void A_socket_that_refuses_the_write_gives_the_failure_back_to_the_caller_not_inside_the_call()
    {
        var (channel, socket, replies, _, _) = Make();
        socket.FailNextSend = new NetlinkException(105, null, "sendto");
        var refused = channel.Send(new CreateSubflow(1, 1, Local, Remote), replies);
        Assert.NotNull(refused);
        Assert.Equal(105, refused!.Errno);
        Assert.Empty(replies.Results);
        Assert.Equal((0, 1L, 0L), (channel.PendingCount, channel.Failed, channel.Sent));
    }

    [Fact]
    public void An_announce_whose_listener_cannot_be_opened_is_refused_before_anything_is_written()
    {
        var (channel, socket, replies, _, _) = Make();

        // 192.0.2.250 is on no interface of this namespace: bind fails with EADDRNOTAVAIL, nothing is sent.
        var refused = channel.Send(new Announce(1, 1, new MptcpAddress(IPAddress.Parse("192.0.2.250"), 3, 6000)), replies);
        Assert.NotNull(refused);
        Assert.Equal(99, refused!.Errno);
        Assert.StartsWith("listener:", refused.Message);
        Assert.Empty(socket.Written);
    }

    [Fact]
    public void An_undecodable_answer_is_counted_and_answers_its_command_with_eio()
    {
        var (channel, socket, replies, _, _) = Make();
        channel.Send(new CreateSubflow(1, 1, Local, Remote), replies);
        var broken = Captured("ack-ok", SequenceOf(socket.Written[0]))[..20]; // an NLMSG_ERROR cut inside its payload
        BinaryPrimitives.WriteUInt32LittleEndian(broken, 20);
        socket.Answer(broken);
        var errors = new List<string>();
        channel.Drain((source, error, _) => errors.Add($"{source}: {error.Kind}"));
        var r = Assert.Single(replies.Results);
        Assert.Equal(5, r.Errno);
        Assert.Equal(1L, channel.DecodeErrors);
        Assert.Single(errors);
    }
}
