using System.Text;
using Smapp.Host.Output;

namespace Smapp.Host.Status;

/// <summary>How `smapp status` prints a report as a table, and its filters.</summary>
public static class StatusTable
{
    /// <summary>The connections that pass every filter given (token: hex or decimal; port: either end's; policy: its name).</summary>
    public static StatusReport Filter(StatusReport r, uint? token, ushort? port, string? policy) => r with
    {
        Connections = r.Connections.Where(c =>
            (token is null || c.Token == token.Value.ToString("x8")) &&
            (policy is null || c.Policy == policy) &&
            (port is null || PortOf(c.Local) == port || PortOf(c.Remote) == port)).ToList(),
    };

    private static ushort? PortOf(string? endpoint) =>
        endpoint is not null && endpoint.LastIndexOf(':') is var i and > 0 && ushort.TryParse(endpoint[(i + 1)..], out var p) ? p : null;

    public static string Render(StatusReport r)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"smapp (pid {r.Pid}) in {r.Namespace}: {r.Connections.Count} connection(s); default policy {r.DefaultPolicy}, {r.Rules} rule(s)");
        if (r.Connections.Count > 0)
        {
            var rows = new List<string[]> { new[] { "TOKEN", "SIDE", "LOCAL", "REMOTE", "POLICY", "RULE", "STATE" } };
            rows.AddRange(r.Connections.Select(c => new[]
            {
                c.Token, c.Side, c.Local ?? "?", c.Remote ?? "?", c.Policy, c.Rule,
                (c.Established ? "established" : "connecting") + (c.TakenOver ? ", taken over" : "") + (c.Rebuilding ? ", rebuilding" : ""),
            }));
            var widths = Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(x => x[i].Length)).ToArray();
            for (var i = 0; i < rows.Count; i++)
            {
                sb.AppendLine(string.Join("  ", rows[i].Select((x, j) => x.PadRight(widths[j]))).TrimEnd());
                if (i == 0)
                {
                    continue;
                }

                var c = r.Connections[i - 1];
                foreach (var s in c.Subflows)
                {
                    sb.Append($"    #{s.Id} {s.Interface ?? "?",-8} {s.Local} -> {s.Remote}  {s.Phase}{(s.TcpState is null ? "" : $" ({s.TcpState})")}");
                    sb.Append(s.Backup ? " backup" : "").Append(s.Initial ? " initial" : "");
                    if (s.RttMs is { } rtt)
                    {
                        sb.Append($"  rtt {rtt:0.###}ms rto {s.RtoMs:0.#}ms pacing {EventFormat.Rate(s.PacingRate ?? 0)} acked {s.BytesAcked}");
                    }

                    if (s.Failures > 0)
                    {
                        sb.Append($"  failures {s.Failures}{(s.LastClose is null ? "" : $", last: {s.LastClose}")}");
                    }

                    sb.AppendLine();
                }

                foreach (var d in c.Decisions)
                {
                    sb.AppendLine($"    {d.At:HH:mm:ss.fff} {d.What}: {d.Why}");
                }
            }
        }

        var g = r.Gateway;
        sb.AppendLine($"gateway: {g.Events} events ({string.Join(", ", g.EventsByType.Select(kv => $"{kv.Key} {kv.Value}"))})");
        sb.AppendLine($"  commands: {g.CommandsSent} sent, {g.CommandsFailed} failed, {g.CommandsTimedOut} timed out, {g.CommandsPending} pending" +
            (g.Commands.Count == 0 ? "" : $"; {string.Join(", ", g.Commands.Select(c => $"{c.Command} {(c.Outcome == "ok" ? "ok" : c.Errno)} {c.Count}"))}"));
        sb.Append($"  lost-event resyncs {g.Resyncs}, dropped (ENOBUFS) {g.DroppedEvents}, forged {g.ForgedMessages}, malformed {g.MalformedMessages}, sampler dumps {g.SamplerDumps}");
        if (g.ForeignBySocket is { Count: > 0 } foreign)
        {
            sb.AppendLine();
            sb.Append($"  dropped from non-kernel senders (port id not 0): {string.Join(", ", foreign.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}"))}");
        }
        if (r.Process is { } p)
        {
            sb.AppendLine();
            sb.Append($"process: {p.Slots} connection slot(s), {p.Actors} connection actor(s); managed heap {p.HeapBytes / 1048576.0:0.0} MiB " +
                $"(GC heap {p.GcHeapBytes / 1048576.0:0.0} MiB; {p.Gen0Collections} gen0, {p.Gen2Collections} gen2 collections, {p.IdleTrims} idle trim(s)), resident {p.RssBytes / 1048576.0:0.0} MiB, {p.Threads} threads");
        }

        return sb.ToString();
    }
}
