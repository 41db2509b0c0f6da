using System.Buffers.Binary;
using System.Net;
using Smapp.Netlink.Wire;

namespace Smapp.Netlink.Route;

/// <summary>A local address as rtnetlink reports it (RTM_NEWADDR / RTM_DELADDR, <c>struct ifaddrmsg</c> + IFA_*).</summary>
public sealed record RtAddress(bool Removed, int IfIndex, IPAddress Address, byte PrefixLength, byte Scope, uint Flags, string? Label)
{
    public const byte ScopeUniverse = 0;   // RT_SCOPE_UNIVERSE
    public const byte ScopeLink = 253;     // RT_SCOPE_LINK
    public const byte ScopeHost = 254;     // RT_SCOPE_HOST
    public const uint FlagTentative = 0x40;   // IFA_F_TENTATIVE
    public const uint FlagDadFailed = 0x08;   // IFA_F_DADFAILED
    public const uint FlagDeprecated = 0x20;  // IFA_F_DEPRECATED

    /// <summary>Global scope, not tentative, not DAD-failed, not deprecated: an address a subflow may use.</summary>
    public bool IsUsable => Scope == ScopeUniverse && (Flags & (FlagTentative | FlagDadFailed | FlagDeprecated)) == 0;
}

/// <summary>A network interface as rtnetlink reports it (RTM_NEWLINK / RTM_DELLINK, <c>struct ifinfomsg</c> + IFLA_*).</summary>
public sealed record RtLink(bool Removed, int IfIndex, string? Name, uint Flags, byte? OperState)
{
    public const uint IffUp = 0x1;
    public const uint IffLoopback = 0x8;
    public const uint IffRunning = 0x40;
    public const uint IffLowerUp = 0x10000;

    public bool IsUp => (Flags & IffUp) != 0;

    public bool IsRunning => (Flags & IffRunning) != 0;

    public bool IsLoopback => (Flags & IffLoopback) != 0;
}

/// <summary>rtnetlink message types, multicast groups and codecs for addresses and links.</summary>
public static class Rtnetlink
{
    public const ushort NewLink = 16, DelLink = 17, GetLink = 18;  // RTM_*LINK
    public const ushort NewAddr = 20, DelAddr = 21, GetAddr = 22;  // RTM_*ADDR

    public const uint GroupLink = 1;        // RTNLGRP_LINK
    public const uint GroupIPv4Addr = 5;    // RTNLGRP_IPV4_IFADDR
    public const uint GroupIPv6Addr = 9;    // RTNLGRP_IPV6_IFADDR

    private const ushort IfaAddress = 1, IfaLocal = 2, IfaLabel = 3, IfaFlags = 8;  // IFA_*
    private const ushort IflaIfname = 3, IflaOperstate = 16;                       // IFLA_*
    public const int IfAddrMsgSize = 8;     // sizeof(struct ifaddrmsg)
    public const int IfInfoMsgSize = 16;    // sizeof(struct ifinfomsg)

    public static void WriteAddressDump(NetlinkWriter w, uint seq)
    {
        var s = w.BeginMessage(GetAddr, NetlinkFlags.Request | NetlinkFlags.Dump, seq);
        w.PutRaw(stackalloc byte[IfAddrMsgSize]); // family AF_UNSPEC: every family
        w.EndMessage(s);
    }

    public static void WriteLinkDump(NetlinkWriter w, uint seq)
    {
        var s = w.BeginMessage(GetLink, NetlinkFlags.Request | NetlinkFlags.Dump, seq);
        w.PutRaw(stackalloc byte[IfInfoMsgSize]);
        w.EndMessage(s);
    }

    /// <summary>Decodes RTM_NEWADDR / RTM_DELADDR.</summary>
    public static bool TryDecodeAddress(in NetlinkMessage m, out RtAddress? address, out DecodeError? error)
    {
        address = null;
        var p = m.Payload;
        if (p.Length < IfAddrMsgSize)
        {
            error = new DecodeError(DecodeErrorKind.TruncatedHeader, m.Offset, $"ifaddrmsg needs {IfAddrMsgSize} bytes, got {p.Length}");
            return false;
        }

        var family = p[0];
        var prefix = p[1];
        uint flags = p[2];
        var scope = p[3];
        var index = BinaryPrimitives.ReadInt32LittleEndian(p[4..]);
        IPAddress? local = null, addr = null;
        string? label = null;
        var r = new AttributeReader(p[IfAddrMsgSize..], m.Offset + NetlinkHeader.Size + IfAddrMsgSize);
        while (r.TryRead(out var a, out error))
        {
            var ok = true;
            switch (a.Type)
            {
                case IfaAddress: ok = family == 2 ? a.TryIPv4(out addr) : a.TryIPv6(out addr); break;
                case IfaLocal: ok = family == 2 ? a.TryIPv4(out local) : a.TryIPv6(out local); break;
                case IfaLabel: label = a.AsString(); break;
                case IfaFlags: ok = a.TryU32(out flags); break;
            }

            if (!ok)
            {
                error = a.WrongSize($"IFA attribute {a.Type}", family == 2 ? 4 : 16);
                return false;
            }
        }

        if (error is not null)
        {
            return false;
        }

        // IFA_LOCAL is the interface's own address on point-to-point links; IFA_ADDRESS otherwise.
        var ip = local ?? addr;
        if (ip is null)
        {
            error = new DecodeError(DecodeErrorKind.MissingAttribute, m.Offset, "address message without IFA_ADDRESS or IFA_LOCAL");
            return false;
        }

        address = new RtAddress(m.Header.Type == DelAddr, index, ip, prefix, scope, flags, label);
        return true;
    }

    /// <summary>Decodes RTM_NEWLINK / RTM_DELLINK.</summary>
    public static bool TryDecodeLink(in NetlinkMessage m, out RtLink? link, out DecodeError? error)
    {
        link = null;
        var p = m.Payload;
        if (p.Length < IfInfoMsgSize)
        {
            error = new DecodeError(DecodeErrorKind.TruncatedHeader, m.Offset, $"ifinfomsg needs {IfInfoMsgSize} bytes, got {p.Length}");
            return false;
        }

        var index = BinaryPrimitives.ReadInt32LittleEndian(p[4..]);
        var flags = BinaryPrimitives.ReadUInt32LittleEndian(p[8..]);
        string? name = null;
        byte? oper = null;
        var r = new AttributeReader(p[IfInfoMsgSize..], m.Offset + NetlinkHeader.Size + IfInfoMsgSize);
        while (r.TryRead(out var a, out error))
        {
            if (a.Type == IflaIfname)
            {
                name = a.AsString();
            }
            else if (a.Type == IflaOperstate && a.TryU8(out var o))
            {
                oper = o;
            }
        }

        if (error is not null)
        {
            return false;
        }

        link = new RtLink(m.Header.Type == DelLink, index, name, flags, oper);
        return true;
    }
}

/// <summary>Blocking dumps of the local addresses and links, for start-up and the command line.</summary>
public static class RtnetlinkDump
{
    public static List<RtAddress> Addresses(NetlinkSocket socket) => Addresses(socket, out _);

    /// <summary>Every address; <paramref name="decodeErrors"/>: how many messages of the dump could not be decoded.</summary>
    public static List<RtAddress> Addresses(NetlinkSocket socket, out long decodeErrors)
    {
        var w = new NetlinkWriter();
        var seq = socket.NextSequence();
        Rtnetlink.WriteAddressDump(w, seq);
        var list = new List<RtAddress>();
        long readErrors = 0;
        decodeErrors = DecodeAddresses(socket.Transact(w, seq, _ => readErrors++), list) + readErrors;
        return list;
    }

    public static List<RtLink> Links(NetlinkSocket socket) => Links(socket, out _);

    public static List<RtLink> Links(NetlinkSocket socket, out long decodeErrors)
    {
        var w = new NetlinkWriter();
        var seq = socket.NextSequence();
        Rtnetlink.WriteLinkDump(w, seq);
        var list = new List<RtLink>();
        long readErrors = 0;
        decodeErrors = DecodeLinks(socket.Transact(w, seq, _ => readErrors++), list) + readErrors;
        return list;
    }

    /// <summary>The addresses among a dump's messages (one each, header included); returns how many could not be decoded.</summary>
    public static long DecodeAddresses(IEnumerable<byte[]> messages, List<RtAddress> into)
    {
        long errors = 0;
        foreach (var msg in messages)
        {
            var r = new NetlinkMessageReader(msg);
            if (!r.TryRead(out var m, out var readErr))
            {
                errors += readErr is null ? 0 : 1;
            }
            else if (m.Header.Type is Rtnetlink.NewAddr or Rtnetlink.DelAddr)
            {
                if (Rtnetlink.TryDecodeAddress(m, out var a, out _))
                {
                    into.Add(a!);
                }
                else
                {
                    errors++;
                }
            }
        }

        return errors;
    }

    /// <summary>The links among a dump's messages; returns how many could not be decoded.</summary>
    public static long DecodeLinks(IEnumerable<byte[]> messages, List<RtLink> into)
    {
        long errors = 0;
        foreach (var msg in messages)
        {
            var r = new NetlinkMessageReader(msg);
            if (!r.TryRead(out var m, out var readErr))
            {
                errors += readErr is null ? 0 : 1;
            }
            else if (m.Header.Type is Rtnetlink.NewLink or Rtnetlink.DelLink)
            {
                if (Rtnetlink.TryDecodeLink(m, out var l, out _))
                {
                    into.Add(l!);
                }
                else
                {
                    errors++;
                }
            }
        }

        return errors;
    }
}
