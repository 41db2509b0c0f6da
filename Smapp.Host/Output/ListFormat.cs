using System.Text;
using Smapp.Netlink.Diag;

namespace Smapp.Host.Output;

/// <summary>How `smapp ctl list` prints a connection and its subflows.</summary>
public static class ListFormat
{
    private static readonly string[] TcpStates = ["?", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "CLOSE", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING", "NEW-SYN-RECV"];

    public static string StateName(byte s) => s < TcpStates.Length ? TcpStates[s] : s.ToString();

    public static string Human(uint token, ConnectionDiag? conn, IReadOnlyList<SubflowDiag> subflows)
    {
        var sb = new StringBuilder();
        sb.Append($"token {token:x8} ({token})");
        if (conn is not null)
        {
            // mptcpi_subflows counts the subflows added to the initial one (it is 1 for a connection with two); the
            // count shown is the subflows sock_diag lists, every one of them.
            sb.Append($"  {conn.Id}  {StateName(conn.State)}  subflows={subflows.Count}");
            if (conn.Info.Fallback) sb.Append(" FALLBACK");
            sb.Append($" sent={conn.Info.BytesSent} acked={conn.Info.BytesAcked} received={conn.Info.BytesReceived}");
        }

        foreach (var s in subflows.OrderBy(s => s.LocalId).ThenBy(s => s.Id.SourcePort))
        {
            var i = s.Info;
            sb.Append($"\n  subflow {s.Id}  {StateName(s.TcpState)}  loc_id={s.LocalId} rem_id={s.RemoteId}{(s.BackupLocal ? " backup" : "")}{(s.BackupRemote ? " peer-backup" : "")}");
            sb.Append($"\n          rto={i.RtoUs / 1000.0:0.#}ms backoff={i.Backoff} rtt={i.RttUs / 1000.0:0.###}ms cwnd={i.SndCwnd} pacing={EventFormat.Rate(i.PacingRate)} delivery={EventFormat.Rate(i.DeliveryRate)} sent={i.BytesSent} acked={i.BytesAcked} received={i.BytesReceived} retrans={i.TotalRetrans}");
        }

        return sb.ToString();
    }

    public static string Json(uint token, ConnectionDiag? conn, IReadOnlyList<SubflowDiag> subflows) => EventFormat.WriteJson(w =>
    {
        w.WriteNumber("token", token);
        if (conn is not null)
        {
            w.WriteString("saddr", conn.Id.Source.ToString());
            w.WriteString("daddr", conn.Id.Destination.ToString());
            w.WriteNumber("sport", conn.Id.SourcePort);
            w.WriteNumber("dport", conn.Id.DestinationPort);
            w.WriteString("state", StateName(conn.State));
            w.WriteBoolean("fallback", conn.Info.Fallback);
            w.WriteNumber("bytes_sent", conn.Info.BytesSent);
            w.WriteNumber("bytes_acked", conn.Info.BytesAcked);
            w.WriteNumber("bytes_received", conn.Info.BytesReceived);
        }

        w.WriteStartArray("subflows");
        foreach (var s in subflows)
        {
            w.WriteStartObject();
            w.WriteString("saddr", s.Id.Source.ToString());
            w.WriteString("daddr", s.Id.Destination.ToString());
            w.WriteNumber("sport", s.Id.SourcePort);
            w.WriteNumber("dport", s.Id.DestinationPort);
            w.WriteNumber("loc_id", s.LocalId);
            w.WriteNumber("rem_id", s.RemoteId);
            w.WriteNumber("backup", s.BackupLocal ? 1 : 0);
            w.WriteString("tcp_state", StateName(s.TcpState));
            EventFormat.WriteTcpInfo(w, s.Info);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    });
}
