using System.Net.Sockets;
using System.Runtime.InteropServices;
using Smapp.Netlink.Native;

namespace Smapp.Netlink;

/// <summary>
/// MPTCP stream sockets (IPPROTO_MPTCP, 262). .NET's Socket constructor refuses protocol numbers it does not know
/// (EPROTONOSUPPORT), so the descriptor is made with socket(2) and wrapped.
/// </summary>
public static class MptcpSocket
{
    public const int IpProtoMptcp = 262;

    /// <summary>A new MPTCP socket in the calling thread's network namespace.</summary>
    public static Socket Create(AddressFamily family)
    {
        var af = family == AddressFamily.InterNetworkV6 ? 10 : 2;
        var fd = Libc.socket(af, 1 /* SOCK_STREAM */ | Libc.SOCK_CLOEXEC, IpProtoMptcp);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new SocketException(errno == Errno.EPROTONOSUPPORT ? (int)SocketError.ProtocolNotSupported : (int)SocketError.SocketError);
        }

        return new Socket(new SafeSocketHandle(fd, ownsHandle: true));
    }
}
