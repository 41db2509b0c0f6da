using System.Runtime.InteropServices;
using Smapp.Netlink.Native;

namespace Smapp.Netlink;

/// <summary>
/// A reusable set of descriptors for poll(2), each watched for readability: fill it (<see cref="Reset"/>,
/// <see cref="Add"/>, or the constructor), <see cref="Wait"/>, then ask <see cref="Ready"/> per index.
/// Refilling and waiting allocate nothing once the set has grown to its largest size.
/// </summary>
public sealed unsafe class PollSet
{
    private PollFd[] _fds;

    /// <summary>A set holding <paramref name="fds"/>, at indices 0, 1, … in that order.</summary>
    public PollSet(params ReadOnlySpan<int> fds)
    {
        _fds = new PollFd[Math.Max(8, fds.Length)];
        foreach (var fd in fds)
        {
            Add(fd);
        }
    }

    /// <summary>How many descriptors the set holds.</summary>
    public int Count { get; private set; }

    /// <summary>Empties the set (its storage is kept).</summary>
    public void Reset() => Count = 0;

    /// <summary>Watches <paramref name="fd"/> for readability; returns its index.</summary>
    public int Add(int fd)
    {
        if (Count == _fds.Length)
        {
            Array.Resize(ref _fds, Count * 2);
        }

        _fds[Count] = new PollFd { Fd = fd, Events = Libc.POLLIN };
        return Count++;
    }

    /// <summary>The descriptor at <paramref name="index"/>.</summary>
    public int Fd(int index) => _fds[CheckIndex(index)].Fd;

    /// <summary>Waits up to <paramref name="timeoutMs"/> (-1: forever). Returns the number of ready descriptors (0 on timeout or EINTR).</summary>
    public int Wait(int timeoutMs)
    {
        fixed (PollFd* p = _fds)
        {
            for (var i = 0; i < Count; i++)
            {
                p[i].Revents = 0;
            }

            var n = Libc.poll(p, (nuint)Count, timeoutMs);
            if (n < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.EINTR)
                {
                    return 0;
                }

                throw new Wire.NetlinkException(errno, null, "poll");
            }

            return n;
        }
    }

    /// <summary>Whether the descriptor at <paramref name="index"/> was readable or in error (or hung up) at the last <see cref="Wait"/>.</summary>
    public bool Ready(int index) => (_fds[CheckIndex(index)].Revents & (Libc.POLLIN | Libc.POLLERR | Libc.POLLHUP)) != 0;

    private int CheckIndex(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
        return index;
    }
}

/// <summary>An eventfd used to wake a thread blocked in poll.</summary>
public sealed unsafe class WakeupFd : IDisposable
{
    public WakeupFd()
    {
        Fd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (Fd < 0)
        {
            throw new Wire.NetlinkException(Marshal.GetLastPInvokeError(), null, "eventfd");
        }
    }

    public int Fd { get; private set; }

    public void Signal()
    {
        ulong one = 1;
        Libc.write(Fd, &one, sizeof(ulong));
    }

    public void Drain()
    {
        ulong v;
        Libc.read(Fd, &v, sizeof(ulong));
    }

    public void Dispose()
    {
        if (Fd >= 0)
        {
            Libc.close(Fd);
            Fd = -1;
        }
    }
}
