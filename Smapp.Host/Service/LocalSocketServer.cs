using System.Net.Sockets;

namespace Smapp.Host.Service;

/// <summary>
/// What the daemon's local socket servers (the status socket, the application socket) share: binding a Unix socket
/// at a path (a stale file left by a killed daemon replaced, a live one refused), and the accept loop.
/// </summary>
internal static class LocalSocketServer
{
    /// <summary>
    /// A listening Unix stream socket at <paramref name="path"/> with file mode <paramref name="mode"/>; errors name
    /// <paramref name="key"/> (the HOCON key that sets the path).
    /// </summary>
    public static Socket Listen(string key, string path, UnixFileMode mode, int backlog)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException($"{key}: a Linux Unix socket");
        }

        var dir = Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(dir) && !Directory.Exists(dir))
        {
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }

        if (File.Exists(path))
        {
            if (IsLive(path))
            {
                throw new InvalidOperationException($"{key}: {path} is served by another running smapp");
            }

            File.Delete(path);
        }

        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            File.SetUnixFileMode(path, mode);
            socket.Listen(backlog);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new InvalidOperationException($"{key}: cannot listen on {path}: {e.Message}");
        }
    }

    /// <summary>Whether a process accepts connections on the Unix socket at <paramref name="path"/>.</summary>
    public static bool IsLive(string path)
    {
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            s.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>
    /// A blocking accept on a thread of its own, so that an idle daemon wakes for nothing; each client served on a
    /// task of its own. Ends when <paramref name="stopping"/> says so and the listener is shut down, or when the
    /// listener is disposed.
    /// </summary>
    public static void AcceptLoop(Socket listener, Func<bool> stopping, Func<Socket, Task> serve)
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
