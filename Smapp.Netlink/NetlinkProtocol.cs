namespace Smapp.Netlink;

/// <summary>Netlink protocols (linux/netlink.h): the third argument of <c>socket(AF_NETLINK, SOCK_RAW, protocol)</c>, see <see cref="NetlinkSocket.Open"/>.</summary>
public static class NetlinkProtocol
{
    public const int Route = 0;      // NETLINK_ROUTE
    public const int SockDiag = 4;   // NETLINK_SOCK_DIAG
    public const int Netfilter = 12; // NETLINK_NETFILTER
    public const int Generic = 16;   // NETLINK_GENERIC
}
