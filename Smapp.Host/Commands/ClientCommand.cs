using System.CommandLine;
using Smapp.Client;

namespace Smapp.Host.Commands;

/// <summary>
/// `smapp client policy|block`: the application API (Smapp.Client) from the shell, for a connection named by its
/// endpoints. Any user may run it; the daemon lets it steer only connections of the caller's uid (root: any).
/// </summary>
internal static class ClientCommand
{
    public static Command Build()
    {
        var netns = new Option<string?>("--netns") { Description = "The daemon managing this namespace (its application socket is /run/smapp/NS.app.sock)" };
        var socket = new Option<string?>("--socket") { Description = "The application socket (smapp.app-api.socket of the daemon), instead of the one --netns implies" };
        var local = new Option<string>("--local") { Description = "The connection's local endpoint, ADDRESS:PORT", Required = true };
        var remote = new Option<string>("--remote") { Description = "The connection's remote endpoint, ADDRESS:PORT", Required = true };

        var policy = new Argument<string>("policy") { Description = "The policy to apply (fullmesh, ndiffports, backup, streaming, …)" };
        var set = new Option<string[]>("--set") { Description = "A parameter of the policy, KEY=VALUE (its key under smapp.policies.NAME); repeatable", AllowMultipleArgumentsPerToken = false };
        var policyCmd = new Command("policy", "Ask the daemon to replace one connection's policy") { policy, set, netns, socket, local, remote };
        policyCmd.SetAction(r => Run(r.GetValue(socket), r.GetValue(netns), r.GetValue(local)!, r.GetValue(remote)!, (c, l, rm) =>
        {
            var parameters = new Dictionary<string, string>();
            foreach (var kv in r.GetValue(set) ?? [])
            {
                var eq = kv.IndexOf('=');
                if (eq <= 0)
                {
                    throw new ArgumentException($"--set: '{kv}' is not KEY=VALUE");
                }

                parameters[kv[..eq].Trim()] = kv[(eq + 1)..].Trim();
            }

            return c.RequestPolicy(l, rm, r.GetValue(policy)!, parameters);
        }));

        var bytes = new Option<long>("--bytes") { Description = "The block's size in bytes", Required = true };
        var deadline = new Option<string>("--deadline") { Description = "When the block is due, from now (500ms, 1s)", Required = true };
        var blockCmd = new Command("block", "Tell one connection's policy that a block of N bytes starts now, due within the deadline") { bytes, deadline, netns, socket, local, remote };
        blockCmd.SetAction(r => Run(r.GetValue(socket), r.GetValue(netns), r.GetValue(local)!, r.GetValue(remote)!, (c, l, rm) =>
        {
            var text = r.GetValue(deadline)!;
            TimeSpan d;
            try
            {
                d = Akka.Configuration.ConfigurationFactory.ParseString($"x = \"{text.Replace("\"", "")}\"").GetTimeSpan("x", null, allowInfinite: false);
            }
            catch (Exception)
            {
                d = TimeSpan.Zero;
            }

            if (d <= TimeSpan.Zero)
            {
                throw new ArgumentException($"--deadline: '{text}' is not a positive duration (like 500ms or 1s)");
            }

            return c.NotifyBlock(l, rm, r.GetValue(bytes), d);
        }));

        return new Command("client", "The application API from the shell: steer one connection through the daemon's application socket") { policyCmd, blockCmd };
    }

    private static int Run(string? socket, string? netns, string localText, string remoteText, Func<SmappClient, System.Net.IPEndPoint, System.Net.IPEndPoint, SmappResult> ask)
    {
        if (!AppWire.TryParse(localText, out var local))
        {
            return CommonOptions.Fail($"--local: '{localText}' is not ADDRESS:PORT", 2);
        }

        if (!AppWire.TryParse(remoteText, out var remote))
        {
            return CommonOptions.Fail($"--remote: '{remoteText}' is not ADDRESS:PORT", 2);
        }

        try
        {
            using var client = SmappClient.Connect(socket ?? netns);
            var result = ask(client, local, remote);
            if (!result.Ok)
            {
                return CommonOptions.Fail($"refused: {result.Reason}", 3);
            }

            Console.WriteLine(result);
            return 0;
        }
        catch (SmappClientException e)
        {
            return CommonOptions.Fail(e.Message);
        }
        catch (ArgumentException e)
        {
            return CommonOptions.Fail(e.Message, 2);
        }
    }
}
