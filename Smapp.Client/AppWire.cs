using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Smapp.Client;

/// <summary>
/// The application socket's contract: one JSON line in, one JSON line out, as many times as the application likes
/// on one connection. snake_case names; endpoints as text ("192.0.2.1:40000", "[2001:db8::1]:443").
/// <code>
/// {"op":"policy","local":"192.0.2.1:40000","remote":"203.0.113.1:5201","policy":"ndiffports","parameters":{"subflows":"3"}}
/// {"op":"block","local":"192.0.2.1:40000","remote":"203.0.113.1:5201","bytes":65536,"deadline_ms":1000}
/// {"ok":true,"token":"87b09ac8","policy":"ndiffports","message":"..."}
/// {"ok":false,"error":"connection 192.0.2.1:40000->203.0.113.1:5201 belongs to uid 0, not 65534"}
/// </code>
/// </summary>
public static class AppWire
{
    public const string OpPolicy = "policy";
    public const string OpBlock = "block";

    /// <summary>A request line may be at most this long (bytes, the newline included).</summary>
    public const int MaxLine = 8192;

    /// <summary>Where the daemon for namespace <paramref name="ns"/> (null: the host's own) listens for applications.</summary>
    public static string DefaultPath(string? ns) => $"/run/smapp/{ns ?? "host"}.app.sock";

    /// <summary>An endpoint as the wire writes it (an IPv4-mapped IPv6 address as plain IPv4).</summary>
    public static string Format(IPEndPoint e)
    {
        var a = e.Address.IsIPv4MappedToIPv6 ? e.Address.MapToIPv4() : e.Address;
        return new IPEndPoint(a, e.Port).ToString();
    }

    /// <summary>Parses an endpoint written by <see cref="Format"/>; false for anything else (a port is required).</summary>
    public static bool TryParse(string? text, out IPEndPoint endpoint)
    {
        endpoint = null!;
        if (string.IsNullOrEmpty(text) || !IPEndPoint.TryParse(text, out var e) || e.Port == 0 || !text.Contains(':'))
        {
            return false;
        }

        endpoint = e.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(e.Address.MapToIPv4(), e.Port) : e;
        return true;
    }

    public static byte[] Encode(AppRequest request)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(request, AppJson.Default.AppRequest);
        return [.. bytes, (byte)'\n'];
    }

    public static byte[] Encode(AppAnswer answer)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(answer, AppJson.Default.AppAnswer);
        return [.. bytes, (byte)'\n'];
    }

    /// <summary>A request line, or the reason it is not one (the daemon answers that reason as its error).</summary>
    public static AppRequest? DecodeRequest(string line, out string? error)
    {
        error = null;
        AppRequest? r;
        try
        {
            r = JsonSerializer.Deserialize(line, AppJson.Default.AppRequest);
        }
        catch (JsonException e)
        {
            error = $"not a JSON request object: {e.Message}";
            return null;
        }

        if (r is null)
        {
            error = "not a JSON request object";
            return null;
        }

        error = r.Op switch
        {
            OpPolicy when string.IsNullOrWhiteSpace(r.Policy) => "op policy needs \"policy\": the name of a policy",
            OpPolicy or OpBlock when !TryParse(r.Local, out _) => $"\"local\": {Quote(r.Local)} is not ADDRESS:PORT",
            OpPolicy or OpBlock when !TryParse(r.Remote, out _) => $"\"remote\": {Quote(r.Remote)} is not ADDRESS:PORT",
            OpBlock when r.Bytes is not > 0 => "op block needs \"bytes\" > 0",
            OpBlock when r.DeadlineMs is not > 0 => "op block needs \"deadline_ms\" > 0",
            OpPolicy or OpBlock => null,
            _ => $"\"op\": {Quote(r.Op)} is not one of policy, block",
        };
        return error is null ? r : null;
    }

    public static AppAnswer? DecodeAnswer(string line)
    {
        try
        {
            return JsonSerializer.Deserialize(line, AppJson.Default.AppAnswer);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Quote(string? s) => s is null ? "missing" : s.Length > 60 ? $"'{s[..60]}…'" : $"'{s}'";
}

/// <summary>One request. <see cref="Op"/> is "policy" (with Policy and Parameters) or "block" (with Bytes and DeadlineMs).</summary>
public sealed record AppRequest(
    string? Op,
    string? Local,
    string? Remote,
    string? Policy = null,
    IReadOnlyDictionary<string, string>? Parameters = null,
    long? Bytes = null,
    double? DeadlineMs = null);

/// <summary>The daemon's answer: ok with the connection's token and policy, or not ok with the reason.</summary>
public sealed record AppAnswer(bool Ok, string? Token = null, string? Policy = null, string? Message = null, string? Error = null);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AppRequest))]
[JsonSerializable(typeof(AppAnswer))]
internal sealed partial class AppJson : JsonSerializerContext;
