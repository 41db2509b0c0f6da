// A streaming application that tells Smapp what it knows: it connects an MPTCP socket, asks the daemon for the
// `streaming` policy with its block size and period, then announces each block (NotifyBlock) as it sends it, so
// that the policy checks each block's progress on the application's clock. With `serve` it is the receiving end.
//
//   StreamingClient serve PORT
//   StreamingClient send SERVER:PORT [--local ADDRESS] [--block BYTES] [--period MS] [--blocks N] [--smapp NS|SOCKET]
//
// Run it in the namespace the daemon manages (ip netns exec NS ...); --smapp names the daemon (its namespace or
// its application socket; default: the host's daemon).
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Smapp.Client;

if (args.Length >= 2 && args[0] == "serve" && int.TryParse(args[1], out var port))
{
    using var listener = MptcpSockets.Create(AddressFamily.InterNetwork);
    listener.Bind(new IPEndPoint(IPAddress.Any, port));
    listener.Listen(16);
    Console.WriteLine($"serving on port {port}");
    while (true)
    {
        var peer = listener.Accept();
        _ = Task.Run(() =>
        {
            using var _ = peer;
            var buffer = new byte[65536];
            long total = 0;
            int n;
            while ((n = peer.Receive(buffer)) > 0)
            {
                total += n;
            }

            Console.WriteLine($"{peer.RemoteEndPoint}: {total} bytes");
        });
    }
}

if (args.Length < 2 || args[0] != "send" || !IPEndPoint.TryParse(args[1], out var server) || server.Port == 0)
{
    Console.Error.WriteLine("usage: StreamingClient serve PORT | send SERVER:PORT [--local ADDRESS] [--block BYTES] [--period MS] [--blocks N] [--smapp NS|SOCKET]");
    return 2;
}

IPAddress? local = null;
var block = 65536;
var period = TimeSpan.FromSeconds(1);
var blocks = 10;
string? daemon = null;
for (var i = 2; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--local": local = IPAddress.Parse(args[i + 1]); break;
        case "--block": block = int.Parse(args[i + 1]); break;
        case "--period": period = TimeSpan.FromMilliseconds(double.Parse(args[i + 1])); break;
        case "--blocks": blocks = int.Parse(args[i + 1]); break;
        case "--smapp": daemon = args[i + 1]; break;
        default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
    }
}

using var socket = MptcpSockets.Create(server.AddressFamily);
if (local is not null)
{
    socket.Bind(new IPEndPoint(local, 0));
}

socket.Connect(server);
Console.WriteLine($"connected {socket.LocalEndPoint} -> {socket.RemoteEndPoint}");

// The daemon sees the connection once the kernel reports it established (the first data): send a little first.
socket.Send(new byte[1]);
using var smapp = SmappClient.Connect(daemon);
var parameters = new Dictionary<string, string>
{
    ["block-size"] = block.ToString(),
    ["period"] = $"{period.TotalMilliseconds:0}ms",
    ["min-progress"] = (block / 2).ToString(),
};
SmappResult asked = smapp.RequestPolicy(socket, "streaming", parameters);
for (var attempt = 0; !asked.Ok && asked.Reason!.StartsWith("no managed MPTCP connection") && attempt < 50; attempt++)
{
    Thread.Sleep(20); // the daemon learns of the connection from the kernel's event, a moment after connect()
    asked = smapp.RequestPolicy(socket, "streaming", parameters);
}

Console.WriteLine($"streaming: {asked}");
var payload = new byte[block];
var clock = Stopwatch.StartNew();
for (var b = 0; b < blocks; b++)
{
    var start = clock.Elapsed;
    var notice = smapp.NotifyBlock(socket, block, period);
    Console.WriteLine($"block {b + 1}/{blocks}: {notice}");
    socket.Send(payload);
    var rest = period - (clock.Elapsed - start);
    if (rest > TimeSpan.Zero && b + 1 < blocks)
    {
        Thread.Sleep(rest); // the application's own pace: one block per period
    }
}

socket.Shutdown(SocketShutdown.Send);
return asked.Ok ? 0 : 3;
