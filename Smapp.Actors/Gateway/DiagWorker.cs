using System.Collections.Concurrent;
using Akka.Actor;
using Smapp.Netlink;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Wire;

namespace Smapp.Actors.Gateway;

/// <summary>
/// sock_diag dumps on a thread of their own (inside the managed namespace), so that a dump of thousands of subflows
/// never blocks the event loop. Results go straight to whoever asked.
/// </summary>
internal sealed class DiagWorker : IDisposable
{
    private readonly BlockingCollection<(object Request, IActorRef ReplyTo)> _requests = new();
    private readonly Thread _thread;

    public DiagWorker(NetworkNamespace ns)
    {
        var ready = new ManualResetEventSlim();
        Exception? failure = null;
        _thread = new Thread(() =>
        {
            SockDiagClient client;
            try
            {
                ns.EnterOnThisThread();
                client = SockDiagClient.Open();
            }
            catch (Exception e)
            {
                failure = e;
                ready.Set();
                return;
            }

            _socket = client.Socket;
            ready.Set();
            using (client)
            {
                foreach (var (request, replyTo) in _requests.GetConsumingEnumerable())
                {
                    replyTo.Tell(Serve(client, request));
                }
            }
        })
        {
            IsBackground = true,
            Name = "smapp-sock-diag",
        };
        _thread.Start();
        ready.Wait();
        if (failure is not null)
        {
            throw new InvalidOperationException($"sock_diag worker: {failure.Message}", failure);
        }
    }

    private long _decodeErrors;
    private volatile NetlinkSocket? _socket;

    /// <summary>
    /// The worker's sock_diag socket: its port id and what it dropped from non-kernel senders (counted by the worker
    /// thread while it waits for a dump's replies, read by the loop; a count read a moment stale is harmless).
    /// </summary>
    public NetlinkSocket? Socket => _socket;

    /// <summary>Where the sampler's dump durations go (a dump with a negative request id is not the sampler's).</summary>
    public GatewayCounters? Counters { get; init; }

    /// <summary>Undecodable sock_diag messages so far (written by the worker thread, read by the loop).</summary>
    public long DecodeErrors => Interlocked.Read(ref _decodeErrors);

    public void Enqueue(object request, IActorRef replyTo)
    {
        if (!_requests.IsAddingCompleted)
        {
            _requests.Add((request, replyTo));
        }
    }

    private object Serve(SockDiagClient client, object request)
    {
        try
        {
            switch (request)
            {
                case GatewayProtocol.DumpSubflows d:
                    var started = System.Diagnostics.Stopwatch.GetTimestamp();
                    var subflows = client.Subflows();
                    if (d.RequestId >= 0)
                    {
                        Counters?.SampleDump(System.Diagnostics.Stopwatch.GetElapsedTime(started));
                    }

                    Interlocked.Exchange(ref _decodeErrors, client.DecodeErrors);
                    return new GatewayProtocol.SubflowsDumped(d.RequestId, subflows, DateTimeOffset.UtcNow, null);
                case GatewayProtocol.DumpConnections c:
                    var all = client.Connections(SockDiag.LiveStates | SockDiag.ListenState);
                    var listeners = all.Where(x => x.State == SockDiag.TcpListen).ToList();
                    var conns = all.Where(x => x.State != SockDiag.TcpListen).ToList();
                    var sfs = client.Subflows();
                    if (c.Token is { } token)
                    {
                        conns = conns.Where(x => x.Info.Token == token).ToList();
                        sfs = sfs.Where(x => x.Token == token).ToList();
                    }

                    return new GatewayProtocol.ConnectionsDumped(c.Purpose, conns, sfs, null) { Listeners = listeners, RequestedAt = c.RequestedAt };
                default:
                    throw new ArgumentException($"unknown request {request}");
            }
        }
        catch (NetlinkException e)
        {
            return request switch
            {
                GatewayProtocol.DumpSubflows d => new GatewayProtocol.SubflowsDumped(d.RequestId, [], DateTimeOffset.UtcNow, e.Message),
                GatewayProtocol.DumpConnections c => new GatewayProtocol.ConnectionsDumped(c.Purpose, [], [], e.Message) { RequestedAt = c.RequestedAt },
                _ => new Status.Failure(e),
            };
        }
    }

    public void Dispose()
    {
        _requests.CompleteAdding();
        _thread.Join(TimeSpan.FromSeconds(5));
    }
}
