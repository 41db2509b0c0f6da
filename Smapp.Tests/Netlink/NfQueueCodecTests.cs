using System.Buffers.Binary;
using Smapp.Netlink.Queue;
using Smapp.Netlink.Wire;
using Smapp.Tests.Support;

namespace Smapp.Tests.Netlink;

/// <summary>
/// nfnetlink_queue messages against exact bytes: our requests as hand-written vectors and as the kernel accepted
/// them (Fixtures/capture-nfqueue.sh, kernel 6.18), and the kernel's packet, ACK and refusal decoded.
/// </summary>
public class NfQueueCodecTests
{
    private sealed class Sink : INfQueueSink
    {
        public List<NfQueuePacket> Packets { get; } = [];

        public List<DecodeError> Errors { get; } = [];

        public void OnPacket(in NfQueuePacket packet) => Packets.Add(packet);

        public void OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram) => Errors.Add(error);
    }

    private static NetlinkMessage Message(byte[] bytes)
    {
        var r = new NetlinkMessageReader(bytes);
        Assert.True(r.TryRead(out var m, out var err), err?.ToString());
        return m;
    }

    [Fact]
    public void Message_types_are_subsystem_queue_shifted_by_eight()
    {
        Assert.Equal(0x0300, NfqnlMsg.PacketType);
        Assert.Equal(0x0301, NfqnlMsg.VerdictType);
        Assert.Equal(0x0302, NfqnlMsg.ConfigType);
        Assert.Equal(0x0303, NfqnlMsg.VerdictBatchType);
        Assert.Equal(Nfnl.SubsysQueue, Nfnl.SubsystemOf(NfqnlMsg.VerdictBatchType));
        Assert.Equal(NfqnlMsg.VerdictBatch, Nfnl.MessageOf(NfqnlMsg.VerdictBatchType));
    }

    [Fact]
    public void Nfgenmsg_carries_the_queue_number_big_endian()
    {
        Span<byte> b = stackalloc byte[NfGenMsg.Size];
        new NfGenMsg(2, 0, 0x0102).Write(b);
        Assert.Equal(new byte[] { 2, 0, 0x01, 0x02 }, b.ToArray());
        Assert.Equal(new NfGenMsg(2, 0, 0x0102), NfGenMsg.Read(b));
    }

    [Fact]
    public void Verdict_is_header_nfgenmsg_and_a_big_endian_verdict_hdr()
    {
        var w = new NetlinkWriter();
        NfQueueCodec.WriteVerdict(w, queue: 7, id: 0x01020304, verdict: NfVerdict.Accept, sequence: 0x01020304);
        Assert.Equal(
            "20000000" + "0103" + "0100" + "04030201" + "00000000" // nlmsghdr: len 32, type 0x0301, NLM_F_REQUEST, seq, pid
            + "00000007"                                          // nfgenmsg: AF_UNSPEC, v0, res_id 7 (big-endian)
            + "0C000200" + "00000001" + "01020304",               // NFQA_VERDICT_HDR: NF_ACCEPT, id (both big-endian)
            Convert.ToHexString(w.Written));
        Assert.Equal(NfQueueCodec.VerdictMessageSize, w.Length);
    }

    [Fact]
    public void Batch_verdict_differs_only_in_its_message_type()
    {
        var single = new NetlinkWriter();
        var batch = new NetlinkWriter();
        NfQueueCodec.WriteVerdict(single, 1, 42, NfVerdict.Accept, 42);
        NfQueueCodec.WriteVerdict(batch, 1, 42, NfVerdict.Accept, 42, batch: true);
        var s = single.ToArray();
        var b = batch.ToArray();
        Assert.Equal(NfqnlMsg.VerdictBatchType, BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(4)));
        b[4] = s[4];
        Assert.Equal(s, b);
    }

    [Fact]
    public void Bind_request_is_byte_identical_to_the_one_the_kernel_accepted()
    {
        var fx = Fixture.Load("nfq-config-bind-request").Single;
        var w = new NetlinkWriter();
        NfQueueCodec.WriteBind(w, 9, new NfQueueOptions(), NetlinkHeader.Read(fx).Sequence);
        Assert.Equal(Convert.ToHexString(fx), Convert.ToHexString(w.Written));
        var hex = Convert.ToHexString(fx);
        Assert.Contains("0800010001000000", hex);         // NFQA_CFG_CMD: NFQNL_CFG_CMD_BIND
        Assert.Contains("090002000000000001000000", hex); // NFQA_CFG_PARAMS (5 bytes, padded): range 0, NFQNL_COPY_META
        Assert.Contains("0800030000010000", hex);         // NFQA_CFG_QUEUE_MAXLEN 65536, big-endian
        Assert.Contains("08000400000000050800050000000005", hex); // NFQA_CFG_MASK, NFQA_CFG_FLAGS: FAIL_OPEN | GSO
    }

    [Fact]
    public void The_kernel_acks_the_bind_with_its_sequence_number()
    {
        var bind = NetlinkHeader.Read(Fixture.Load("nfq-config-bind-request").Single);
        var m = Message(Fixture.Load("nfq-config-ack").Single);
        Assert.True(NfQueueCodec.TryReadAck(m, out var errno, out var seq));
        Assert.Equal(0, errno);
        Assert.Equal(bind.Sequence, seq);
        Assert.True(NetlinkAck.TryDecode(m, out var ack, out _));
        Assert.True(ack!.IsSuccess);
    }

    [Fact]
    public void Unbind_and_verdict_requests_are_byte_identical_to_the_captured_ones()
    {
        var unbind = Fixture.Load("nfq-config-unbind-request").Single;
        var w = new NetlinkWriter();
        NfQueueCodec.WriteUnbind(w, 9, NetlinkHeader.Read(unbind).Sequence);
        Assert.Equal(Convert.ToHexString(unbind), Convert.ToHexString(w.Written));

        foreach (var name in new[] { "nfq-verdict", "nfq-verdict-id0" })
        {
            var v = Fixture.Load(name).Single;
            var h = NetlinkHeader.Read(v);
            w.Reset();
            NfQueueCodec.WriteVerdict(w, 9, BinaryPrimitives.ReadUInt32BigEndian(v.AsSpan(v.Length - 4)), NfVerdict.Accept, h.Sequence, h.Type == NfqnlMsg.VerdictBatchType);
            Assert.Equal(Convert.ToHexString(v), Convert.ToHexString(w.Written));
        }
    }

    [Fact]
    public void A_verdict_for_an_id_no_packet_has_is_refused_with_enoent()
    {
        var m = Message(Fixture.Load("nfq-verdict-enoent").Single);
        Assert.True(NfQueueCodec.TryReadAck(m, out var errno, out var seq));
        Assert.Equal(Smapp.Netlink.Errno.ENOENT, errno);
        Assert.Equal(NetlinkHeader.Read(Fixture.Load("nfq-verdict-id0").Single).Sequence, seq);

        var decoder = new NfQueueBatchDecoder();
        decoder.Dispatch(Fixture.Load("nfq-verdict-enoent").Single, new Sink());
        Assert.Equal(1, decoder.Stats.Refusals);
        Assert.Equal(Smapp.Netlink.Errno.ENOENT, decoder.Stats.LastRefusalErrno);
    }

    [Fact]
    public void Captured_packet_decodes_to_its_id_hook_and_devices()
    {
        var fx = Fixture.Load("nfq-packet").Single;
        var m = Message(fx);
        Assert.Equal(NfqnlMsg.PacketType, m.Header.Type);
        Assert.True(NfQueueCodec.TryDecodePacket(m, out var p, out var err), err?.ToString());
        Assert.Equal((ushort)9, p.Queue);
        Assert.Equal((byte)2, p.Family);                     // AF_INET
        Assert.Equal(1u, p.PacketId);                        // the queue's first packet
        Assert.Equal((ushort)0x0800, p.HwProtocol);          // ETH_P_IP, big-endian on the wire
        Assert.Equal(NfInetHook.Forward, p.Hook);
        Assert.NotNull(p.InIfIndex);
        Assert.NotNull(p.OutIfIndex);
        Assert.NotEqual(p.InIfIndex, p.OutIfIndex);
        Assert.Equal(0, p.PayloadLength);                    // NFQNL_COPY_META: no payload
        Assert.Null(p.Mark);
        // The id travels big-endian right after the attribute header: 0B 00 01 00 | 00 00 00 01 | 08 00 | 02.
        Assert.Contains("0B00010000000001080002", Convert.ToHexString(fx));
    }

    [Fact]
    public void Decoding_a_packet_allocates_nothing()
    {
        var fx = Fixture.Load("nfq-packet").Single;
        var decoder = new NfQueueBatchDecoder();
        var sink = new CountingSink();
        for (var i = 0; i < 1000; i++)
        {
            decoder.Dispatch(fx, sink);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            decoder.Dispatch(fx, sink);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(11_000, sink.Count);
        // Nothing per packet (a few bytes the runtime may book once are not 10,000 of anything).
        Assert.True(allocated < 10_000, $"{allocated} bytes for 10,000 packets");
    }

    private sealed class CountingSink : INfQueueSink
    {
        public long Count;

        public void OnPacket(in NfQueuePacket packet) => Count++;

        public void OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram) => throw new InvalidOperationException(error.ToString());
    }

    // Malformed input: decode errors, never exceptions, and the rest of the datagram still delivered.

    [Fact]
    public void Every_truncation_of_the_captured_packet_is_an_error_not_an_exception()
    {
        var fx = Fixture.Load("nfq-packet").Single;
        for (var len = 0; len < fx.Length; len++)
        {
            // Cut the datagram (framing breaks) ...
            var sink = new Sink();
            var decoder = new NfQueueBatchDecoder();
            decoder.Dispatch(fx.AsSpan(0, len), sink);
            Assert.Empty(sink.Packets);
            Assert.Equal(len == 0 ? 0 : 1, sink.Errors.Count);

            // ... and cut the message but keep its header consistent (attributes break).
            if (len >= NetlinkHeader.Size)
            {
                var cut = fx[..len];
                BinaryPrimitives.WriteUInt32LittleEndian(cut, (uint)len);
                var r = new NetlinkMessageReader(cut);
                Assert.True(r.TryRead(out var m, out _));
                var ok = NfQueueCodec.TryDecodePacket(m, out var p, out var err);
                if (ok)
                {
                    // Only cuts that end on an attribute boundary after NFQA_PACKET_HDR still decode.
                    Assert.Equal(1u, p.PacketId);
                }
                else
                {
                    Assert.NotNull(err);
                }
            }
        }
    }

    private static byte[] Packet(Action<NetlinkWriter> attributes, ushort type = 0x0300)
    {
        var w = new NetlinkWriter();
        var s = w.BeginMessage(type, NetlinkFlags.None, 0);
        w.PutRaw([2, 0, 0, 1]);
        attributes(w);
        w.EndMessage(s);
        return w.ToArray();
    }

    private static void Hdr(NetlinkWriter w, uint id) => w.PutAttribute(NfqaAttr.PacketHdr, [(byte)(id >> 24), (byte)(id >> 16), (byte)(id >> 8), (byte)id, 0x08, 0x00, 2]);

    [Fact]
    public void A_packet_without_its_header_attribute_is_missing_attribute()
    {
        var m = Message(Packet(w => w.PutAttribute(NfqaAttr.IfIndexInDev, [0, 0, 0, 2])));
        Assert.False(NfQueueCodec.TryDecodePacket(m, out _, out var err));
        Assert.Equal(DecodeErrorKind.MissingAttribute, err!.Kind);
    }

    [Fact]
    public void A_short_packet_header_attribute_is_wrong_size()
    {
        var m = Message(Packet(w => w.PutAttribute(NfqaAttr.PacketHdr, [0, 0, 0, 1])));
        Assert.False(NfQueueCodec.TryDecodePacket(m, out _, out var err));
        Assert.Equal(DecodeErrorKind.AttributeWrongSize, err!.Kind);
        Assert.Contains("NFQA_PACKET_HDR", err.Detail);
    }

    [Theory]
    [InlineData(NfqaAttr.IfIndexInDev, 2)]
    [InlineData(NfqaAttr.IfIndexOutDev, 8)]
    [InlineData(NfqaAttr.Mark, 0)]
    [InlineData(NfqaAttr.CapLen, 3)]
    public void A_be32_attribute_of_another_size_is_wrong_size(ushort type, int size)
    {
        var m = Message(Packet(w =>
        {
            Hdr(w, 1);
            w.PutAttribute(type, new byte[size]);
        }));
        Assert.False(NfQueueCodec.TryDecodePacket(m, out _, out var err));
        Assert.Equal(DecodeErrorKind.AttributeWrongSize, err!.Kind);
        Assert.Contains($"type {type}", err.Detail);
    }

    [Fact]
    public void A_message_too_short_for_nfgenmsg_is_truncated_header()
    {
        var bytes = Packet(_ => { });
        var cut = bytes[..(NetlinkHeader.Size + 2)];
        BinaryPrimitives.WriteUInt32LittleEndian(cut, (uint)cut.Length);
        Assert.False(NfQueueCodec.TryDecodePacket(Message(cut), out _, out var err));
        Assert.Equal(DecodeErrorKind.TruncatedHeader, err!.Kind);
    }

    [Fact]
    public void Another_message_type_is_not_a_packet()
    {
        Assert.False(NfQueueCodec.TryDecodePacket(Message(Packet(w => Hdr(w, 1), type: 0x0301)), out _, out var err));
        Assert.Equal(DecodeErrorKind.UnexpectedMessage, err!.Kind);
    }

    [Fact]
    public void A_broken_packet_in_a_datagram_costs_only_itself()
    {
        var good1 = Packet(w => Hdr(w, 1));
        var bad = Packet(w => w.PutAttribute(NfqaAttr.PacketHdr, [1]));
        var good3 = Packet(w => Hdr(w, 3));
        var ack = Fixture.Load("nfq-config-ack").Single;
        var sink = new Sink();
        var decoder = new NfQueueBatchDecoder();
        decoder.Dispatch([.. good1, .. bad, .. ack, .. good3], sink);
        Assert.Equal([1u, 3u], sink.Packets.Select(p => p.PacketId));
        Assert.Equal(DecodeErrorKind.AttributeWrongSize, Assert.Single(sink.Errors).Kind);
        Assert.Equal(2, decoder.Stats.Packets);
        Assert.Equal(1, decoder.Stats.DecodeErrors);
        Assert.Equal(0, decoder.Stats.Refusals); // an ACK (errno 0) is no refusal
    }

    [Fact]
    public void A_truncated_nlmsgerr_is_a_decode_error()
    {
        var ack = Fixture.Load("nfq-verdict-enoent").Single[..(NetlinkHeader.Size + 8)];
        BinaryPrimitives.WriteUInt32LittleEndian(ack, (uint)ack.Length);
        var sink = new Sink();
        var decoder = new NfQueueBatchDecoder();
        decoder.Dispatch(ack, sink);
        Assert.Equal(DecodeErrorKind.TruncatedHeader, Assert.Single(sink.Errors).Kind);
        Assert.Equal(0, decoder.Stats.Refusals);
    }
}
