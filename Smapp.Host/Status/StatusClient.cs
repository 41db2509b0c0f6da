using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Smapp.Host.Status;

/// <summary>The client side of the status socket (what `smapp status` uses).</summary>
public static class StatusClient
{
    /// <summary>Whether a daemon answers on <paramref name="path"/> (a connect succeeds).</summary>
    public static bool IsLive(string path) => Service.LocalSocketServer.IsLive(path);

    /// <summary>Asks for the status; throws <see cref="StatusUnavailableException"/> with the reason when it cannot.</summary>
    public static StatusReport Query(string path, TimeSpan timeout)
    {
        if (!File.Exists(path))
        {
            throw new StatusUnavailableException($"no status socket at {path}: is `smapp run` running for that namespace (and smapp.status.socket the same)?");
        }

        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { ReceiveTimeout = (int)timeout.TotalMilliseconds, SendTimeout = (int)timeout.TotalMilliseconds };
        try
        {
            s.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException e)
        {
            throw new StatusUnavailableException(e.SocketErrorCode == SocketError.AccessDenied
                ? $"{path}: permission denied (the status socket is root's: run as root)"
                : $"{path}: {e.Message} (no daemon is listening; a stale socket file?)");
        }

        try
        {
            s.Send(JsonSerializer.SerializeToUtf8Bytes(new StatusRequest("status"), StatusJson.Default.StatusRequest));
            s.Send("\n"u8);
            using var stream = new NetworkStream(s);
            using var ms = new MemoryStream();
            stream.CopyTo(ms);
            var text = Encoding.UTF8.GetString(ms.ToArray());
            using (var doc = JsonDocument.Parse(text))
            {
                if (doc.RootElement.TryGetProperty("error", out var error))
                {
                    throw new StatusUnavailableException($"the daemon refused: {error.GetString()}");
                }
            }

            return JsonSerializer.Deserialize(text, StatusJson.Default.StatusReport) ?? throw new StatusUnavailableException("empty answer");
        }
        catch (Exception e) when (e is SocketException or IOException or JsonException)
        {
            throw new StatusUnavailableException($"{path}: {e.Message}");
        }
    }
}

public sealed class StatusUnavailableException(string message) : Exception(message);
