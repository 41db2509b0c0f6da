using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Akka.Actor;
using Smapp.Actors;
using Smapp.Actors.Observing;
using Smapp.Client;
using Smapp.Netlink.Diag;
using Smapp.Policy;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Host.AppApi;

/// <summary>
/// The application API's socket (Smapp.Client): a Unix stream socket open to every local user (mode 0666), one
/// JSON request line in, one JSON answer line out, as many as the client likes on one connection
/// (<see cref="AppWire"/>). Each request names a connection by a 4-tuple. Before anything reaches the event loop the
/// caller's uid (SO_PEERCRED on the accepted socket) is checked against the connection's owner as sock_diag reports
/// it (idiag_uid, one dump on the gateway's dump thread): root may steer any connection, any other uid only its own.
/// The steering itself is one supervisor turn (<see cref="AppProtocol"/>). A malformed line gets an error answer on
/// its own connection and touches nothing else.
/// </summary>
public sealed class AppApiServer : IDisposable
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(5);
    private const int SolSocket = 1;   // SOL_SOCKET
    private const int SoPeerCred = 17; // SO_PEERCRED: struct ucred { pid_t pid; uid_t uid; gid_t gid; }
    private readonly Socket _listener;
    private readonly SmappRuntime _runtime;
    private readonly Thread _thread;
    private volatile bool _stopping;

    private AppApiServer(Socket listener, string path, SmappRuntime runtime)
    {
        _listener = listener;
        Path = path;
        _runtime = runtime;
        _thread = new Thread(AcceptLoop) { IsBackground = true, Name = "smapp-app-api" };
        _thread.Start();
    }

    public string Path { get; }

    /// <summary>Binds the socket (replacing a stale file; refusing when a live daemon answers on it), mode 0666.</summary>
    public static AppApiServer Start(string path, SmappRuntime runtime)
    {
        var socket = Service.LocalSocketServer.Listen("smapp.app-api.socket", path, UnixFileMode.UserRead | UnixFileMode.UserWrite |
            UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite, 64);
        return new AppApiServer(socket, path, runtime);
    }

    /// <summary>The uid of the process at the other end of an accepted Unix socket (SO_PEERCRED).</summary>
    internal static uint PeerUid(Socket s)
    {
        Span<byte> cred = stackalloc byte[12];
        var n = s.GetRawSocketOption(SolSocket, SoPeerCred, cred);
        if (n < 12)
        {
            throw new SocketException((int)SocketError.ProtocolOption);
        }

        return BinaryPrimitives.ReadUInt32LittleEndian(cred[4..]);
    }

    private void AcceptLoop() => Service.LocalSocketServer.AcceptLoop(_listener, () => _stopping, ServeAsync);

    private async Task ServeAsync(Socket client)
    {
        using var _ = client;
        uint uid;
        try
        {
            uid = PeerUid(client);
        }
        catch (SocketException)
        {
            return; // no credentials: nothing can be allowed
        }

        using var stream = new NetworkStream(client, ownsSocket: false);
        var buffer = new byte[AppWire.MaxLine];
        var used = 0;
        try
        {
            while (!_stopping)
            {
                var nl = Array.IndexOf(buffer, (byte)'\n', 0, used);
                if (nl < 0)
                {
                    if (used == buffer.Length)
                    {
                        await stream.WriteAsync(AppWire.Encode(new AppAnswer(false, Error: $"a request line is longer than {AppWire.MaxLine} bytes")));
                        return;
                    }

                    var n = await stream.ReadAsync(buffer.AsMemory(used));
                    if (n == 0)
                    {
                        return;
                    }

                    used += n;
                    continue;
                }

                var line = Encoding.UTF8.GetString(buffer, 0, nl).TrimEnd('\r');
                Array.Copy(buffer, nl + 1, buffer, 0, used - nl - 1);
                used -= nl + 1;
                var answer = await AnswerAsync(line, uid);
                await stream.WriteAsync(AppWire.Encode(answer));
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // The application went away: nothing else is affected.
        }
    }

    /// <summary>One request's answer; never throws (every failure is an answer).</summary>
    internal async Task<AppAnswer> AnswerAsync(string line, uint uid)
    {
        if (AppWire.DecodeRequest(line, out var error) is not { } request)
        {
            return new AppAnswer(false, Error: error);
        }

        AppWire.TryParse(request.Local, out var local);
        AppWire.TryParse(request.Remote, out var remote);
        var l = new Endpoint(local.Address, (ushort)local.Port);
        var r = new Endpoint(remote.Address, (ushort)remote.Port);
        try
        {
            if (await OwnerAsync(local, remote) is not { } found)
            {
                return new AppAnswer(false, Error: $"no MPTCP connection {l}->{r} in the kernel (by its initial subflow or any subflow)");
            }

            var (owner, token) = found;

            if (uid != 0 && owner != uid)
            {
                return new AppAnswer(false, Error: $"connection {l}->{r} belongs to uid {owner}, not {uid}");
            }

            object reply = request.Op == AppWire.OpPolicy
                ? await _runtime.Supervisor.Ask(new AppProtocol.SetPolicy(l, r, request.Policy!, request.Parameters ?? new Dictionary<string, string>(), $"app (uid {uid})", token), AskTimeout)
                : await _runtime.Supervisor.Ask(new AppProtocol.Block(l, r, request.Bytes!.Value, TimeSpan.FromMilliseconds(request.DeadlineMs!.Value), token), AskTimeout);
            return reply switch
            {
                AppProtocol.Applied a => new AppAnswer(true, a.Token.ToString("x8"), a.Policy, a.Message),
                AppProtocol.Refused f => new AppAnswer(false, Error: f.Reason),
                _ => new AppAnswer(false, Error: $"unexpected answer from the daemon: {reply.GetType().Name}"),
            };
        }
        catch (AskTimeoutException)
        {
            return new AppAnswer(false, Error: $"the daemon did not answer within {AskTimeout.TotalSeconds} s");
        }
        catch (InvalidOperationException e)
        {
            return new AppAnswer(false, Error: e.Message);
        }
    }

    /// <summary>The uid owning the MPTCP connection whose initial pair or any subflow is local → remote, and its token; null if none.</summary>
    private async Task<(uint Uid, uint Token)?> OwnerAsync(IPEndPoint local, IPEndPoint remote)
    {
        var dump = await _runtime.Gateway.Ask<ConnectionsDumped>(new DumpConnections(DumpPurpose.Lookup), AskTimeout);
        if (dump.Error is not null)
        {
            throw new InvalidOperationException($"the sock_diag dump that checks the owner failed: {dump.Error}");
        }

        if (dump.Connections.FirstOrDefault(c => Same(c.Id, local, remote)) is { } conn)
        {
            return (conn.Uid, conn.Info.Token);
        }

        if (dump.Subflows.FirstOrDefault(s => Same(s.Id, local, remote)) is { } sf && dump.Connections.FirstOrDefault(c => c.Info.Token == sf.Token) is { } parent)
        {
            return (parent.Uid, parent.Info.Token);
        }

        return null;
    }

    private static bool Same(SocketId id, IPEndPoint local, IPEndPoint remote) =>
        id.SourcePort == local.Port && id.DestinationPort == remote.Port && AddressForm.Same(id.Source, local.Address) && AddressForm.Same(id.Destination, remote.Address);

    public void Dispose()
    {
        _stopping = true;
        try
        {
            _listener.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }

        _listener.Dispose();
        _thread.Join(TimeSpan.FromSeconds(2));
        try
        {
            File.Delete(Path);
        }
        catch (IOException)
        {
        }
    }
}
