using System.Net;
using System.Net.Sockets;
using Smapp.Netlink;

namespace Smapp.Actors.Gateway;

/// <summary>
/// The MPTCP listening sockets Smapp opens for what it announces on a port of its own: ANNOUNCE opens no listener,
/// and a peer's join to an announced port where nothing listens is reset. A listener is opened before the ANNOUNCE
/// goes out, kept once the kernel accepted it, and closed with the REMOVE of that address and port (or when the
/// ANNOUNCE was refused). Sockets are made in the calling thread's network namespace: call it from the event loop,
/// which lives in the managed namespace.
/// </summary>
public sealed class AnnounceListeners : IDisposable
{
    private readonly Dictionary<(IPAddress, ushort), Socket> _open = [];

    public int Count => _open.Count;

    public bool IsListening(IPAddress address, ushort port) => _open.ContainsKey((address, port));

    /// <summary>A listener on <paramref name="address"/>:<paramref name="port"/>, not yet kept (see <see cref="Keep"/>).</summary>
    /// <exception cref="SocketException">The port is taken (also by an announcement of ours) or the address is not local.</exception>
    public Socket Open(IPAddress address, ushort port)
    {
        if (_open.ContainsKey((address, port)))
        {
            throw new SocketException((int)SocketError.AddressAlreadyInUse);
        }

        var s = MptcpSocket.Create(address.AddressFamily);
        try
        {
            s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            s.Bind(new IPEndPoint(address, port));
            s.Listen(16);
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <summary>The kernel accepted the announcement: the listener stays until its REMOVE.</summary>
    public void Keep(IPAddress address, ushort port, Socket listener) => _open[(address, port)] = listener;

    /// <summary>The announcement was withdrawn: its listener closes. False if none was open there.</summary>
    public bool Close(IPAddress address, ushort port)
    {
        if (!_open.Remove((address, port), out var s))
        {
            return false;
        }

        s.Dispose();
        return true;
    }

    public void Dispose()
    {
        foreach (var s in _open.Values)
        {
            s.Dispose();
        }

        _open.Clear();
    }
}
