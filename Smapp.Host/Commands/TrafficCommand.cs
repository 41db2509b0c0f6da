using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Smapp.Host.Traffic;

namespace Smapp.Host.Commands;

/// <summary>`smapp traffic server|client`: MPTCP bulk transfers and block streams, measured at the receiver.</summary>
internal static class TrafficCommand
{
    public static Command Build()
    {
        var traffic = new Command("traffic", "A small MPTCP traffic tool: a receiver, and a sender of bulk data or of a block every period");
        traffic.Subcommands.Add(Server());
        traffic.Subcommands.Add(Client());
        return traffic;
    }

    private static Command Server()
    {
        var bind = new Option<string>("--bind") { Description = "Address to listen on (default: every address, IPv4 and IPv6)", DefaultValueFactory = _ => "::" };
        var port = new Option<int>("--port") { Description = "Port", DefaultValueFactory = _ => 5201 };
        var once = new Option<bool>("--once") { Description = "Exit after the first connection" };
        var netns = CommonOptions.Netns();
        var cmd = new Command("server", "Accept MPTCP connections, receive, and print one JSON line per connection (bytes, duration, throughput, each block's delay)")
        {
            bind, port, once, netns,
        };
        cmd.SetAction(r =>
        {
            CommonOptions.EnterNamespace(r.GetValue(netns));
            using var cts = CommonOptions.CancelOnSignals();
            using var listener = MptcpTraffic.Listen(IPAddress.Parse(r.GetValue(bind)!), r.GetValue(port));
            Console.Error.WriteLine($"smapp traffic: listening on {listener.LocalEndPoint} (MPTCP)");
            var output = new object();
            try
            {
                while (!cts.IsCancellationRequested)
                {
                    var s = listener.AcceptAsync(cts.Token).AsTask().GetAwaiter().GetResult();
                    var job = Task.Run(async () =>
                    {
                        using (s)
                        {
                            var peer = s.RemoteEndPoint;
                            var result = await MptcpTraffic.ReceiveAsync(s, cts.Token);
                            lock (output)
                            {
                                Console.WriteLine(result.ToJson().Insert(1, $"\"peer\":\"{peer}\","));
                            }
                        }
                    });
                    if (r.GetValue(once))
                    {
                        job.GetAwaiter().GetResult();
                        break;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }

            return 0;
        });
        return cmd;
    }

    private static Command Client()
    {
        var to = new Option<string>("--to") { Description = "Receiver ADDR:PORT", Required = true };
        var from = new Option<string?>("--from") { Description = "Local address of the initial subflow" };
        var bytes = new Option<long>("--bytes") { Description = "Bulk mode: bytes to send (at least one 16-byte block is always sent: MPTCP is fully established only once data flows)", DefaultValueFactory = _ => 0 };
        var block = new Option<int>("--block") { Description = "Block size in bytes (bulk: write size; stream: one block per period)", DefaultValueFactory = _ => 65536 };
        var period = new Option<int?>("--period") { Description = "Stream mode: send one block every MS milliseconds" };
        var count = new Option<int>("--count") { Description = "Stream mode: number of blocks", DefaultValueFactory = _ => 10 };
        var hold = new Option<int>("--hold") { Description = "Keep the connection open MS milliseconds after sending", DefaultValueFactory = _ => 0 };
        var netns = CommonOptions.Netns();
        var cmd = new Command("client", "Open one MPTCP connection, send, and print the receiver's measurements as JSON")
        {
            to, from, bytes, block, period, count, hold, netns,
        };
        cmd.SetAction(r =>
        {
            try
            {
                CommonOptions.EnterNamespace(r.GetValue(netns));
                var (addr, port) = Parse.Endpoint(r.GetValue(to)!, "--to");
                if (port is null)
                {
                    return CommonOptions.Fail("--to needs ADDR:PORT", 2);
                }

                var local = r.GetValue(from) is { } f ? IPAddress.Parse(f) : null;
                using var cts = CommonOptions.CancelOnSignals();
                using var s = MptcpTraffic.Connect(new IPEndPoint(addr, port.Value), local);
                if (r.GetValue(period) is { } p)
                {
                    MptcpTraffic.SendStreamAsync(s, r.GetValue(block), TimeSpan.FromMilliseconds(p), r.GetValue(count), cts.Token).GetAwaiter().GetResult();
                }
                else
                {
                    // At least one block: an MPTCP connection is fully established (and its path manager may add
                    // subflows) only once data has flowed.
                    MptcpTraffic.SendBulkAsync(s, Math.Max(r.GetValue(bytes), MptcpTraffic.HeaderSize), r.GetValue(block), cts.Token).GetAwaiter().GetResult();
                }

                if (r.GetValue(hold) > 0)
                {
                    cts.Token.WaitHandle.WaitOne(r.GetValue(hold));
                }

                var result = MptcpTraffic.FinishAsync(s, cts.Token).GetAwaiter().GetResult();
                Console.WriteLine(result?.ToJson() ?? "{}");
                return 0;
            }
            catch (Exception e) when (e is SocketException or TimeoutException or FormatException or AggregateException)
            {
                return CommonOptions.Fail($"traffic client: {e.GetBaseException().Message}");
            }
        });
        return cmd;
    }
}
