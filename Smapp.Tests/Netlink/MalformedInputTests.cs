using System.Net;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Route;
using Smapp.Netlink.Wire;
using Smapp.Tests.Support;

namespace Smapp.Tests.Netlink;

/// <summary>Broken input is a decode error value: no exception escapes and nothing else in the batch is lost.</summary>
public class MalformedInputTests
{
    private const ushort Family = 0x1c;

    private sealed class Sink : INetlinkSink<MptcpEvent>
    {
        public List<MptcpEvent> Events { get; } = [];

        public List<DecodeError> Errors { get; } = [];

        public int Lost { get; private set; }

        public void OnItem(MptcpEvent item, ReadOnlySpan<byte> raw) => Events.Add(item);

        public void OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram) => Errors.Add(error);

        public void OnLost() => Lost++;
    }

    private static byte[] Event(uint token, Action<NetlinkWriter>? extra = null, MptcpEventType type = MptcpEventType.Created)
    {
        var w = new NetlinkWriter();
        var s = w.BeginMessage(Family, NetlinkFlags.None, 0);
        w.PutGenlHeader((byte)type, 1);
        w.PutU32(MptcpEventAttr.Token, token);
        extra?.Invoke(w);
        w.EndMessage(s);
        return w.ToArray();
    }

    private static (Sink Sink, MptcpEventBatchDecoder Decoder) Dispatch(params byte[][] messages)
    {
        var sink = new Sink();
        var decoder = new MptcpEventBatchDecoder(Family);
        decoder.Dispatch(messages.SelectMany(m => m).ToArray(), sink);
        return (sink, decoder);
    }

    [Fact]
    public void Truncated_header_is_an_error_after_the_good_messages()
    {
        var good = Event(1);
        var (sink, decoder) = Dispatch(good, good[..10]);
        Assert.Single(sink.Events);
        var e = Assert.Single(sink.Errors);
        Assert.Equal(DecodeErrorKind.TruncatedHeader, e.Kind);
        Assert.Equal(good.Length, e.Offset);
        Assert.Equal(1, decoder.Stats.DecodeErrors);
    }

    [Fact]
    public void Message_length_past_the_buffer_is_an_error()
    {
        var bad = Event(2);
        bad[0] = 0xff; // nlmsg_len 255, buffer shorter
        var (sink, _) = Dispatch(Event(1), bad);
        Assert.Equal([1u], sink.Events.Select(e => e.Token!.Value));
        Assert.Equal(DecodeErrorKind.LengthPastBuffer, Assert.Single(sink.Errors).Kind);
    }

    [Fact]
    public void Message_length_shorter_than_a_header_is_an_error()
    {
        var bad = Event(2);
        bad[0] = 8;
        var (sink, _) = Dispatch(Event(1), bad);
        Assert.Single(sink.Events);
        Assert.Equal(DecodeErrorKind.LengthTooShort, Assert.Single(sink.Errors).Kind);
    }

    [Fact]
    public void Attribute_length_past_its_message_fails_that_event_only()
    {
        var bad = Event(2, w => w.PutU8(MptcpEventAttr.LocId, 1));
        bad[^8] = 0x40; // the loc_id attribute now claims 64 bytes
        var (sink, _) = Dispatch(Event(1), bad, Event(3));
        Assert.Equal([1u, 3u], sink.Events.Select(e => e.Token!.Value));
        Assert.Equal(DecodeErrorKind.AttributeLengthPastBuffer, Assert.Single(sink.Errors).Kind);
    }

    [Fact]
    public void Attribute_length_below_its_header_fails_that_event_only()
    {
        var bad = Event(2, w => w.PutU8(MptcpEventAttr.LocId, 1));
        bad[^8] = 2;
        var (sink, _) = Dispatch(bad, Event(3));
        Assert.Equal([3u], sink.Events.Select(e => e.Token!.Value));
        Assert.Equal(DecodeErrorKind.AttributeTruncated, Assert.Single(sink.Errors).Kind);
    }

    [Theory]
    [InlineData(MptcpEventAttr.Token, 2)]
    [InlineData(MptcpEventAttr.Sport, 4)]
    [InlineData(MptcpEventAttr.Saddr4, 16)]
    [InlineData(MptcpEventAttr.Saddr6, 4)]
    [InlineData(MptcpEventAttr.Error, 4)]
    [InlineData(MptcpEventAttr.IfIdx, 1)]
    public void Wrong_attribute_size_is_a_decode_error_naming_the_attribute(ushort type, int size)
    {
        var bad = Event(2, w => w.PutAttribute(type, new byte[size]));
        var (sink, _) = Dispatch(Event(1), bad);
        Assert.Single(sink.Events);
        var e = Assert.Single(sink.Errors);
        Assert.Equal(DecodeErrorKind.AttributeWrongSize, e.Kind);
        Assert.Contains($"type {type}", e.Detail);
    }

    [Fact]
    public void Unknown_attributes_and_event_types_are_kept_not_thrown()
    {
        var withUnknown = Event(5, w => w.PutU32(200, 7), (MptcpEventType)42);
        var (sink, _) = Dispatch(withUnknown);
        var ev = Assert.Single(sink.Events);
        Assert.Equal("unknown_42", ev.Name);
        Assert.Equal(200, Assert.Single(ev.Unknown).Type);
        Assert.Empty(sink.Errors);
    }

    [Fact]
    public void Genl_header_missing_is_an_error()
    {
        var w = new NetlinkWriter();
        var s = w.BeginMessage(Family, NetlinkFlags.None, 0);
        w.EndMessage(s);
        var (sink, _) = Dispatch(Event(1), w.ToArray());
        Assert.Single(sink.Events);
        Assert.Equal(DecodeErrorKind.TruncatedHeader, Assert.Single(sink.Errors).Kind);
    }

    [Fact]
    public void Messages_of_other_types_are_counted_and_skipped()
    {
        var other = Event(9);
        other[4] = 0x55;
        var (sink, decoder) = Dispatch(other, Event(1));
        Assert.Single(sink.Events);
        Assert.Empty(sink.Errors);
        Assert.Equal(1, decoder.Stats.Ignored);
    }

    [Fact]
    public void Nested_length_that_overflows_its_parent_is_an_error()
    {
        var w = new NetlinkWriter();
        using (w.BeginNested(1))
        {
            w.PutU32(3, 0x01020304);
        }

        var bytes = w.ToArray();
        bytes[4] = 0xF0; // inner attribute claims 240 bytes inside a 12-byte parent
        var outer = new AttributeReader(bytes);
        Assert.True(outer.TryRead(out var a, out _));
        Assert.False(MptcpCommands.TryDecodeAddress(a.Value, 4, out _, out var err));
        Assert.Equal(DecodeErrorKind.AttributeLengthPastBuffer, err!.Kind);
    }

    [Fact]
    public void Every_truncation_of_every_captured_event_is_one_event_or_one_counted_error()
    {
        foreach (var name in Fixture.Names("event-"))
        {
            var bytes = Fixture.Load(name).Single;
            for (var cut = 0; cut < bytes.Length; cut++)
            {
                var sink = new Sink();
                var truncated = (byte[])bytes[..cut].Clone();
                if (cut >= 4)
                {
                    // Also make the header agree with the cut, so the attribute walk sees the truncation.
                    BitConverter.TryWriteBytes(truncated.AsSpan(0, 4), (uint)cut);
                }

                var decoder = new MptcpEventBatchDecoder(Family);
                decoder.Dispatch(truncated, sink);
                Assert.Equal(decoder.Stats.DecodeErrors, sink.Errors.Count);
                if (cut == 0)
                {
                    Assert.Equal((0, 0), (sink.Events.Count, sink.Errors.Count));
                    continue;
                }

                // Something came of it, and only one thing: the event (what was cut was optional) or its error.
                Assert.True(sink.Events.Count + sink.Errors.Count == 1, $"{name} cut at {cut}: {sink.Events.Count} events, {sink.Errors.Count} errors");
                if (cut < 20)
                {
                    // Not even the netlink and genl headers: an error, whatever the bytes.
                    Assert.Equal(DecodeErrorKind.TruncatedHeader, Assert.Single(sink.Errors).Kind);
                }
                else if (sink.Events.Count == 1)
                {
                    // What survived the cut is what the whole message says.
                    var whole = new Sink();
                    new MptcpEventBatchDecoder(Family).Dispatch(bytes, whole);
                    Assert.Equal(whole.Events[0].Type, sink.Events[0].Type);
                    if (sink.Events[0].Token is { } token)
                    {
                        Assert.Equal(whole.Events[0].Token, token);
                    }

                    if (sink.Events[0].SourceAddress is { } source)
                    {
                        Assert.Equal(whole.Events[0].SourceAddress, source);
                    }
                }
            }
        }
    }

    [Fact]
    public void Random_bytes_never_throw_and_every_decoder_returns_a_value_or_an_error()
    {
        var rng = new Random(1234);
        var decoder = new MptcpEventBatchDecoder(Family);
        var sink = new Sink();
        long routeErrors = 0, diagErrors = 0, ackErrors = 0, decoded = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var buf = new byte[rng.Next(0, 200)];
            rng.NextBytes(buf);
            if (buf.Length >= 16 && i % 2 == 0)
            {
                BitConverter.TryWriteBytes(buf.AsSpan(0, 4), (uint)buf.Length);
                BitConverter.TryWriteBytes(buf.AsSpan(4, 2), i % 4 == 0 ? Family : (ushort)(i % 3 == 0 ? Rtnetlink.NewAddr : NetlinkMessageType.Error));
            }

            decoder.Dispatch(buf, sink);
            var r = new NetlinkMessageReader(buf);
            while (r.TryRead(out var m, out _))
            {
                // Each decoder: a value when it says yes; an error when it says no to a message of its own type.
                Count(Rtnetlink.TryDecodeAddress(m, out var a, out var e1), a, e1, m.Header.Type is Rtnetlink.NewAddr or Rtnetlink.DelAddr, ref routeErrors);
                Count(Rtnetlink.TryDecodeLink(m, out var l, out var e2), l, e2, m.Header.Type is Rtnetlink.NewLink or Rtnetlink.DelLink, ref routeErrors);
                Count(SockDiag.TryDecodeSubflow(m, out var sf, out var e3), sf, e3, false, ref diagErrors);
                Count(SockDiag.TryDecodeConnection(m, out var c, out var e4), c, e4, false, ref diagErrors);
                Count(NetlinkAck.TryDecode(m, out var ack, out var e5), ack, e5, m.Header.Type == NetlinkMessageType.Error, ref ackErrors);
                Count(MptcpCommands.TryDecodeAddrReply(m, out var ar, out var e6), ar, e6, true, ref ackErrors);
            }
        }

        Assert.True(sink.Errors.Count > 0);
        Assert.Equal(decoder.Stats.DecodeErrors, sink.Errors.Count);
        Assert.True(routeErrors > 0 && ackErrors > 0, $"route {routeErrors}, ack {ackErrors}: the random input never reached those decoders' checks");
        Assert.True(decoded + routeErrors + diagErrors + ackErrors > 0);

        void Count(bool ok, object? value, DecodeError? error, bool ownType, ref long errors)
        {
            if (ok)
            {
                Assert.NotNull(value);
                Assert.Null(error);
                decoded++;
            }
            else if (ownType)
            {
                Assert.NotNull(error);
                errors++;
            }
            else if (error is not null)
            {
                errors++;
            }
        }
    }

    [Fact]
    public void Short_tcp_info_from_an_older_kernel_reads_what_is_there()
    {
        var info = TcpInfo.Parse(new byte[12] { 1, 0, 0, 0, 3, 0, 0, 0, 0x40, 0x0d, 0x03, 0x00 });
        Assert.Equal((byte)3, info.Backoff);
        Assert.Equal(200_000u, info.RtoUs);
        Assert.Equal(0ul, info.BytesAcked);
    }

    [Fact]
    public void Ack_with_truncated_payload_is_an_error()
    {
        var w = new NetlinkWriter();
        var s = w.BeginMessage(NetlinkMessageType.Error, NetlinkFlags.None, 1);
        w.PutRaw(new byte[] { 0xea, 0xff, 0xff, 0xff });
        w.EndMessage(s);
        var r = new NetlinkMessageReader(w.Written);
        Assert.True(r.TryRead(out var m, out _));
        Assert.False(NetlinkAck.TryDecode(m, out _, out var err));
        Assert.Equal(DecodeErrorKind.TruncatedHeader, err!.Kind);
    }

    [Fact]
    public void Address_without_an_ip_is_an_error()
    {
        var w = new NetlinkWriter();
        w.PutU8(MptcpPmAddrAttr.Id, 1);
        Assert.False(MptcpCommands.TryDecodeAddress(w.Written, 0, out _, out var err));
        Assert.Equal(DecodeErrorKind.MissingAttribute, err!.Kind);
        _ = IPAddress.None;
    }
}
