using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using CsCheck;
using Smapp.Actors.Gateway;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Generic;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Route;
using Smapp.Netlink.Wire;
using Smapp.Tests.Support;
using Xunit.Abstractions;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Tests.Netlink;

/// <summary>
/// Property tests (CsCheck) of every decoder the gateway uses, fed the kernel's own captured messages (Fixtures/)
/// mutated: bits flipped, bytes set, cut short, extended, lengths and attribute types changed, messages doubled.
/// The property: no exception escapes a decoder's entry point (only the documented <see cref="NetlinkException"/> of
/// a refused or undecodable request answer), and whatever is not decoded is counted as a decode error or returned as
/// one. CI runs a few thousand inputs per decoder; SMAPP_FUZZ_ITERATIONS sets how many (README: the 10^6 run).
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    private static readonly long Iterations = FaultTools.Size("SMAPP_FUZZ_ITERATIONS", 3000);

    /// <summary>One change to a message.</summary>
    public readonly record struct Mutation(int Kind, int Position, uint Value);

    private static readonly Gen<Mutation> AMutation = Gen.Select(Gen.Int[0, 8], Gen.Int[0, 1 << 16], Gen.UInt, (k, p, v) => new Mutation(k, p, v));

    /// <summary>A captured message with one to four mutations; with the header length made to agree half of the time, so that the walk reaches the attributes.</summary>
    private static Gen<byte[]> Mutated(IReadOnlyList<byte[]> seeds) =>
        Gen.Select(Gen.Int[0, seeds.Count - 1], AMutation.Array[1, 4], Gen.Bool, (i, ms, fix) => Apply(seeds[i], ms, fix));

    public static byte[] Apply(byte[] seed, Mutation[] mutations, bool fixLength)
    {
        var b = new List<byte>(seed);
        foreach (var m in mutations)
        {
            var aligned = b.Count >= 4 ? m.Position % (b.Count / 4) * 4 : 0;
            switch (m.Kind)
            {
                case 0 when b.Count > 0: // flip a bit
                    b[m.Position % b.Count] ^= (byte)(1 << (int)(m.Value & 7));
                    break;
                case 1: // cut short
                    b.RemoveRange(m.Position % (b.Count + 1), b.Count - m.Position % (b.Count + 1));
                    break;
                case 2: // extend with bytes
                    var rng = new Random((int)m.Value);
                    for (var i = 0; i < (int)(m.Value % 64); i++)
                    {
                        b.Add((byte)rng.Next(256));
                    }

                    break;
                case 3 when b.Count >= 4: // a u16 at an attribute boundary: an attribute's length
                    Put16(b, aligned, (ushort)(m.Value % 4 == 0 ? m.Value : m.Value % 64));
                    break;
                case 4 when b.Count >= 4: // an attribute's type (nested bit sometimes)
                    Put16(b, aligned + 2, (ushort)(m.Value % 48 | (m.Value & 0x8000)));
                    break;
                case 5 when b.Count >= 4: // the header's length, near the truth
                    Put32(b, 0, (uint)Math.Max(0, b.Count + (int)(m.Value % 33) - 16));
                    break;
                case 6 when b.Count < 4096: // the message twice in one datagram
                    b.AddRange(b.ToArray());
                    break;
                case 7 when b.Count > 0: // any byte
                    b[m.Position % b.Count] = (byte)m.Value;
                    break;
                case 8 when b.Count >= 8: // the message type or flags
                    Put16(b, 4 + (int)(m.Value & 2), (ushort)(m.Value >> 16));
                    break;
            }
        }

        if (fixLength && b.Count >= 4)
        {
            Put32(b, 0, (uint)b.Count);
        }

        return [.. b];
    }

    private static void Put16(List<byte> b, int at, ushort v)
    {
        if (at + 2 <= b.Count)
        {
            b[at] = (byte)v;
            b[at + 1] = (byte)(v >> 8);
        }
    }

    private static void Put32(List<byte> b, int at, uint v)
    {
        Put16(b, at, (ushort)v);
        Put16(b, at + 2, (ushort)(v >> 16));
    }

    private static List<byte[]> Seeds(params string[] prefixes) =>
        prefixes.SelectMany(Fixture.Names).Distinct().SelectMany(n => Fixture.Load(n).Datagrams).ToList();

    private void Run(string what, Gen<byte[]> gen, Action<byte[]> property)
    {
        var sw = Stopwatch.StartNew();
        long n = 0;
        gen.Sample(input =>
        {
            Interlocked.Increment(ref n);
            property(input);
        }, iter: Iterations, threads: 1, writeLine: _ => { }, print: b => Convert.ToHexString(b));
        output.WriteLine($"{what}: {n} inputs in {sw.Elapsed.TotalSeconds:0.00} s");
    }

    private sealed class CountingSink<T> : INetlinkSink<T>
    {
        public int Items;
        public int Errors;

        public void OnItem(T item, ReadOnlySpan<byte> raw)
        {
            Assert.NotNull(item);
            Items++;
        }

        public void OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram)
        {
            Assert.NotNull(error);
            Errors++;
        }

        public void OnLost()
        {
        }
    }

    /// <summary>The messages a reader walks in <paramref name="input"/>, and whether it stopped on a broken header.</summary>
    private static (int Messages, bool BrokenTail) Walk(byte[] input)
    {
        var r = new NetlinkMessageReader(input);
        var n = 0;
        DecodeError? err;
        while (r.TryRead(out _, out err))
        {
            n++;
        }

        return (n, err is not null);
    }

    [Fact]
    public void Captured_seeds_decode_cleanly()
    {
        // The property below is only meaningful if the unmutated seeds are good input: none of them is an error.
        var family = BinaryPrimitives.ReadUInt16LittleEndian(Seeds("event-")[0].AsSpan(4));
        foreach (var seed in Seeds("event-"))
        {
            var sink = new CountingSink<MptcpEvent>();
            new MptcpEventBatchDecoder(family).Dispatch(seed, sink);
            Assert.Equal((1, 0), (sink.Items, sink.Errors));
        }

        using var rtnl = RtnetlinkSubscription.Open(nonBlocking: true);
        foreach (var seed in Seeds("rtnl-"))
        {
            var sink = new CountingSink<LocalChange>();
            rtnl.Dispatch(seed, sink);
            Assert.Equal((1, 0), (sink.Items, sink.Errors));
        }

        var rows = 0;
        foreach (var seed in Seeds("diag-mptcp-", "diag-tcp-"))
        {
            var replies = new List<byte[]>();
            NetlinkSocket.ReadReply(seed, SeqOf(seed), PortOf(seed), replies);
            rows += replies.Count;
            Assert.Equal(0, SockDiag.DecodeSubflows(replies, []) + SockDiag.DecodeConnections(replies, []));
        }

        Assert.True(rows >= 2, $"{rows} rows in the captured dumps");
    }

    [Fact]
    public void Mutated_mptcp_events_never_throw_and_every_undecoded_message_is_a_counted_error()
    {
        var seeds = Seeds("event-");
        var family = BinaryPrimitives.ReadUInt16LittleEndian(seeds[0].AsSpan(4));
        Run("genl events", Mutated(seeds), input =>
        {
            var decoder = new MptcpEventBatchDecoder(family);
            var sink = new CountingSink<MptcpEvent>();
            decoder.Dispatch(input, sink);
            var (messages, brokenTail) = Walk(input);
            Assert.Equal(decoder.Stats.DecodeErrors, sink.Errors);
            Assert.Equal(messages, decoder.Stats.Messages);
            Assert.Equal(messages + (brokenTail ? 1 : 0), sink.Items + sink.Errors + decoder.Stats.Ignored);
        });
    }

    [Fact]
    public void Mutated_rtnetlink_messages_never_throw_and_every_undecoded_message_is_a_counted_error()
    {
        var seeds = Seeds("rtnl-");
        using var rtnl = RtnetlinkSubscription.Open(nonBlocking: true);
        Run("rtnetlink", Mutated(seeds), input =>
        {
            var before = (rtnl.Stats.DecodeErrors, rtnl.Stats.Messages, rtnl.Stats.Ignored);
            var sink = new CountingSink<LocalChange>();
            rtnl.Dispatch(input, sink);
            var (messages, brokenTail) = Walk(input);
            Assert.Equal(rtnl.Stats.DecodeErrors - before.DecodeErrors, sink.Errors);
            Assert.Equal(messages, rtnl.Stats.Messages - before.Messages);
            Assert.Equal(messages + (brokenTail ? 1 : 0), sink.Items + sink.Errors + rtnl.Stats.Ignored - before.Ignored);

            // The start-up and after-ENOBUFS dumps decode the same messages.
            var replies = new List<byte[]>();
            ReadReplyOrRefusal(input, replies);
            var addresses = new List<RtAddress>();
            var links = new List<RtLink>();
            var errors = RtnetlinkDump.DecodeAddresses(replies, addresses) + RtnetlinkDump.DecodeLinks(replies, links);
            Assert.True(addresses.Count + links.Count + errors >= replies.Count(r => Walk(r).Messages == 1 && BinaryPrimitives.ReadUInt16LittleEndian(r.AsSpan(4)) is Rtnetlink.NewAddr or Rtnetlink.NewLink or Rtnetlink.DelAddr or Rtnetlink.DelLink));
        });
    }

    private static uint SeqOf(byte[] d) => d.Length >= 12 ? BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(8)) : 0;

    private static uint PortOf(byte[] d) => d.Length >= 16 ? BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(12)) : 0;

    /// <summary>A dump's datagram through the reply reader: a refusal or an undecodable ACK is its documented error, nothing else escapes.</summary>
    private static void ReadReplyOrRefusal(byte[] input, List<byte[]> replies)
    {
        try
        {
            NetlinkSocket.ReadReply(input, SeqOf(input), PortOf(input), replies, e => Assert.NotNull(e));
        }
        catch (NetlinkException e)
        {
            Assert.NotEqual(0, e.Errno);
        }
    }

    [Fact]
    public void Mutated_sock_diag_dumps_never_throw_and_every_undecoded_row_is_counted()
    {
        var seeds = Seeds("diag-mptcp-", "diag-tcp-");
        Run("sock_diag dumps", Mutated(seeds), input =>
        {
            var replies = new List<byte[]>();
            ReadReplyOrRefusal(input, replies);
            foreach (var bytes in replies)
            {
                // Each row alone: decoded, skipped as not MPTCP (no error), or one counted error.
                var subflows = new List<SubflowDiag>();
                var conns = new List<ConnectionDiag>();
                var se = SockDiag.DecodeSubflows([bytes], subflows);
                var ce = SockDiag.DecodeConnections([bytes], conns);
                Assert.True(subflows.Count + se <= 1 && conns.Count + ce <= 1);
                Assert.All(subflows, s => Assert.NotNull(s.Id.Source));
                Assert.All(conns, c => Assert.NotNull(c.Info));
                var r = new NetlinkMessageReader(bytes);
                if (r.TryRead(out var m, out _))
                {
                    Assert.Equal(SockDiag.TryDecodeSubflow(m, out var sf, out var err) ? 1 : 0, subflows.Count);
                    Assert.True(sf is not null || subflows.Count == 0);
                    Assert.Equal(err is null ? 0 : 1, se);
                }
            }
        });
    }

    [Fact]
    public void Mutated_command_answers_and_extended_acks_never_throw_and_are_results_or_errors()
    {
        var seeds = Seeds("ack-", "reply-", "genl-getfamily-reply");
        Run("acks, replies, family", Mutated(seeds), input =>
        {
            var r = new NetlinkMessageReader(input);
            while (r.TryRead(out var m, out _))
            {
                if (NetlinkAck.TryDecode(m, out var ack, out var e1))
                {
                    Assert.NotNull(ack);
                }
                else if (m.Header.Type == NetlinkMessageType.Error)
                {
                    Assert.NotNull(e1); // an ACK that cannot be read is an error, never a silent nothing
                }

                Assert.True(MptcpCommands.TryDecodeAddrReply(m, out var a, out var e2) ? a is not null : e2 is not null);
                Assert.True(MptcpCommands.TryDecodeLimits(m, out var l, out var e3) ? l is not null : e3 is not null);
                Assert.True(GenericNetlink.TryDecodeFamily(m, out var f, out var e4) ? f is not null : e4 is not null);
            }
        });
    }

    /// <summary>Hands out queued datagrams as the kernel's answers; records nothing.</summary>
    private sealed class FakeConnection : INetlinkConnection
    {
        private readonly Queue<byte[]> _answers = new();
        private byte[] _received = [];
        private uint _seq = 100;

        public uint NextSequence() => ++_seq;

        public void Send(ReadOnlySpan<byte> data)
        {
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

    [Fact]
    public void The_command_channel_keeps_serving_after_malformed_answers_each_command_gets_one_result()
    {
        var seeds = Seeds("ack-");
        var ok = Fixture.Load("ack-ok").Single;
        var local = new MptcpAddress(IPAddress.Parse("198.51.100.1"), 1);
        var remote = new MptcpAddress(IPAddress.Parse("203.0.113.1"), null, 443);
        Run("command channel", Mutated(seeds), input =>
        {
            var socket = new FakeConnection();
            var channel = new CommandChannel(socket, 0x1c, TimeSpan.FromSeconds(5), new AnnounceListeners());
            var replies = new Replies();
            channel.Send(new CreateSubflow(1, 7, local, remote), replies);
            channel.Send(new CreateSubflow(2, 7, local, remote), replies);

            // The first command's answer is the mutated one (its sequence number kept unless the mutation hit it); then
            // a good ACK for the second.
            var bad = (byte[])input.Clone();
            if (bad.Length >= 12)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(8), 101);
            }

            socket.Answer(bad);
            var good = (byte[])ok.Clone();
            BinaryPrimitives.WriteUInt32LittleEndian(good.AsSpan(8), 102);
            socket.Answer(good);
            var errorsBefore = channel.DecodeErrors;
            var reported = 0;
            channel.Drain((_, e, _) =>
            {
                Assert.NotNull(e);
                reported++;
            });
            Assert.Equal(channel.DecodeErrors - errorsBefore, reported);

            // The good answer reached its command whatever came before it; the bad one answered its own, or left it to time out.
            Assert.Contains(replies.Results, x => x.Command.Correlation == 2 && x.Success);
            Assert.True(replies.Results.Count(x => x.Command.Correlation == 1) <= 1);
            Assert.Equal(replies.Results.Count(x => x.Command.Correlation == 1) == 0 ? 1 : 0, channel.PendingCount);
        });
    }
}
