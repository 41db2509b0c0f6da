using Smapp.Netlink.Queue;

namespace Smapp.Tests.Netlink;

/// <summary>The delay line's FIFO: arrival order, due prefixes, growth across the ring's wrap, no allocation.</summary>
public class DelayFifoTests
{
    [Fact]
    public void Packets_leave_in_arrival_order_once_due()
    {
        var f = new DelayFifo(4);
        f.Push(10, 100);
        f.Push(11, 105);
        f.Push(12, 120);
        Assert.Equal(0, f.TakeDue(99, out _, out _, out _));
        Assert.Equal(2, f.TakeDue(110, out var last, out var lateSum, out var lateMax));
        Assert.Equal(11u, last);
        Assert.Equal(10 + 5, lateSum);
        Assert.Equal(10, lateMax);
        Assert.Equal(1, f.Count);
        Assert.Equal(120, f.HeadDue);
        Assert.Equal(12u, f.Pop());
        Assert.Equal(0, f.Count);
    }

    [Fact]
    public void A_full_ring_grows_and_keeps_its_order_across_the_wrap()
    {
        var f = new DelayFifo(4);
        Assert.Equal(4, f.Capacity);
        for (uint i = 0; i < 3; i++)
        {
            f.Push(i, i);
        }

        Assert.Equal(0u, f.Pop());
        Assert.Equal(1u, f.Pop());  // head is now at 2: the next pushes wrap
        for (uint i = 3; i < 20; i++)
        {
            f.Push(i, i);
        }

        Assert.True(f.Capacity >= 18);
        Assert.Equal(19u, f.TailId);
        var ids = new List<uint>();
        while (f.Count > 0)
        {
            ids.Add(f.Pop());
        }

        Assert.Equal(Enumerable.Range(2, 18).Select(i => (uint)i), ids);
    }

    [Fact]
    public void Take_all_returns_the_newest_id_and_empties_the_ring()
    {
        var f = new DelayFifo();
        Assert.Equal(0, f.TakeAll(out _));
        f.Push(5, 1);
        f.Push(6, 2);
        Assert.Equal(2, f.TakeAll(out var last));
        Assert.Equal(6u, last);
        Assert.Equal(0, f.Count);
    }

    [Fact]
    public void Steady_state_allocates_nothing()
    {
        var f = new DelayFifo(64);
        for (var i = 0; i < 32; i++)
        {
            f.Push((uint)i, i);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 32; i < 100_032; i++)
        {
            f.Push((uint)i, i);
            f.TakeDue(i - 32, out _, out _, out _);
        }

        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1000, "the ring allocates per packet");
        Assert.Equal(32, f.Count);
    }
}
