using Smapp.Netlink.Wire;

namespace Smapp.Netlink.Generic;

/// <summary>A generic-netlink family as the kernel's controller (nlctrl) describes it.</summary>
public sealed record GenlFamily(string Name, ushort Id, uint Version, IReadOnlyDictionary<string, uint> MulticastGroups)
{
    public uint Group(string name) => MulticastGroups.TryGetValue(name, out var id)
        ? id
        : throw new KeyNotFoundException($"generic netlink family {Name} has no multicast group '{name}' (has: {string.Join(", ", MulticastGroups.Keys)})");
}

/// <summary><c>struct genlmsghdr</c> plus the attributes that follow it.</summary>
public readonly ref struct GenlMessage
{
    public GenlMessage(byte command, byte version, ReadOnlySpan<byte> attributes, int attributesOffset)
    {
        Command = command;
        Version = version;
        Attributes = attributes;
        AttributesOffset = attributesOffset;
    }

    public byte Command { get; }

    public byte Version { get; }

    public ReadOnlySpan<byte> Attributes { get; }

    /// <summary>Offset of <see cref="Attributes"/> in the datagram, for error positions.</summary>
    public int AttributesOffset { get; }

    public static bool TryParse(in NetlinkMessage message, out GenlMessage genl, out DecodeError? error)
    {
        if (message.Payload.Length < Align.GenlHdrLen)
        {
            genl = default;
            error = new DecodeError(DecodeErrorKind.TruncatedHeader, message.Offset, $"genlmsghdr needs 4 bytes, got {message.Payload.Length}");
            return false;
        }

        error = null;
        genl = new GenlMessage(message.Payload[0], message.Payload[1], message.Payload[Align.GenlHdrLen..],
            message.Offset + NetlinkHeader.Size + Align.GenlHdrLen);
        return true;
    }
}

/// <summary>Family and multicast-group resolution through nlctrl (linux/genetlink.h).</summary>
public static class GenericNetlink
{
    public const ushort ControllerId = 0x10;     // GENL_ID_CTRL
    public const byte CmdGetFamily = 3;          // CTRL_CMD_GETFAMILY
    public const ushort AttrFamilyId = 1;        // CTRL_ATTR_FAMILY_ID
    public const ushort AttrFamilyName = 2;      // CTRL_ATTR_FAMILY_NAME
    public const ushort AttrVersion = 3;         // CTRL_ATTR_VERSION
    public const ushort AttrMcastGroups = 7;     // CTRL_ATTR_MCAST_GROUPS
    public const ushort AttrMcastGrpName = 1;    // CTRL_ATTR_MCAST_GRP_NAME
    public const ushort AttrMcastGrpId = 2;      // CTRL_ATTR_MCAST_GRP_ID

    public static void WriteGetFamily(NetlinkWriter w, string name, uint sequence)
    {
        var start = w.BeginMessage(ControllerId, NetlinkFlags.Request | NetlinkFlags.Ack, sequence);
        w.PutGenlHeader(CmdGetFamily, 1);
        w.PutString(AttrFamilyName, name);
        w.EndMessage(start);
    }

    /// <summary>Resolves a family by name; ENOENT (as <see cref="NetlinkException"/>) when the kernel has none.</summary>
    public static GenlFamily Resolve(NetlinkSocket socket, string name)
    {
        var w = new NetlinkWriter();
        var seq = socket.NextSequence();
        WriteGetFamily(w, name, seq);
        foreach (var datagram in socket.Transact(w, seq))
        {
            var reader = new NetlinkMessageReader(datagram);
            if (reader.TryRead(out var msg, out _) && TryDecodeFamily(msg, out var family, out var err))
            {
                return family!;
            }
        }

        throw new NetlinkException(Errno.ENOENT, $"no reply describing generic netlink family {name}");
    }

    public static bool TryDecodeFamily(in NetlinkMessage message, out GenlFamily? family, out DecodeError? error)
    {
        family = null;
        if (!GenlMessage.TryParse(message, out var genl, out error))
        {
            return false;
        }

        string? name = null;
        ushort? id = null;
        uint version = 0;
        var groups = new Dictionary<string, uint>();
        var reader = new AttributeReader(genl.Attributes, genl.AttributesOffset);
        while (reader.TryRead(out var a, out error))
        {
            switch (a.Type)
            {
                case AttrFamilyId when a.TryU16(out var v):
                    id = v;
                    break;
                case AttrFamilyName:
                    name = a.AsString();
                    break;
                case AttrVersion when a.TryU32(out var v):
                    version = v;
                    break;
                case AttrMcastGroups:
                    var list = new AttributeReader(a.Value, a.Offset + Align.NlaHdrLen);
                    while (list.TryRead(out var entry, out error))
                    {
                        string? gname = null;
                        uint? gid = null;
                        var fields = new AttributeReader(entry.Value, entry.Offset + Align.NlaHdrLen);
                        while (fields.TryRead(out var f, out error))
                        {
                            if (f.Type == AttrMcastGrpName)
                            {
                                gname = f.AsString();
                            }
                            else if (f.Type == AttrMcastGrpId && f.TryU32(out var g))
                            {
                                gid = g;
                            }
                        }

                        if (error is not null)
                        {
                            return false;
                        }

                        if (gname is not null && gid is not null)
                        {
                            groups[gname] = gid.Value;
                        }
                    }

                    if (error is not null)
                    {
                        return false;
                    }

                    break;
            }
        }

        if (error is not null)
        {
            return false;
        }

        if (name is null || id is null)
        {
            error = new DecodeError(DecodeErrorKind.MissingAttribute, message.Offset, "family reply without CTRL_ATTR_FAMILY_NAME or CTRL_ATTR_FAMILY_ID");
            return false;
        }

        family = new GenlFamily(name, id.Value, version, groups);
        return true;
    }
}
