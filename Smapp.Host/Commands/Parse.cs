using System.Globalization;
using System.Net;

namespace Smapp.Host.Commands;

/// <summary>Parsers for tokens, ids and endpoints given on the command line.</summary>
internal static class Parse
{
    /// <summary>A connection token in decimal or 0x-hex.</summary>
    public static bool TryToken(string s, out uint token)
    {
        s = s.Trim();
        return s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? uint.TryParse(s.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out token)
            : uint.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out token);
    }

    public static uint Token(string s) => TryToken(s, out var t)
        ? t
        : throw new FormatException($"'{s}' is not a token (a 32-bit number, decimal or 0x-hex)");

    /// <summary>ADDR, ADDR:PORT, [V6ADDR]:PORT or V6ADDR. A missing port comes back as null.</summary>
    public static (IPAddress Address, ushort? Port) Endpoint(string s)
    {
        s = s.Trim();
        if (!s.StartsWith('[') && s.Count(c => c == ':') > 1)
        {
            // A bare IPv6 address: no port.
            return IPAddress.TryParse(s, out var v6) ? (v6, null) : throw new FormatException($"'{s}' is not an IP address");
        }

        var colon = s.LastIndexOf(':');
        var hasPort = colon > 0 && (s[0] != '[' || s[colon - 1] == ']');
        var host = hasPort ? s[..colon] : s;
        host = host.TrimStart('[').TrimEnd(']');
        if (!IPAddress.TryParse(host, out var address) || host.Contains('%'))
        {
            throw new FormatException($"'{host}' is not an IP address");
        }

        if (!hasPort)
        {
            return (address, null);
        }

        var port = s[(colon + 1)..];
        if (!ushort.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p == 0)
        {
            throw new FormatException($"'{port}' is not a port (1-65535)");
        }

        return (address, p);
    }
}
