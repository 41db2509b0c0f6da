using System.CommandLine;
using System.Text.Json;
using Smapp.Host.Status;

namespace Smapp.Host.Commands;

/// <summary>`smapp status`: what the running daemon manages, over its status socket.</summary>
internal static class StatusCommand
{
    public static Command Build()
    {
        var json = new Option<bool>("--json") { Description = "The daemon's answer as JSON (one object; one per line with --watch)" };
        var watch = new Option<bool>("--watch") { Description = "Ask again every --interval until interrupted" };
        var interval = new Option<string>("--interval") { Description = "With --watch: how often (500ms, 2s)", DefaultValueFactory = _ => "1s" };
        var netns = new Option<string?>("--netns") { Description = "The daemon managing this namespace (its socket is /run/smapp/NS.sock)" };
        var socket = new Option<string?>("--socket") { Description = "The status socket (smapp.status.socket of the daemon), instead of the one --netns implies" };
        var token = new Option<string?>("--token") { Description = "Only this connection (decimal or 0x-hex, as the table shows it after 0x)" };
        var port = new Option<int?>("--port") { Description = "Only connections with this local or remote port" };
        var policy = new Option<string?>("--policy") { Description = "Only connections with this policy" };
        var cmd = new Command("status", "Show what the running daemon manages: connections, their policy and rule, subflows with their figures, last decisions, and the gateway's counters")
        {
            json, watch, interval, netns, socket, token, port, policy,
        };
        cmd.SetAction((r, ct) => Run(r.GetValue(socket) ?? StatusServer.DefaultPath(r.GetValue(netns)), r.GetValue(json), r.GetValue(watch), r.GetValue(interval)!,
            r.GetValue(token), r.GetValue(port), r.GetValue(policy), ct));
        return cmd;
    }

    private static async Task<int> Run(string path, bool json, bool watch, string intervalText, string? tokenText, int? portValue, string? policy, CancellationToken ct)
    {
        uint? token = null;
        if (tokenText is not null)
        {
            if (!Parse.TryToken(tokenText, out var t))
            {
                return CommonOptions.Fail($"--token: '{tokenText}' is not a token (a 32-bit number, decimal or 0x-hex)", 2);
            }

            token = t;
        }

        if (portValue is { } pv && pv is < 1 or > 65535)
        {
            return CommonOptions.Fail($"--port: '{pv}' is not a port (1-65535)", 2);
        }

        TimeSpan interval;
        try
        {
            interval = Akka.Configuration.ConfigurationFactory.ParseString($"x = {intervalText}").GetTimeSpan("x", null, allowInfinite: false);
        }
        catch (Exception)
        {
            return CommonOptions.Fail($"--interval: '{intervalText}' is not a duration (500ms, 2s)", 2);
        }

        if (interval < TimeSpan.FromMilliseconds(100))
        {
            return CommonOptions.Fail($"--interval: '{intervalText}' is shorter than 100ms", 2);
        }

        ushort? port = portValue is { } p ? (ushort)p : null;
        do
        {
            StatusReport report;
            try
            {
                report = StatusTable.Filter(StatusClient.Query(path, TimeSpan.FromSeconds(10)), token, port, policy);
            }
            catch (StatusUnavailableException e)
            {
                return CommonOptions.Fail(e.Message);
            }

            if (json)
            {
                Console.WriteLine(JsonSerializer.Serialize(report, StatusJson.Default.StatusReport));
            }
            else
            {
                if (watch && !Console.IsOutputRedirected)
                {
                    Console.Write("\x1b[H\x1b[2J");
                }

                Console.WriteLine(StatusTable.Render(report));
            }

            if (!watch)
            {
                return 0;
            }

            try
            {
                await Task.Delay(interval, ct);
            }
            catch (OperationCanceledException)
            {
                return 0;
            }
        }
        while (!ct.IsCancellationRequested);

        return 0;
    }
}
