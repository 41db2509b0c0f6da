using System.Net.Sockets;
using System.Text;

namespace Smapp.Host.Service;

/// <summary>
/// systemd's readiness protocol (sd_notify(3)): one datagram per state change ("READY=1", "STOPPING=1",
/// "RELOADING=1", "STATUS=…") to the Unix datagram socket named by <c>NOTIFY_SOCKET</c> (a path, or an abstract
/// name when it starts with '@'). Without NOTIFY_SOCKET (not under systemd) every call does nothing. A failed send
/// is logged by the caller and never stops the daemon.
/// </summary>
public sealed class SdNotify : IDisposable
{
    private readonly Socket? _socket;
    private readonly UnixDomainSocketEndPoint? _target;

    private SdNotify(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return;
        }

        // An abstract socket: '@' stands for the leading NUL byte.
        _target = new UnixDomainSocketEndPoint(path[0] == '@' ? "\0" + path[1..] : path);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    }

    /// <summary>From the environment (NOTIFY_SOCKET).</summary>
    public static SdNotify FromEnvironment() => new(Environment.GetEnvironmentVariable("NOTIFY_SOCKET"));

    public bool Enabled => _socket is not null;

    /// <summary>Sends one state ("READY=1\nSTATUS=…"); returns the error text, or null when sent (or not under systemd).</summary>
    public string? Notify(string state)
    {
        if (_socket is null)
        {
            return null;
        }

        try
        {
            _socket.SendTo(Encoding.UTF8.GetBytes(state), _target!);
            return null;
        }
        catch (SocketException e)
        {
            return $"sd_notify {state.Split('\n')[0]} to {Environment.GetEnvironmentVariable("NOTIFY_SOCKET")}: {e.Message}";
        }
    }

    public void Dispose() => _socket?.Dispose();
}
