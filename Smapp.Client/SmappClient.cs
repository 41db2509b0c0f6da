using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Smapp.Client;

/// <summary>
/// What the daemon answered. <see cref="Ok"/> false is a refusal (not your connection, no such connection, an
/// unknown policy or a bad parameter): <see cref="Reason"/> says which, in the daemon's words. Refusals are results,
/// not exceptions: an application decides what to do without it (carry on with the policy it has).
/// </summary>
public sealed record SmappResult(bool Ok, string? Token, string? Policy, string? Message, string? Reason)
{
    public override string ToString() => Ok ? $"ok: connection {Token} policy {Policy}{(Message is null ? "" : $" ({Message})")}" : $"refused: {Reason}";
}

/// <summary>The daemon could not be reached, or its answer could not be read (exceptions are for these only).</summary>
public sealed class SmappClientException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A connection to the Smapp daemon's application socket (<c>/run/smapp/NS.app.sock</c>, open to every local user).
/// One request at a time per client (calls are serialised); keep one for the application's life or open one per ask.
/// <code>
/// using var smapp = SmappClient.Connect("client-ns");           // or a socket path
/// var r = smapp.RequestPolicy(socket, "streaming", new Dictionary&lt;string, string&gt; { ["block-size"] = "65536", ["period"] = "1s" });
/// if (!r.Ok) Console.Error.WriteLine(r.Reason);
/// smapp.NotifyBlock(socket, 65536, TimeSpan.FromSeconds(1));   // a block starts now, due in 1 s
/// </code>
/// A caller may steer only connections its own uid owns (the daemon checks the socket's peer credentials against
/// the owner sock_diag reports); root may steer any.
/// </summary>
public sealed class SmappClient : IDisposable
{
    private readonly Socket _socket;
    private readonly Lock _lock = new();
    private readonly byte[] _buffer = new byte[AppWire.MaxLine * 2];
    private int _used;

    private SmappClient(Socket socket, string path)
    {
        _socket = socket;
        Path = path;
    }

    /// <summary>The application socket this client talks to.</summary>
    public string Path { get; }

    /// <summary>How long to wait for each answer (default 10 s).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Connects to the daemon: <paramref name="socketPathOrNamespace"/> is a socket path (it contains a '/'), or
    /// the name of the network namespace the daemon manages (then <c>/run/smapp/NAME.app.sock</c>); null for the
    /// daemon of the host's own namespace.
    /// </summary>
    public static SmappClient Connect(string? socketPathOrNamespace = null)
    {
        var path = socketPathOrNamespace is not null && socketPathOrNamespace.Contains('/') ? socketPathOrNamespace : AppWire.DefaultPath(socketPathOrNamespace);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new SmappClientException(e.SocketErrorCode switch
            {
                SocketError.AddressNotAvailable or SocketError.ConnectionRefused => $"no smapp daemon answers on {path} (is `smapp run` running, with smapp.app-api.socket on?)",
                SocketError.AccessDenied => $"{path}: permission denied",
                _ => $"cannot connect to {path}: {e.Message}",
            }, e);
        }

        return new SmappClient(socket, path);
    }

    /// <summary>Asks for <paramref name="policy"/> on the connection of <paramref name="connectedMptcpSocket"/>.</summary>
    public SmappResult RequestPolicy(Socket connectedMptcpSocket, string policy, IReadOnlyDictionary<string, string>? parameters = null)
    {
        var (local, remote) = EndpointsOf(connectedMptcpSocket);
        return RequestPolicy(local, remote, policy, parameters);
    }

    /// <summary>
    /// Asks for <paramref name="policy"/> on the connection whose initial subflow (or any subflow) is
    /// <paramref name="local"/> → <paramref name="remote"/>. The parameters are the policy's HOCON keys under
    /// smapp.policies.NAME, as text ("3", "500ms", "[wifi, eth0]"); the ones not given keep the configured values.
    /// </summary>
    public SmappResult RequestPolicy(IPEndPoint local, IPEndPoint remote, string policy, IReadOnlyDictionary<string, string>? parameters = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(policy);
        return Ask(new AppRequest(AppWire.OpPolicy, AppWire.Format(local), AppWire.Format(remote), policy, parameters));
    }

    /// <summary>
    /// Tells the connection's policy that a block of <paramref name="bytes"/> starts now and is due within
    /// <paramref name="deadline"/>. The streaming policy then checks that block's progress at its check point instead
    /// of running its own clock; another policy answers ok with a message saying it does not use it.
    /// </summary>
    public SmappResult NotifyBlock(Socket connectedMptcpSocket, long bytes, TimeSpan deadline)
    {
        var (local, remote) = EndpointsOf(connectedMptcpSocket);
        return NotifyBlock(local, remote, bytes, deadline);
    }

    public SmappResult NotifyBlock(IPEndPoint local, IPEndPoint remote, long bytes, TimeSpan deadline)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        if (deadline <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(deadline), deadline, "a deadline must be in the future");
        }

        return Ask(new AppRequest(AppWire.OpBlock, AppWire.Format(local), AppWire.Format(remote), Bytes: bytes, DeadlineMs: deadline.TotalMilliseconds));
    }

    /// <summary>Sends one raw line and returns the raw answer line (tests and debugging).</summary>
    public string SendLine(string line)
    {
        lock (_lock)
        {
            Write(Encoding.UTF8.GetBytes(line.EndsWith('\n') ? line : line + "\n"));
            return ReadLine();
        }
    }

    private SmappResult Ask(AppRequest request)
    {
        string line;
        lock (_lock)
        {
            Write(AppWire.Encode(request));
            line = ReadLine();
        }

        var a = AppWire.DecodeAnswer(line) ?? throw new SmappClientException($"{Path}: the daemon's answer is not JSON: {line}");
        return new SmappResult(a.Ok, a.Token, a.Policy, a.Message, a.Ok ? null : a.Error ?? "refused (no reason given)");
    }

    private static (IPEndPoint Local, IPEndPoint Remote) EndpointsOf(Socket s)
    {
        if (s.LocalEndPoint is not IPEndPoint local || s.RemoteEndPoint is not IPEndPoint remote)
        {
            throw new ArgumentException("the socket is not a connected IP socket", nameof(s));
        }

        return (local, remote);
    }

    private void Write(byte[] bytes)
    {
        try
        {
            _socket.SendTimeout = (int)Timeout.TotalMilliseconds;
            _socket.Send(bytes);
        }
        catch (SocketException e)
        {
            throw new SmappClientException($"{Path}: cannot send the request: {e.Message}", e);
        }
    }

    private string ReadLine()
    {
        _socket.ReceiveTimeout = (int)Timeout.TotalMilliseconds;
        while (true)
        {
            var nl = Array.IndexOf(_buffer, (byte)'\n', 0, _used);
            if (nl >= 0)
            {
                var line = Encoding.UTF8.GetString(_buffer, 0, nl);
                Array.Copy(_buffer, nl + 1, _buffer, 0, _used - nl - 1);
                _used -= nl + 1;
                return line;
            }

            if (_used == _buffer.Length)
            {
                throw new SmappClientException($"{Path}: the daemon's answer is longer than {_buffer.Length} bytes");
            }

            int n;
            try
            {
                n = _socket.Receive(_buffer, _used, _buffer.Length - _used, SocketFlags.None);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut || e.SocketErrorCode == SocketError.WouldBlock)
            {
                throw new SmappClientException($"{Path}: the daemon did not answer within {Timeout.TotalSeconds} s", e);
            }
            catch (SocketException e)
            {
                throw new SmappClientException($"{Path}: cannot read the answer: {e.Message}", e);
            }

            if (n == 0)
            {
                throw new SmappClientException($"{Path}: the daemon closed the connection without answering");
            }

            _used += n;
        }
    }

    public void Dispose() => _socket.Dispose();
}
