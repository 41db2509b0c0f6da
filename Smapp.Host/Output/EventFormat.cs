using System.Buffers;
using System.Net;
using System.Text;
using System.Text.Json;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Route;

namespace Smapp.Host.Output;

/// <summary>One line per event: human-readable, or one JSON object with the monitor's field names.</summary>
public static class EventFormat
{
    public static string Timestamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ");

    public static string FamilyName(ushort? f) => f switch { 2 => "inet", 10 => "inet6", null => "", _ => f.Value.ToString() };

    public static string Json(MptcpEvent e, DateTimeOffset at) => WriteJson(w =>
    {
        w.WriteString("event", e.Name);
        if (e.Token is { } t) w.WriteNumber("token", t);
        if (e.Family is { } f) w.WriteString("family", FamilyName(f));
        if (e.SourceAddress is { } s) w.WriteString("saddr", s.ToString());
        if (e.DestinationAddress is { } d) w.WriteString("daddr", d.ToString());
        if (e.SourcePort is { } sp) w.WriteNumber("sport", sp);
        if (e.DestinationPort is { } dp) w.WriteNumber("dport", dp);
        if (e.LocalId is { } l) w.WriteNumber("loc_id", l);
        if (e.RemoteId is { } r) w.WriteNumber("rem_id", r);
        if (e.Backup is { } b) w.WriteNumber("backup", b ? 1 : 0);
        if (e.Error is { } er) w.WriteNumber("error", er);
        if (e.Flags is { } fl) w.WriteNumber("flags", fl);
        if (e.IfIndex is { } ix) w.WriteNumber("if_idx", ix);
        if (e.ResetReason is { } rr) w.WriteNumber("reset_reason", rr);
        if (e.ResetFlags is { } rf) w.WriteNumber("reset_flags", rf);
        if (e.ServerSide is { } ss) w.WriteNumber("server_side", ss ? 1 : 0);
        if (e.Timeout is { } to) w.WriteNumber("timeout", to);
        if (e.Unknown.Count > 0) w.WriteString("unknown", string.Join(",", e.Unknown));
        w.WriteString("timestamp", Timestamp(at));
    });

    public static string Human(MptcpEvent e, DateTimeOffset at)
    {
        var sb = new StringBuilder();
        sb.Append(at.ToLocalTime().ToString("HH:mm:ss.ffffff")).Append(' ').Append(e.Name.ToUpperInvariant().PadRight(16));
        if (e.Token is { } t) sb.Append($" token={t:x8}");
        if (e.SourceAddress is not null || e.SourcePort is not null) sb.Append($" {Endpoint(e.SourceAddress, e.SourcePort)}");
        if (e.DestinationAddress is not null || e.DestinationPort is not null) sb.Append($" -> {Endpoint(e.DestinationAddress, e.DestinationPort)}");
        if (e.LocalId is { } l) sb.Append($" loc_id={l}");
        if (e.RemoteId is { } r) sb.Append($" rem_id={r}");
        if (e.Backup is { } b) sb.Append($" backup={(b ? 1 : 0)}");
        if (e.Error is { } er && er != 0) sb.Append($" error={er} ({Smapp.Netlink.Errno.Name(er)})");
        if (e.IfIndex is { } ix) sb.Append($" if={ix}");
        if (e.ServerSide == true) sb.Append(" server");
        if (e.Flags is { } fl && fl != 0) sb.Append($" flags=0x{fl:x}");
        if (e.ResetReason is { } rr) sb.Append($" reset_reason={rr}");
        if (e.ResetFlags is { } rf) sb.Append($" reset_flags={rf}");
        if (e.Unknown.Count > 0) sb.Append($" unknown=[{string.Join(",", e.Unknown)}]");
        return sb.ToString();
    }

    public static string Json(RtAddress a, string? ifName, DateTimeOffset at) => WriteJson(w =>
    {
        w.WriteString("event", a.Removed ? "addr_removed" : "addr_added");
        w.WriteString("family", a.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? "inet" : "inet6");
        w.WriteString("addr", a.Address.ToString());
        w.WriteNumber("prefixlen", a.PrefixLength);
        w.WriteNumber("if_idx", a.IfIndex);
        if (ifName is not null) w.WriteString("ifname", ifName);
        w.WriteString("scope", ScopeName(a.Scope));
        w.WriteString("timestamp", Timestamp(at));
    });

    public static string Human(RtAddress a, string? ifName, DateTimeOffset at) =>
        $"{at.ToLocalTime():HH:mm:ss.ffffff} {(a.Removed ? "ADDR_REMOVED" : "ADDR_ADDED"),-16} {a.Address}/{a.PrefixLength} dev {ifName ?? a.IfIndex.ToString()} scope {ScopeName(a.Scope)}";

    public static string Json(RtLink l, DateTimeOffset at) => WriteJson(w =>
    {
        w.WriteString("event", l.Removed ? "link_removed" : l.IsUp && l.IsRunning ? "link_up" : "link_down");
        w.WriteNumber("if_idx", l.IfIndex);
        if (l.Name is not null) w.WriteString("ifname", l.Name);
        w.WriteString("timestamp", Timestamp(at));
    });

    public static string Human(RtLink l, DateTimeOffset at) =>
        $"{at.ToLocalTime():HH:mm:ss.ffffff} {(l.Removed ? "LINK_REMOVED" : l.IsUp && l.IsRunning ? "LINK_UP" : "LINK_DOWN"),-16} {l.Name ?? l.IfIndex.ToString()} (if {l.IfIndex})";

    public static string Json(SubflowDiag s, DateTimeOffset at) => WriteJson(w =>
    {
        w.WriteString("event", "sample");
        w.WriteNumber("token", s.Token);
        w.WriteString("saddr", s.Id.Source.ToString());
        w.WriteString("daddr", s.Id.Destination.ToString());
        w.WriteNumber("sport", s.Id.SourcePort);
        w.WriteNumber("dport", s.Id.DestinationPort);
        w.WriteNumber("loc_id", s.LocalId);
        w.WriteNumber("rem_id", s.RemoteId);
        WriteTcpInfo(w, s.Info);
        w.WriteString("timestamp", Timestamp(at));
    });

    public static void WriteTcpInfo(Utf8JsonWriter w, TcpInfo i)
    {
        w.WriteNumber("state", i.State);
        w.WriteNumber("rto_ms", i.RtoUs / 1000.0);
        w.WriteNumber("backoff", i.Backoff);
        w.WriteNumber("rtt_ms", i.RttUs / 1000.0);
        w.WriteNumber("cwnd", i.SndCwnd);
        w.WriteNumber("pacing_rate", i.PacingRate);
        w.WriteNumber("delivery_rate", i.DeliveryRate);
        w.WriteNumber("bytes_acked", i.BytesAcked);
        w.WriteNumber("bytes_sent", i.BytesSent);
        w.WriteNumber("bytes_received", i.BytesReceived);
        w.WriteNumber("total_retrans", i.TotalRetrans);
    }

    public static string Human(SubflowDiag s, DateTimeOffset at) =>
        $"{at.ToLocalTime():HH:mm:ss.ffffff} {"SAMPLE",-16} token={s.Token:x8} {s.Id} " +
        $"rto={s.Info.RtoUs / 1000.0:0.#}ms backoff={s.Info.Backoff} rtt={s.Info.RttUs / 1000.0:0.###}ms cwnd={s.Info.SndCwnd} " +
        $"pacing={Rate(s.Info.PacingRate)} delivery={Rate(s.Info.DeliveryRate)} acked={s.Info.BytesAcked} sent={s.Info.BytesSent} retrans={s.Info.TotalRetrans}";

    public static string Rate(ulong bytesPerSecond) => bytesPerSecond switch
    {
        >= 125_000_000 => $"{bytesPerSecond * 8 / 1e9:0.##}Gbit/s",
        >= 125_000 => $"{bytesPerSecond * 8 / 1e6:0.##}Mbit/s",
        _ => $"{bytesPerSecond * 8 / 1e3:0.##}kbit/s",
    };

    public static string Endpoint(IPAddress? a, ushort? port) =>
        (a is null ? "*" : a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{a}]" : a.ToString()) + (port is { } p ? $":{p}" : "");

    private static string ScopeName(byte scope) => scope switch { 0 => "global", 253 => "link", 254 => "host", _ => scope.ToString() };

    public static string WriteJson(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
