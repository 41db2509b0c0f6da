using Smapp.Netlink.Wire;

namespace Smapp.Netlink.Route;

/// <summary>Just enough of rtnetlink's traffic-control messages to ask whether the kernel has a qdisc kind.</summary>
public static class Qdisc
{
    public const ushort NewQdisc = 36;   // RTM_NEWQDISC
    private const int TcMsgSize = 20;    // sizeof(struct tcmsg)
    private const ushort TcaKind = 1, TcaOptions = 2;
    private const uint RootHandle = 0xFFFFFFFF; // TC_H_ROOT

    /// <summary>
    /// Tries to attach a netem qdisc (1 ms delay) to the loopback device of a brand-new, empty network namespace
    /// (unshare on a throwaway thread): true when the kernel has netem. Needs CAP_SYS_ADMIN and CAP_NET_ADMIN.
    /// </summary>
    public static bool NetemAvailable(out string detail)
    {
        string d = "";
        var ok = false;
        var t = new Thread(() =>
        {
            try
            {
                if (Native.Libc.unshare(Native.Libc.CLONE_NEWNET) < 0)
                {
                    d = $"cannot make a probe namespace: {Errno.Name(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}";
                    return;
                }

                using var s = NetlinkSocket.Open(NetlinkProtocol.Route);
                var w = new NetlinkWriter();
                var seq = s.NextSequence();
                var start = w.BeginMessage(NewQdisc, NetlinkFlags.Request | NetlinkFlags.Ack | NetlinkFlags.Create | NetlinkFlags.Excl, seq);
                Span<byte> tcm = stackalloc byte[TcMsgSize];
                tcm.Clear();
                System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(tcm[4..], 1);            // ifindex of lo
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(tcm[12..], RootHandle); // parent
                w.PutRaw(tcm);
                w.PutString(TcaKind, "netem");
                Span<byte> qopt = stackalloc byte[24];                                                 // struct tc_netem_qopt
                qopt.Clear();
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(qopt, 1000);             // latency (ticks)
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(qopt[4..], 1000);        // limit
                w.PutAttribute(TcaOptions, qopt);
                w.EndMessage(start);
                s.Transact(w, seq);
                ok = true;
                d = "netem qdisc accepted";
            }
            catch (NetlinkException e)
            {
                d = e.KernelMessage ?? e.ErrnoName;
            }
        })
        { IsBackground = true, Name = "netem-probe" };
        t.Start();
        t.Join();
        detail = d;
        return ok;
    }
}
