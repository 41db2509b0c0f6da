using System.Runtime.InteropServices;
using Smapp.Netlink.Native;

namespace Smapp.Netlink;

/// <summary>poll(2) over a few descriptors. Returns which ones are readable.</summary>
public sealed unsafe class Poller
{
    private readonly PollFd[] _fds;

    public Poller(params int[] fds)
    {
        _fds = fds.Select(fd => new PollFd { Fd = fd, Events = Libc.POLLIN }).ToArray();
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/> (-1: forever). Returns the number of ready descriptors (0 on timeout or EINTR).</summary>
    public int Wait(int timeoutMs)
    {
        fixed (PollFd* p = _fds)
        {
            for (var i = 0; i < _fds.Length; i++)
            {
                p[i].Revents = 0;
            }

            var n = Libc.poll(p, (nuint)_fds.Length, timeoutMs);
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

    /// <summary>Whether descriptor number <paramref name="index"/> (in constructor order) is readable or in error.</summary>
    public bool Ready(int index) => (_fds[index].Revents & (Libc.POLLIN | Libc.POLLERR | Libc.POLLHUP)) != 0;
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

/// <summary>poll(2) on a caller-owned pollfd array (the event loop's).</summary>
public static unsafe class PollNative
{
    /// <summary>Returns the number of ready descriptors; 0 on timeout or EINTR.</summary>
    public static int Poll(PollFd* fds, nuint count, int timeoutMs)
    {
        var n = Libc.poll(fds, count, timeoutMs);
        if (n < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno == Errno.EINTR ? 0 : throw new Wire.NetlinkException(errno, null, "poll");
        }

        return n;
    }
}
