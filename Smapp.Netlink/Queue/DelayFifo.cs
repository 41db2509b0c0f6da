namespace Smapp.Netlink.Queue;

/// <summary>
/// The packets a delay line holds, oldest first: (packet id, due time) in a ring that grows by doubling and never
/// shrinks, so that steady state allocates nothing. Due times are pushed in non-decreasing order (a constant delay
/// after a monotonic arrival time), so the packets due at any moment are always a prefix.
/// </summary>
public sealed class DelayFifo
{
    private uint[] _ids;
    private long[] _due;
    private int _head;
    private int _count;

    public DelayFifo(int capacity = 4096)
    {
        var size = 1;
        while (size < Math.Max(capacity, 2))
        {
            size <<= 1;
        }

        _ids = new uint[size];
        _due = new long[size];
    }

    public int Count => _count;

    public int Capacity => _ids.Length;

    /// <summary>The due time of the oldest packet; only meaningful when <see cref="Count"/> &gt; 0.</summary>
    public long HeadDue => _due[_head];

    /// <summary>The id of the newest packet; only meaningful when <see cref="Count"/> &gt; 0.</summary>
    public uint TailId => _ids[(_head + _count - 1) & (_ids.Length - 1)];

    public void Push(uint id, long due)
    {
        if (_count == _ids.Length)
        {
            Grow();
        }

        var i = (_head + _count) & (_ids.Length - 1);
        _ids[i] = id;
        _due[i] = due;
        _count++;
    }

    /// <summary>Removes the oldest packet and returns its id; only when <see cref="Count"/> &gt; 0.</summary>
    public uint Pop()
    {
        var id = _ids[_head];
        _head = (_head + 1) & (_ids.Length - 1);
        _count--;
        return id;
    }

    /// <summary>
    /// Removes every packet due at or before <paramref name="now"/>. Returns how many; <paramref name="lastId"/> is the
    /// newest of them, <paramref name="lateSum"/> and <paramref name="lateMax"/> how late they leave (now − due, in
    /// the clock's units).
    /// </summary>
    public int TakeDue(long now, out uint lastId, out long lateSum, out long lateMax)
    {
        lastId = 0;
        lateSum = 0;
        lateMax = 0;
        var taken = 0;
        var mask = _ids.Length - 1;
        while (_count > 0 && _due[_head] <= now)
        {
            var late = now - _due[_head];
            lateSum += late;
            if (late > lateMax)
            {
                lateMax = late;
            }

            lastId = _ids[_head];
            _head = (_head + 1) & mask;
            _count--;
            taken++;
        }

        return taken;
    }

    /// <summary>Removes everything; returns how many and the newest id.</summary>
    public int TakeAll(out uint lastId)
    {
        var n = _count;
        lastId = n > 0 ? TailId : 0;
        _head = 0;
        _count = 0;
        return n;
    }

    private void Grow()
    {
        var ids = new uint[_ids.Length * 2];
        var due = new long[_due.Length * 2];
        for (var k = 0; k < _count; k++)
        {
            var i = (_head + k) & (_ids.Length - 1);
            ids[k] = _ids[i];
            due[k] = _due[i];
        }

        _ids = ids;
        _due = due;
        _head = 0;
    }
}
