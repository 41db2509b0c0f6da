using System.Net;
using System.Net.Sockets;
using Smapp.Netlink.Generic;
using Smapp.Netlink.Wire;

namespace Smapp.Netlink.Mptcp;

/// <summary>An address as MPTCP_PM_ATTR_ADDR / _ADDR_REMOTE carry it. The port is in host order.</summary>
public sealed record MptcpAddress(IPAddress Address, byte? Id = null, ushort? Port = null, MptcpAddrFlags Flags = MptcpAddrFlags.None, int? IfIndex = null)
{
    public ushort Family => AddressFamilies.Of(Address);

    public override string ToString() =>
        $"{(Address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{Address}]" : Address.ToString())}{(Port is { } p ? $":{p}" : "")}" +
        $"{(Id is { } id ? $" id {id}" : "")}{(Flags != 0 ? $" {Flags.ToString().ToLowerInvariant()}" : "")}{(IfIndex is { } ix ? $" if {ix}" : "")}";
}

/// <summary>The in-kernel path manager's limits (GET_LIMITS / SET_LIMITS).</summary>
public sealed record MptcpLimits(uint Subflows, uint AddAddrAccepted);

/// <summary>Builds mptcp_pm command messages. Each writes one whole message into the writer.</summary>
public static class MptcpCommands
{
    private static int Begin(NetlinkWriter w, ushort familyId, uint seq, MptcpPmCommand cmd, bool dump = false)
    {
        var start = w.BeginMessage(familyId, NetlinkFlags.Request | (dump ? NetlinkFlags.Dump : NetlinkFlags.Ack), seq);
        w.PutGenlHeader((byte)cmd, MptcpPmNames.Version);
        return start;
    }

    /// <summary>Writes a nested MPTCP_PM_ADDR_ATTR_* block: family, id, address, port, flags, if_idx.</summary>
    public static void PutAddress(NetlinkWriter w, ushort type, MptcpAddress a)
    {
        using (w.BeginNested(type))
        {
            w.PutU16(MptcpPmAddrAttr.Family, a.Family);
            if (a.Id is { } id) w.PutU8(MptcpPmAddrAttr.Id, id);
            w.PutAddress(a.Family == AddressFamilies.Inet ? MptcpPmAddrAttr.Addr4 : MptcpPmAddrAttr.Addr6, a.Address);
            if (a.Port is { } port) w.PutU16(MptcpPmAddrAttr.Port, port);
            if (a.Flags != 0) w.PutU32(MptcpPmAddrAttr.Flags, (uint)a.Flags);
            if (a.IfIndex is { } ix) w.PutS32(MptcpPmAddrAttr.IfIdx, ix);
        }
    }

    /// <summary>ANNOUNCE (userspace PM): advertise a local address (id ≠ 0, SIGNAL flag set for you) to the peer.</summary>
    public static void Announce(NetlinkWriter w, ushort familyId, uint seq, uint token, MptcpAddress local)
    {
        var s = Begin(w, familyId, seq, MptcpPmCommand.Announce);
        w.PutU32(MptcpPmAttr.Token, token);
        PutAddress(w, MptcpPmAttr.Addr, local with { Flags = local.Flags | MptcpAddrFlags.Signal });
        w.EndMessage(s);
    }

    /// <summary>REMOVE (userspace PM): withdraw the address with local id <paramref name="localId"/>.</summary>
    public static void Remove(NetlinkWriter w, ushort familyId, uint seq, uint token, byte localId)
    {
        var s = Begin(w, familyId, seq, MptcpPmCommand.Remove);
        w.PutU32(MptcpPmAttr.Token, token);
        w.PutU8(MptcpPmAttr.LocId, localId);
        w.EndMessage(s);
    }

    /// <summary>SUBFLOW_CREATE (userspace PM): local address and id (backup flag optional), remote address and port.</summary>
    public static void SubflowCreate(NetlinkWriter w, ushort familyId, uint seq, uint token, MptcpAddress local, MptcpAddress remote)
    {
        var s = Begin(w, familyId, seq, MptcpPmCommand.SubflowCreate);
        w.PutU32(MptcpPmAttr.Token, token);
        PutAddress(w, MptcpPmAttr.Addr, local);
        PutAddress(w, MptcpPmAttr.AddrRemote, remote);
        w.EndMessage(s);
    }

    /// <summary>SUBFLOW_DESTROY (userspace PM): the subflow's full 4-tuple.</summary>
    public static void SubflowDestroy(NetlinkWriter w, ushort familyId, uint seq, uint token, MptcpAddress local, MptcpAddress remote)
    {
        var s = Begin(w, familyId, seq, MptcpPmCommand.SubflowDestroy);
        w.PutU32(MptcpPmAttr.Token, token);
        PutAddress(w, MptcpPmAttr.Addr, local);
        PutAddress(w, MptcpPmAttr.AddrRemote, remote);
        w.EndMessage(s);
    }

    /// <summary>
    /// SET_FLAGS. Userspace PM: token, the subflow's local address with the backup flag (or none), and its remote
    /// address. In-kernel PM: no token; the endpoint by id or address with its new flags.
    /// </summary>
    public static void SetFlags(NetlinkWriter w, ushort familyId, uint seq, uint? token, MptcpAddress local, MptcpAddress? remote)
    {
        var s = Begin(w, familyId, seq, MptcpPmCommand.SetFlags);
        if (token is { } t) w.PutU32(MptcpPmAttr.Token, t);
        PutAddress(w, MptcpPmAttr.Addr, local);
        if (remote is not null) PutAddress(w, MptcpPmAttr.AddrRemote, remote);
        w.EndMessage(s);
    }

    /// <summary>ADD_ADDR (in-kernel PM): a new endpoint.</summary>
    public static void AddAddr(NetlinkWriter w, ushort familyId, uint seq, MptcpAddress endpoint)
    {
        var s = Begin(w, familyId, seq, MptcpPmCommand.AddAddr);
        PutAddress(w, MptcpPmAttr.Addr, endpoint);
        w.EndMessage(s);
    }

    /// <summary>DEL_ADDR (in-kernel PM): the endpoint with this id (an address is needed only for id 0).</summary>
    public static void DelAddr(NetlinkWriter w, ushort familyId, uint seq, byte id, IPAddress? address = null)
    {
        var s = Begin(w, familyId, seq, MptcpPmCommand.DelAddr);
        using (w.BeginNested(MptcpPmAttr.Addr))
        {
            if (address is not null)
            {
                w.PutU16(MptcpPmAddrAttr.Family, AddressFamilies.Of(address));
            }

            w.PutU8(MptcpPmAddrAttr.Id, id);
            if (address is not null)
            {
                w.PutAddress(AddressFamilies.Of(address) == AddressFamilies.Inet ? MptcpPmAddrAttr.Addr4 : MptcpPmAddrAttr.Addr6, address);
            }
        }

        w.EndMessage(s);
    }

    /// <summary>GET_ADDR dump: every in-kernel endpoint, or with a token the userspace PM's local addresses of that connection.</summary>
    public static void GetAddrDump(NetlinkWriter w, ushort familyId, uint seq, uint? token = null)
    {
        var s = Begin(w, familyId, seq, MptcpPmCommand.GetAddr, dump: true);
        if (token is { } t) w.PutU32(MptcpPmAttr.Token, t);
        w.EndMessage(s);
    }

    public static void FlushAddrs(NetlinkWriter w, ushort familyId, uint seq)
    {
        var s = Begin(w, familyId, seq, MptcpPmCommand.FlushAddrs);
        w.EndMessage(s);
    }

    public static void GetLimits(NetlinkWriter w, ushort familyId, uint seq)
    {
        var s = Begin(w, familyId, seq, MptcpPmCommand.GetLimits);
        w.EndMessage(s);
    }

    public static void SetLimits(NetlinkWriter w, ushort familyId, uint seq, MptcpLimits limits)
    {
        var s = Begin(w, familyId, seq, MptcpPmCommand.SetLimits);
        w.PutU32(MptcpPmAttr.RcvAddAddrs, limits.AddAddrAccepted);
        w.PutU32(MptcpPmAttr.Subflows, limits.Subflows);
        w.EndMessage(s);
    }

    /// <summary>Decodes a nested address block (a GET_ADDR reply's MPTCP_PM_ATTR_ADDR).</summary>
    public static bool TryDecodeAddress(ReadOnlySpan<byte> nested, int offset, out MptcpAddress? address, out DecodeError? error)
    {
        address = null;
        IPAddress? ip = null;
        byte? id = null;
        ushort? port = null;
        uint flags = 0;
        int? ifIndex = null;
        var r = new AttributeReader(nested, offset);
        while (r.TryRead(out var a, out error))
        {
            var ok = true;
            switch (a.Type)
            {
                case MptcpPmAddrAttr.Id: ok = a.TryU8(out var i); id = i; break;
                case MptcpPmAddrAttr.Addr4: ok = a.TryIPv4(out ip); break;
                case MptcpPmAddrAttr.Addr6: ok = a.TryIPv6(out ip); break;
                case MptcpPmAddrAttr.Port: ok = a.TryU16(out var p); port = p; break;
                case MptcpPmAddrAttr.Flags: ok = a.TryU32(out flags); break;
                case MptcpPmAddrAttr.IfIdx: ok = a.TryS32(out var ix); ifIndex = ix; break;
            }

            if (!ok)
            {
                error = new DecodeError(DecodeErrorKind.AttributeWrongSize, a.Offset, $"address attribute {a.Type} has {a.Value.Length} bytes");
                return false;
            }
        }

        if (error is not null)
        {
            return false;
        }

        if (ip is null)
        {
            error = new DecodeError(DecodeErrorKind.MissingAttribute, offset, "address without ADDR4 or ADDR6");
            return false;
        }

        address = new MptcpAddress(ip, id, port == 0 ? null : port, (MptcpAddrFlags)flags, ifIndex == 0 ? null : ifIndex);
        return true;
    }

    /// <summary>Decodes one GET_ADDR reply message.</summary>
    public static bool TryDecodeAddrReply(in NetlinkMessage message, out MptcpAddress? address, out DecodeError? error)
    {
        address = null;
        if (!GenlMessage.TryParse(message, out var genl, out error))
        {
            return false;
        }

        var r = new AttributeReader(genl.Attributes, genl.AttributesOffset);
        while (r.TryRead(out var a, out error))
        {
            if (a.Type == MptcpPmAttr.Addr)
            {
                return TryDecodeAddress(a.Value, a.Offset + Align.NlaHdrLen, out address, out error);
            }
        }

        error ??= new DecodeError(DecodeErrorKind.MissingAttribute, message.Offset, "GET_ADDR reply without MPTCP_PM_ATTR_ADDR");
        return false;
    }

    public static bool TryDecodeLimits(in NetlinkMessage message, out MptcpLimits? limits, out DecodeError? error)
    {
        limits = null;
        if (!GenlMessage.TryParse(message, out var genl, out error))
        {
            return false;
        }

        uint subflows = 0, accepted = 0;
        var r = new AttributeReader(genl.Attributes, genl.AttributesOffset);
        while (r.TryRead(out var a, out error))
        {
            if (a.Type == MptcpPmAttr.Subflows) a.TryU32(out subflows);
            else if (a.Type == MptcpPmAttr.RcvAddAddrs) a.TryU32(out accepted);
        }

        if (error is not null)
        {
            return false;
        }

        limits = new MptcpLimits(subflows, accepted);
        return true;
    }
}
