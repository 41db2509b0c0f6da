using System.Net;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Wire;
using Smapp.Tests.Support;

namespace Smapp.Tests.Netlink;

/// <summary>
/// The sampler's dump path decodes each reply where it lies in the receive buffer and shares address objects
/// between sockets: it must give what the copying path gives, message for message.
/// </summary>
public class SockDiagInPlaceTests
{
    [Fact]
    public void Visiting_a_captured_dump_in_place_gives_the_bytes_the_copying_reader_gives()
    {
        var fx = Fixture.Load("diag-tcp-ipv4");
        foreach (var d in fx.Datagrams)
        {
            var copied = new List<byte[]>();
            var seq = new NetlinkMessageReader(d).TryRead(out var first, out _) ? first.Header.Sequence : 0;
            var doneCopied = NetlinkSocket.ReadReply(d, seq, 0, copied);
            var visited = new List<byte[]>();
            var doneVisited = NetlinkSocket.VisitReply(d, seq, 0, (in NetlinkMessage m) => visited.Add(m.Bytes.ToArray()));
            Assert.Equal(doneCopied, doneVisited);
            Assert.Equal(copied.Count, visited.Count);
            for (var i = 0; i < copied.Count; i++)
            {
                Assert.Equal(copied[i], visited[i]);
            }
        }
    }

    [Fact]
    public void Decoding_with_an_address_cache_gives_the_same_subflows_and_shares_the_addresses()
    {
        var fx = Fixture.Load("diag-tcp-ipv4");
        var plain = new List<SubflowDiag>();
        var cached = new List<SubflowDiag>();
        var cache = new AddressCache();
        foreach (var d in fx.Datagrams)
        {
            // Decode every datagram twice with the cache: the second pass must reuse the first one's objects.
            foreach (var pass in new[] { 0, 1, 2 })
            {
                var r = new NetlinkMessageReader(d);
                while (r.TryRead(out var m, out _))
                {
                    if (pass == 0 && SockDiag.TryDecodeSubflow(m, out var a, out _))
                    {
                        plain.Add(a!);
                    }
                    else if (pass > 0 && SockDiag.TryDecodeSubflow(m, cache, out var b, out _))
                    {
                        cached.Add(b!);
                    }
                }
            }
        }

        Assert.Equal(2, plain.Count);
        Assert.Equal(2 * plain.Count, cached.Count);
        for (var i = 0; i < plain.Count; i++)
        {
            Assert.Equal(plain[i], cached[i]);
            Assert.Same(cached[i].Id.Destination, cached[i + plain.Count].Id.Destination);
        }

        // The two subflows share the server's address object.
        Assert.Same(cached[0].Id.Destination, cached[1].Id.Destination);
        Assert.NotSame(cached[0].Id.Source, cached[1].Id.Source);
    }

    [Fact]
    public void The_address_cache_tells_families_apart_and_stays_right_past_its_capacity()
    {
        var cache = new AddressCache();
        var v4Any = cache.Get(new byte[4]);
        var v6Any = cache.Get(new byte[16]);
        Assert.Equal(IPAddress.Any, v4Any);
        Assert.Equal(IPAddress.IPv6Any, v6Any);
        Assert.Same(v4Any, cache.Get(new byte[4]));

        // Four times the capacity of distinct addresses: every answer is still the address asked for.
        for (var i = 0; i < 4 * AddressCache.Capacity; i++)
        {
            var b = new byte[] { 203, 0, 113, (byte)i };
            Assert.Equal(new IPAddress(b), cache.Get(b));
            var v6 = IPAddress.Parse($"2001:db8::{i:x}").GetAddressBytes();
            Assert.Equal(new IPAddress(v6), cache.Get(v6));
        }
    }
}
