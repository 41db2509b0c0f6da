using System.Net;
using System.Net.Sockets;

namespace Smapp.Policy;

/// <summary>
/// The one place where an address's form is settled. A dual-stack listener reports an IPv4 join as a v4-mapped IPv6
/// address (<c>::ffff:198.51.100.1</c>, family 10): it is the same host address as its IPv4 form, so everything
/// that compares, matches a prefix or picks a family goes through here.
/// </summary>
public static class AddressForm
{
    /// <summary>The IPv4 form of a v4-mapped address; any other address as it is.</summary>
    public static IPAddress Canonical(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    /// <summary>The same host address, whatever form each is in.</summary>
    public static bool Same(IPAddress a, IPAddress b) => a.Equals(b) || Canonical(a).Equals(Canonical(b));

    /// <summary>The same address (in any form) and port.</summary>
    public static bool Same(Endpoint a, Endpoint b) => a.Port == b.Port && Same(a.Address, b.Address);

    /// <summary>Both IPv4 or both IPv6 once v4-mapped addresses are taken as IPv4.</summary>
    public static bool SameFamily(IPAddress a, IPAddress b) => Canonical(a).AddressFamily == Canonical(b).AddressFamily;

    /// <summary>The address as a person reads it: IPv4 plain (v4-mapped ones too), IPv6 in brackets when a port follows.</summary>
    public static string Format(IPAddress a, ushort? port = null)
    {
        var c = Canonical(a);
        if (port is null)
        {
            return c.ToString();
        }

        return c.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{c}]:{port}" : $"{c}:{port}";
    }
}
