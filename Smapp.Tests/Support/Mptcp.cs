using System.Net;
using System.Net.Sockets;
using Smapp.Host.Traffic;
using Smapp.Netlink;

namespace Smapp.Tests.Support;

/// <summary>Real MPTCP sockets made inside a test's namespaces.</summary>
public static class Mptcp
{
    /// <summary>A listening MPTCP socket in <paramref name="netns"/> that accepts and receives on every connection until disposed.</summary>
    public sealed class Server : IDisposable
    {
        private readonly Socket _listener;
        private readonly CancellationTokenSource _cts = new();

        public Server(string netns, IPAddress bind, int port)
        {
            _listener = NetworkNamespace.Named(netns).Run(() => MptcpTraffic.Listen(bind, port));
            _ = Task.Run(async () =>
            {
                while (!_cts.IsCancellationRequested)
                {
                    Socket s;
                    try
                    {
                        s = await _listener.AcceptAsync(_cts.Token);
                    }
                    catch (Exception)
                    {
                        return;
                    }

                    _ = Task.Run(async () =>
                    {
                        using (s)
                        {
                            try
                            {
                                await MptcpTraffic.ReceiveAsync(s, _cts.Token);
                            }
                            catch (Exception)
                            {
                                // The test ended the connection or the server.
                            }
                        }
                    });
                }
            });
        }

        public void Dispose()
        {
            _cts.Cancel();
            _listener.Dispose();
        }
    }

    /// <summary>Opens an MPTCP connection from <paramref name="netns"/> and sends a first block so that it becomes fully established.</summary>
    public static Socket Connect(string netns, IPAddress server, int port, IPAddress? local = null)
    {
        var s = NetworkNamespace.Named(netns).Run(() => MptcpTraffic.Connect(new IPEndPoint(server, port), local));
        MptcpTraffic.SendBulkAsync(s, MptcpTraffic.HeaderSize, MptcpTraffic.HeaderSize, CancellationToken.None).GetAwaiter().GetResult();
        return s;
    }
}
