using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Smapp.Client;

/// <summary>
/// MPTCP stream sockets for applications. .NET's <see cref="Socket"/> constructor refuses IPPROTO_MPTCP (262: it
/// answers EPROTONOSUPPORT for protocol numbers it does not know), so the descriptor is made with socket(2) and
/// wrapped; the result is an ordinary <see cref="Socket"/>.
/// </summary>
public static partial class MptcpSockets
{
    public const int IpProtoMptcp = 262;
    private const int SockStream = 1, SockCloexec = 0x80000, EProtoNoSupport = 93;

    /// <summary>A new MPTCP socket (in the calling thread's network namespace).</summary>
    public static Socket Create(AddressFamily family = AddressFamily.InterNetwork)
    {
        var af = family == AddressFamily.InterNetworkV6 ? 10 : 2;
        var fd = socket(af, SockStream | SockCloexec, IpProtoMptcp);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new SocketException(errno == EProtoNoSupport ? (int)SocketError.ProtocolNotSupported : (int)SocketError.SocketError);
        }

        return new Socket(new SafeSocketHandle(fd, ownsHandle: true));
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int socket(int domain, int type, int protocol);
}
