using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Smapp.Host.Commands;

/// <summary>An address and, when one was given, a port, as the command line wrote them.</summary>
internal sealed record EndpointArg(IPAddress Address, ushort? Port);

/// <summary>
/// A bad command-line argument: its message names the argument, the value and the reason. Every command turns it
/// into one line on stderr and exit code 2 (a usage error; a kernel refusal is 1).
/// </summary>
internal sealed class UsageException(string argument, string value, string reason)
    : FormatException($"{argument}: '{value}' {reason}")
{
    public string Argument { get; } = argument;
}

/// <summary>
/// Parsers for tokens, ids, endpoints and counts given on the command line. The option factories check the value
/// while the command line is parsed, so nothing is sent to the kernel when an argument is bad: the parse error comes
/// back as "smapp: --id: '256' is out of range: ..." with exit code 2.
/// </summary>
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

    public static uint Token(string s, string argument = "--token") => TryToken(s, out var t)
        ? t
        : throw new UsageException(argument, s, "is not a token (a 32-bit number, decimal or 0x-hex, as `smapp ctl list` shows it)");

    /// <summary>An address id in <paramref name="min"/>..255.</summary>
    public static byte Id(string s, string argument, byte min)
    {
        var range = min == 0 ? "0-255" : $"{min}-255";
        if (!int.TryParse(s.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
        {
            throw new UsageException(argument, s, $"is not an address id (a whole number, {range})");
        }

        if (v < min || v > 255)
        {
            throw new UsageException(argument, s, v == 0 && min > 0
                ? $"is not a valid id here: 0 is reserved for the initial subflow's address ({range})"
                : $"is out of range: an address id is {range}");
        }

        return (byte)v;
    }

    /// <summary>ADDR, ADDR:PORT, [V6ADDR]:PORT or V6ADDR. A missing port comes back as null; a port is 1-65535.</summary>
    public static (IPAddress Address, ushort? Port) Endpoint(string s, string argument = "address")
    {
        var original = s;
        s = s.Trim();
        if (!s.StartsWith('[') && s.Count(c => c == ':') > 1)
        {
            // A bare IPv6 address: no port.
            return IPAddress.TryParse(s, out var v6) && !s.Contains('%')
                ? (v6, null)
                : throw new UsageException(argument, original, "is not an IP address (ADDR, ADDR:PORT or [V6ADDR]:PORT)");
        }

        var colon = s.LastIndexOf(':');
        var hasPort = colon > 0 && (s[0] != '[' || s[colon - 1] == ']');
        var host = hasPort ? s[..colon] : s;
        host = host.TrimStart('[').TrimEnd(']');
        if (!IPAddress.TryParse(host, out var address) || host.Contains('%')
            || address.AddressFamily == AddressFamily.InterNetwork && host.Count(c => c == '.') != 3)
        {
            throw new UsageException(argument, original, $"is not an IP address ('{host}'; ADDR, ADDR:PORT or [V6ADDR]:PORT)");
        }

        if (!hasPort)
        {
            return (address, null);
        }

        var port = s[(colon + 1)..];
        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p is < 1 or > 65535)
        {
            throw new UsageException(argument, original, $"has no valid port ('{port}' is not 1-65535)");
        }

        return (address, (ushort)p);
    }

    /// <summary>Two addresses of one subflow must be of one family.</summary>
    public static void SameFamily(string argA, IPAddress a, string argB, IPAddress b)
    {
        if (Normal(a).AddressFamily != Normal(b).AddressFamily)
        {
            throw new UsageException(argB, b.ToString(), $"is {Family(b)} but {argA} {a} is {Family(a)}: a subflow's two ends are of one address family");
        }
    }

    private static IPAddress Normal(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    private static string Family(IPAddress a) => Normal(a).AddressFamily == AddressFamily.InterNetwork ? "IPv4" : "IPv6";

    // --- option factories: the value is checked while the command line is parsed --------------------------------------

    private static T? Checked<T>(ArgumentResult r, Func<string, T> parse)
    {
        var raw = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
        try
        {
            return parse(raw);
        }
        catch (UsageException e)
        {
            r.AddError(e.Message);
            return default;
        }
    }

    private static string NameOf(ArgumentResult r) => (r.Parent as OptionResult)?.Option.Name ?? r.Argument.Name;

    public static Option<uint> TokenOption(string name = "--token", bool required = true) => new(name)
    {
        Description = "The connection's token (decimal or 0x-hex), as `smapp ctl list` or `smapp monitor` show it",
        Required = required,
        CustomParser = r => Checked(r, s => Token(s, NameOf(r))),
    };

    public static Option<uint?> OptionalTokenOption(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = r => Checked<uint?>(r, s => Token(s, NameOf(r))),
    };

    public static Option<byte> IdOption(string name, string description, byte min) => new(name)
    {
        Description = description,
        Required = true,
        CustomParser = r => Checked(r, s => Id(s, NameOf(r), min)),
    };

    public static Option<byte?> OptionalIdOption(string name, string description, byte min) => new(name)
    {
        Description = description,
        CustomParser = r => Checked<byte?>(r, s => Id(s, NameOf(r), min)),
    };

    /// <summary>An endpoint option; <paramref name="port"/> says whether a port is required (true), forbidden (false) or optional (null).</summary>
    public static Option<EndpointArg> EndpointOption(string name, string description, bool? port) => new(name)
    {
        Description = description,
        Required = true,
        CustomParser = r => Checked(r, s =>
        {
            var (a, p) = Endpoint(s, NameOf(r));
            if (port == true && p is null)
            {
                throw new UsageException(NameOf(r), s, "needs a port: ADDR:PORT or [V6ADDR]:PORT");
            }

            if (port == false && p is not null)
            {
                throw new UsageException(NameOf(r), s, "takes no port here (the kernel picks the source port): give the address alone");
            }

            return new EndpointArg(a, p);
        }),
    };

    /// <summary>A whole number of at least <paramref name="min"/> (and at most <paramref name="max"/>).</summary>
    public static Option<int?> CountOption(string name, string description, int min, int max = int.MaxValue, string? unit = null) => new(name)
    {
        Description = description,
        CustomParser = r => Checked<int?>(r, s =>
        {
            if (!int.TryParse(s.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
            {
                throw new UsageException(NameOf(r), s, $"is not a whole number{(unit is null ? "" : $" of {unit}")}");
            }

            return v < min || v > max
                ? throw new UsageException(NameOf(r), s, max == int.MaxValue ? $"must be at least {min}" : $"must be between {min} and {max}")
                : v;
        }),
    };

    /// <summary>A positive number of seconds.</summary>
    public static Option<double?> SecondsOption(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = r => Checked<double?>(r, s =>
        {
            if (!double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || double.IsNaN(v) || double.IsInfinity(v))
            {
                throw new UsageException(NameOf(r), s, "is not a number of seconds");
            }

            return v <= 0 ? throw new UsageException(NameOf(r), s, "must be more than 0 seconds") : v;
        }),
    };
}
