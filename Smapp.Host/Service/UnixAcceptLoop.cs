using System.Net.Sockets;

namespace Smapp.Host.Service;

/// <summary>
/// The accept loop of a local socket server (the status socket, the application socket): a blocking accept on a
/// thread of its own, so that an idle daemon wakes for nothing; each client served on a task of its own. Ends when
/// <paramref name="stopping"/> says so and the listener is shut down, or when the listener is disposed.
/// </summary>
internal static class UnixAcceptLoop
{
    public static void Run(Socket listener, Func<bool> stopping, Func<Socket, Task> serve)
    {
        while (!stopping())
        {
            Socket client;
            try
            {
                client = listener.Accept();
            }
            catch (Exception) when (stopping())
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => serve(client));
        }
    }
}
