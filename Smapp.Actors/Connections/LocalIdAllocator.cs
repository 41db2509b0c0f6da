using System.Net;
using Smapp.Policy;

namespace Smapp.Actors.Connections;

/// <summary>
/// A connection's local address ids. The initial subflow's address is id 0; any other address (and an announcement
/// of an address on a port of its own) gets the lowest id this connection has not used, and keeps it for the
/// connection's life: the kernel keeps an address's entry after its subflow closed, and refuses an id reused for
/// another address ("did not match address and id"). A struct held in its connection, so that a connection that
/// never opens a second subflow pays nothing for it.
/// </summary>
internal struct LocalIdAllocator
{
    private List<(IPAddress Address, ushort Port, byte Id)>? _ids;

    /// <summary>The initial subflow's local address (id 0).</summary>
    public IPAddress? Initial { get; set; }

    public readonly int Count => _ids?.Count ?? 0;

    /// <summary>The id for <paramref name="address"/> on <paramref name="port"/> (0: no port of its own), allocated if new.</summary>
    public byte IdFor(IPAddress address, ushort port = 0)
    {
        if (port == 0 && Initial is not null && AddressForm.Same(address, Initial))
        {
            return 0;
        }

        if (Known(address, port) is { } id)
        {
            return id;
        }

        for (byte candidate = 1; candidate < 255; candidate++)
        {
            if (!InUse(candidate))
            {
                Remember(address, candidate, port);
                return candidate;
            }
        }

        return 255;
    }

    /// <summary>The id this connection gave <paramref name="address"/> on <paramref name="port"/>, if any.</summary>
    public readonly byte? Known(IPAddress address, ushort port = 0)
    {
        if (_ids is not null)
        {
            foreach (var (a, p, id) in _ids)
            {
                if (p == port && AddressForm.Same(a, address))
                {
                    return id;
                }
            }
        }

        return null;
    }

    /// <summary>Records an id the kernel reported (events, sock_diag). Id 0 and known addresses are left as they are.</summary>
    public void Remember(IPAddress address, byte id, ushort port = 0)
    {
        if (id == 0 || Known(address, port) is not null)
        {
            return;
        }

        (_ids ??= new(1)).Add((AddressForm.Canonical(address), port, id));
    }

    public void Clear() => _ids = null;

    private readonly bool InUse(byte id) => _ids is not null && _ids.Exists(e => e.Id == id);
}
