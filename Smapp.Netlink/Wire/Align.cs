namespace Smapp.Netlink.Wire;

/// <summary>Netlink alignment helpers, named after their kernel macros.</summary>
public static class Align
{
    public const int NlmsgAlignTo = 4;
    public const int NlaAlignTo = 4;

    /// <summary>NLMSG_ALIGN(len)</summary>
    public static int Nlmsg(int len) => (len + NlmsgAlignTo - 1) & ~(NlmsgAlignTo - 1);

    /// <summary>NLA_ALIGN(len)</summary>
    public static int Nla(int len) => (len + NlaAlignTo - 1) & ~(NlaAlignTo - 1);

    /// <summary>NLMSG_HDRLEN</summary>
    public const int NlmsgHdrLen = 16;

    /// <summary>NLA_HDRLEN</summary>
    public const int NlaHdrLen = 4;

    /// <summary>GENL_HDRLEN</summary>
    public const int GenlHdrLen = 4;
}
