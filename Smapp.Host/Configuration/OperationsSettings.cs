using System.Net;
using Akka.Configuration;
using Smapp.Actors.Configuration;

namespace Smapp.Host.Configuration;

/// <summary>
/// The daemon's operations keys: <c>smapp.status.socket</c> (the status socket: "" for /run/smapp/NS.sock, "off"
/// for none) and <c>smapp.metrics.listen</c> (Prometheus at http://ADDR:PORT/metrics inside the managed namespace;
/// "off", the default, for none), and <c>smapp.app-api.socket</c> (the application API's socket, open to every
/// local user: "" for /run/smapp/NS.app.sock, "off" for none).
/// </summary>
public sealed record OperationsSettings(string? StatusSocket, IPEndPoint? MetricsListen, string? AppSocket = null)
{
    private static readonly string[] AppApiKeys = ["socket"];
    private static readonly string[] StatusKeys = ["socket"];
    private static readonly string[] MetricsKeys = ["listen"];

    /// <summary>Reads and checks the keys; <paramref name="ns"/> names the default socket.</summary>
    public static OperationsSettings FromConfig(Config root, string? ns)
    {
        var status = Section(root, "smapp.status", StatusKeys);
        var metrics = Section(root, "smapp.metrics", MetricsKeys);
        var socket = Text(status, "smapp.status.socket", "socket", "");
        string? statusSocket = socket switch
        {
            "" => Status.StatusServer.DefaultPath(ns),
            "off" => null,
            _ when !socket.StartsWith('/') => throw new ConfigError("smapp.status.socket", $"'{socket}' is not an absolute path (or \"\" for /run/smapp/NS.sock, off for none)"),
            _ when socket.Length > 107 => throw new ConfigError("smapp.status.socket", $"'{socket}' is longer than a Unix socket path may be (107 bytes)"),
            _ => socket,
        };

        var listen = Text(metrics, "smapp.metrics.listen", "listen", "off");
        IPEndPoint? endpoint = null;
        if (listen is not ("off" or ""))
        {
            if (!IPEndPoint.TryParse(listen, out endpoint) || endpoint.Port == 0)
            {
                throw new ConfigError("smapp.metrics.listen", $"'{listen}' is not ADDRESS:PORT (like 127.0.0.1:9464 or [::1]:9464), or off");
            }
        }

        var app = Section(root, "smapp.app-api", AppApiKeys);
        var appText = Text(app, "smapp.app-api.socket", "socket", "");
        string? appSocket = appText switch
        {
            "" => Smapp.Client.AppWire.DefaultPath(ns),
            "off" => null,
            _ when !appText.StartsWith('/') => throw new ConfigError("smapp.app-api.socket", $"'{appText}' is not an absolute path (or \"\" for /run/smapp/NS.app.sock, off for none)"),
            _ when appText.Length > 107 => throw new ConfigError("smapp.app-api.socket", $"'{appText}' is longer than a Unix socket path may be (107 bytes)"),
            _ => appText,
        };
        if (appSocket is not null && appSocket == statusSocket)
        {
            throw new ConfigError("smapp.app-api.socket", $"'{appSocket}' is the status socket too: the application socket is open to every user, the status socket to root only");
        }

        return new OperationsSettings(statusSocket, endpoint, appSocket);
    }

    private static Config Section(Config root, string path, string[] known)
    {
        if (!root.HasPath(path))
        {
            return ConfigurationFactory.Empty;
        }

        Config section;
        try
        {
            section = root.GetConfig(path);
        }
        catch (Exception)
        {
            throw new ConfigError(path, "must be a section like { ... }");
        }

        if (section is null || section.IsEmpty)
        {
            return ConfigurationFactory.Empty;
        }

        foreach (var key in section.Root.GetObject().Items.Keys)
        {
            if (!known.Contains(key))
            {
                throw new ConfigError($"{path}.{key}", $"unknown key (known here: {string.Join(", ", known)})");
            }
        }

        return section;
    }

    private static string Text(Config c, string key, string path, string fallback)
    {
        if (c.IsEmpty || !c.HasPath(path))
        {
            return fallback;
        }

        try
        {
            return c.GetString(path) ?? fallback;
        }
        catch (Exception)
        {
            throw new ConfigError(key, "must be a string");
        }
    }
}
