using System.Net;
using Smapp.Netlink.Generic;
using Smapp.Netlink.Wire;

namespace Smapp.Netlink.Mptcp;

/// <summary>
/// One mptcp_pm event with every attribute the kernel sent (absent ones are null). Ports are in host order
/// here; on the wire the event ports are big-endian.
/// </summary>
public sealed record MptcpEvent
{
    public required MptcpEventType Type { get; init; }

    public uint? Token { get; init; }

    public ushort? Family { get; init; }

    public byte? LocalId { get; init; }

    public byte? RemoteId { get; init; }

    public IPAddress? SourceAddress { get; init; }

    public IPAddress? DestinationAddress { get; init; }

    public ushort? SourcePort { get; init; }

    public ushort? DestinationPort { get; init; }

    public bool? Backup { get; init; }

    public byte? Error { get; init; }

    public ushort? Flags { get; init; }

    public uint? Timeout { get; init; }

    public int? IfIndex { get; init; }

    public uint? ResetReason { get; init; }

    public uint? ResetFlags { get; init; }

    public bool? ServerSide { get; init; }

    /// <summary>Attributes this decoder does not know, kept as they came.</summary>
    public IReadOnlyList<UnknownAttribute> Unknown { get; init; } = [];

    /// <summary>The lower-case event name used by the monitor: created, sub_established, …</summary>
    public string Name => NameOf(Type);

    public static string NameOf(MptcpEventType type) => type switch
    {
        MptcpEventType.Created => "created",
        MptcpEventType.Established => "established",
        MptcpEventType.Closed => "closed",
        MptcpEventType.Announced => "announced",
        MptcpEventType.Removed => "removed",
        MptcpEventType.SubEstablished => "sub_established",
        MptcpEventType.SubClosed => "sub_closed",
        MptcpEventType.SubPriority => "sub_priority",
        MptcpEventType.ListenerCreated => "listener_created",
        MptcpEventType.ListenerClosed => "listener_closed",
        _ => $"unknown_{(byte)type}",
    };

    public bool Equals(MptcpEvent? other) =>
        other is not null && Type == other.Type && Token == other.Token && Family == other.Family &&
        LocalId == other.LocalId && RemoteId == other.RemoteId && Equals(SourceAddress, other.SourceAddress) &&
        Equals(DestinationAddress, other.DestinationAddress) && SourcePort == other.SourcePort &&
        DestinationPort == other.DestinationPort && Backup == other.Backup && Error == other.Error &&
        Flags == other.Flags && Timeout == other.Timeout && IfIndex == other.IfIndex &&
        ResetReason == other.ResetReason && ResetFlags == other.ResetFlags && ServerSide == other.ServerSide &&
        Unknown.Count == other.Unknown.Count &&
        Unknown.Zip(other.Unknown).All(p => p.First.Type == p.Second.Type && p.First.Value.AsSpan().SequenceEqual(p.Second.Value));

    public override int GetHashCode() => HashCode.Combine(Type, Token, SourcePort, DestinationPort, LocalId, RemoteId);
}

/// <summary>Decodes and encodes mptcp_pm event messages.</summary>
public static class MptcpEventCodec
{
    /// <summary>Decodes the generic-netlink part of an event. A wrong-sized known attribute fails the event.</summary>
    public static bool TryDecode(in GenlMessage genl, out MptcpEvent? ev, out DecodeError? error)
    {
        ev = null;
        uint? token = null, timeout = null, resetReason = null, resetFlags = null;
        ushort? family = null, sport = null, dport = null, flags = null;
        byte? locId = null, remId = null, err = null;
        bool? backup = null, serverSide = null;
        int? ifIndex = null;
        IPAddress? saddr = null, daddr = null;
        List<UnknownAttribute>? unknown = null;

        var reader = new AttributeReader(genl.Attributes, genl.AttributesOffset);
        while (reader.TryRead(out var a, out error))
        {
            bool ok;
            switch (a.Type)
            {
                case MptcpEventAttr.Token: ok = a.TryU32(out var t); token = t; error = ok ? null : a.WrongSize("token", 4); break;
                case MptcpEventAttr.Family: ok = a.TryU16(out var f); family = f; error = ok ? null : a.WrongSize("family", 2); break;
                case MptcpEventAttr.LocId: ok = a.TryU8(out var l); locId = l; error = ok ? null : a.WrongSize("loc_id", 1); break;
                case MptcpEventAttr.RemId: ok = a.TryU8(out var r); remId = r; error = ok ? null : a.WrongSize("rem_id", 1); break;
                case MptcpEventAttr.Saddr4: ok = a.TryIPv4(out saddr); error = ok ? null : a.WrongSize("saddr4", 4); break;
                case MptcpEventAttr.Saddr6: ok = a.TryIPv6(out saddr); error = ok ? null : a.WrongSize("saddr6", 16); break;
                case MptcpEventAttr.Daddr4: ok = a.TryIPv4(out daddr); error = ok ? null : a.WrongSize("daddr4", 4); break;
                case MptcpEventAttr.Daddr6: ok = a.TryIPv6(out daddr); error = ok ? null : a.WrongSize("daddr6", 16); break;
                case MptcpEventAttr.Sport: ok = a.TryBe16(out var sp); sport = sp; error = ok ? null : a.WrongSize("sport", 2); break;
                case MptcpEventAttr.Dport: ok = a.TryBe16(out var dp); dport = dp; error = ok ? null : a.WrongSize("dport", 2); break;
                case MptcpEventAttr.Backup: ok = a.TryU8(out var b); backup = b != 0; error = ok ? null : a.WrongSize("backup", 1); break;
                case MptcpEventAttr.Error: ok = a.TryU8(out var e); err = e; error = ok ? null : a.WrongSize("error", 1); break;
                case MptcpEventAttr.Flags: ok = a.TryU16(out var fl); flags = fl; error = ok ? null : a.WrongSize("flags", 2); break;
                case MptcpEventAttr.Timeout: ok = a.TryU32(out var to); timeout = to; error = ok ? null : a.WrongSize("timeout", 4); break;
                case MptcpEventAttr.IfIdx: ok = a.TryS32(out var ix); ifIndex = ix; error = ok ? null : a.WrongSize("if_idx", 4); break;
                case MptcpEventAttr.ResetReason: ok = a.TryU32(out var rr); resetReason = rr; error = ok ? null : a.WrongSize("reset_reason", 4); break;
                case MptcpEventAttr.ResetFlags: ok = a.TryU32(out var rf); resetFlags = rf; error = ok ? null : a.WrongSize("reset_flags", 4); break;
                case MptcpEventAttr.ServerSide: ok = a.TryU8(out var ss); serverSide = ss != 0; error = ok ? null : a.WrongSize("server_side", 1); break;
                default:
                    (unknown ??= []).Add(new UnknownAttribute(a.RawType, a.Value.ToArray()));
                    break;
            }

            if (error is not null)
            {
                return false;
            }
        }

        if (error is not null)
        {
            return false;
        }

        ev = new MptcpEvent
        {
            Type = (MptcpEventType)genl.Command,
            Token = token,
            Family = family,
            LocalId = locId,
            RemoteId = remId,
            SourceAddress = saddr,
            DestinationAddress = daddr,
            SourcePort = sport,
            DestinationPort = dport,
            Backup = backup,
            Error = err,
            Flags = flags,
            Timeout = timeout,
            IfIndex = ifIndex,
            ResetReason = resetReason,
            ResetFlags = resetFlags,
            ServerSide = serverSide,
            Unknown = (IReadOnlyList<UnknownAttribute>?)unknown ?? [],
        };
        return true;
    }

    /// <summary>Decodes a whole netlink message carrying an event.</summary>
    public static bool TryDecode(in NetlinkMessage message, out MptcpEvent? ev, out DecodeError? error)
    {
        ev = null;
        return GenlMessage.TryParse(message, out var genl, out error) && TryDecode(genl, out ev, out error);
    }

    /// <summary>
    /// Encodes an event with its attributes in the order the kernel puts them (net/mptcp/pm_netlink.c, as captured
    /// from kernel 6.18), so that a captured event re-encodes to the same bytes. Unknown attributes go last.
    /// </summary>
    public static void Encode(NetlinkWriter w, MptcpEvent ev, ushort familyId, uint sequence = 0)
    {
        var start = w.BeginMessage(familyId, NetlinkFlags.None, sequence);
        w.PutGenlHeader((byte)ev.Type, MptcpPmNames.Version);
        foreach (var attr in OrderOf(ev.Type))
        {
            Put(w, ev, attr);
        }

        foreach (var u in ev.Unknown)
        {
            w.PutAttribute(u.Type, u.Value);
        }

        w.EndMessage(start);
    }

    private static readonly ushort[] ConnectionOrder =
    [
        MptcpEventAttr.Token, MptcpEventAttr.ServerSide, MptcpEventAttr.Flags, MptcpEventAttr.Family, MptcpEventAttr.Saddr4,
        MptcpEventAttr.Daddr4, MptcpEventAttr.Sport, MptcpEventAttr.Dport, MptcpEventAttr.LocId, MptcpEventAttr.RemId,
        MptcpEventAttr.Backup, MptcpEventAttr.IfIdx, MptcpEventAttr.Error, MptcpEventAttr.ResetReason, MptcpEventAttr.ResetFlags,
        MptcpEventAttr.Timeout,
    ];

    private static readonly ushort[] AnnouncedOrder =
    [
        MptcpEventAttr.Token, MptcpEventAttr.RemId, MptcpEventAttr.Dport, MptcpEventAttr.Daddr4, MptcpEventAttr.Family,
    ];

    private static readonly ushort[] ListenerOrder = [MptcpEventAttr.Family, MptcpEventAttr.Sport, MptcpEventAttr.Saddr4];

    private static ushort[] OrderOf(MptcpEventType type) => type switch
    {
        MptcpEventType.Announced or MptcpEventType.Removed or MptcpEventType.Closed => AnnouncedOrder,
        MptcpEventType.ListenerCreated or MptcpEventType.ListenerClosed => ListenerOrder,
        _ => ConnectionOrder,
    };

    /// <summary>Writes one attribute if the event has it (Saddr4 / Daddr4 stand for either family's address).</summary>
    private static void Put(NetlinkWriter w, MptcpEvent ev, ushort attr)
    {
        switch (attr)
        {
            case MptcpEventAttr.Token when ev.Token is { } t: w.PutU32(attr, t); break;
            case MptcpEventAttr.ServerSide when ev.ServerSide is { } ss: w.PutU8(attr, ss ? (byte)1 : (byte)0); break;
            case MptcpEventAttr.Flags when ev.Flags is { } f: w.PutU16(attr, f); break;
            case MptcpEventAttr.Family when ev.Family is { } fam: w.PutU16(attr, fam); break;
            case MptcpEventAttr.Saddr4 when ev.SourceAddress is { } s: w.PutAddress(Is4(s) ? MptcpEventAttr.Saddr4 : MptcpEventAttr.Saddr6, s); break;
            case MptcpEventAttr.Daddr4 when ev.DestinationAddress is { } d: w.PutAddress(Is4(d) ? MptcpEventAttr.Daddr4 : MptcpEventAttr.Daddr6, d); break;
            case MptcpEventAttr.Sport when ev.SourcePort is { } sp: w.PutBe16(attr, sp); break;
            case MptcpEventAttr.Dport when ev.DestinationPort is { } dp: w.PutBe16(attr, dp); break;
            case MptcpEventAttr.LocId when ev.LocalId is { } l: w.PutU8(attr, l); break;
            case MptcpEventAttr.RemId when ev.RemoteId is { } r: w.PutU8(attr, r); break;
            case MptcpEventAttr.Backup when ev.Backup is { } b: w.PutU8(attr, b ? (byte)1 : (byte)0); break;
            case MptcpEventAttr.IfIdx when ev.IfIndex is { } ix: w.PutS32(attr, ix); break;
            case MptcpEventAttr.Error when ev.Error is { } e: w.PutU8(attr, e); break;
            case MptcpEventAttr.ResetReason when ev.ResetReason is { } rr: w.PutU32(attr, rr); break;
            case MptcpEventAttr.ResetFlags when ev.ResetFlags is { } rf: w.PutU32(attr, rf); break;
            case MptcpEventAttr.Timeout when ev.Timeout is { } to: w.PutU32(attr, to); break;
        }
    }

    private static bool Is4(IPAddress a) => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;
}
