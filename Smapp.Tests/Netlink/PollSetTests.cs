using Smapp.Netlink;

namespace Smapp.Tests.Netlink;

/// <summary>The poll(2) wrapper on eventfds: readiness per index, reuse after a reset, growth past its first size.</summary>
public class PollSetTests
{
    [Fact]
    public void Ready_names_the_signalled_descriptor_only()
    {
        using var a = new WakeupFd();
        using var b = new WakeupFd();
        var set = new PollSet(a.Fd, b.Fd);
        Assert.Equal(0, set.Wait(0));
        Assert.False(set.Ready(0));

        b.Signal();
        Assert.Equal(1, set.Wait(1000));
        Assert.False(set.Ready(0));
        Assert.True(set.Ready(1));

        b.Drain();
        Assert.Equal(0, set.Wait(0));
        Assert.False(set.Ready(1));
    }

    [Fact]
    public void Reset_and_add_reuse_the_set_and_grow_it()
    {
        var fds = Enumerable.Range(0, 20).Select(_ => new WakeupFd()).ToList();
        try
        {
            var set = new PollSet();
            set.Add(fds[0].Fd);
            fds[0].Signal();
            Assert.Equal(1, set.Wait(0));

            set.Reset();
            foreach (var f in fds.Skip(1))
            {
                set.Add(f.Fd);
            }

            fds[19].Signal();
            Assert.Equal(19, set.Count);
            Assert.Equal(1, set.Wait(1000));
            Assert.True(set.Ready(18));
            Assert.Equal(fds[19].Fd, set.Fd(18));
            Assert.False(set.Ready(0));
            Assert.Throws<ArgumentOutOfRangeException>(() => set.Ready(19));
        }
        finally
        {
            fds.ForEach(f => f.Dispose());
        }
    }
}
