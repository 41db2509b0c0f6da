using System.Net;
using Smapp.Netlink.Generic;
using Smapp.Netlink.Wire;

namespace Smapp.Netlink.Mptcp;

/// <summary>
/// A blocking client of the mptcp_pm family, for the command line and tests: each call sends one command,
/// waits for the kernel's answer and throws <see cref="NetlinkException"/> (errno + extended-ack text) on refusal.
/// The daemon does not use this: its gateway sends the same messages without waiting.
/// </summary>
public sealed class MptcpPmClient : IDisposable
{
    private readonly NetlinkSocket _socket;
    private readonly NetlinkWriter _writer = new();

    private MptcpPmClient(NetlinkSocket socket, GenlFamily family)
    {
        _socket = socket;
        Family = family;
    }

    public GenlFamily Family { get; }

    /// <summary>Opens a generic-netlink socket in the calling thread's namespace and resolves mptcp_pm.</summary>
    public static MptcpPmClient Open()
    {
        var socket = NetlinkSocket.Open(NetlinkProtocol.Generic);
        try
        {
            return new MptcpPmClient(socket, GenericNetlink.Resolve(socket, MptcpPmNames.Family));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Announce(uint token, MptcpAddress local) => Do((w, seq) => MptcpCommands.Announce(w, Family.Id, seq, token, local));

    public void Remove(uint token, byte localId) => Do((w, seq) => MptcpCommands.Remove(w, Family.Id, seq, token, localId));

    public void SubflowCreate(uint token, MptcpAddress local, MptcpAddress remote) =>
        Do((w, seq) => MptcpCommands.SubflowCreate(w, Family.Id, seq, token, local, remote));

    public void SubflowDestroy(uint token, MptcpAddress local, MptcpAddress remote) =>
        Do((w, seq) => MptcpCommands.SubflowDestroy(w, Family.Id, seq, token, local, remote));

    public void SetFlags(uint? token, MptcpAddress local, MptcpAddress? remote) =>
        Do((w, seq) => MptcpCommands.SetFlags(w, Family.Id, seq, token, local, remote));

    public void AddAddr(MptcpAddress endpoint) => Do((w, seq) => MptcpCommands.AddAddr(w, Family.Id, seq, endpoint));

    public void DelAddr(byte id, IPAddress? address = null) => Do((w, seq) => MptcpCommands.DelAddr(w, Family.Id, seq, id, address));

    public void FlushAddrs() => Do((w, seq) => MptcpCommands.FlushAddrs(w, Family.Id, seq));

    public void SetLimits(MptcpLimits limits) => Do((w, seq) => MptcpCommands.SetLimits(w, Family.Id, seq, limits));

    public MptcpLimits GetLimits()
    {
        foreach (var datagram in Run((w, seq) => MptcpCommands.GetLimits(w, Family.Id, seq)))
        {
            var r = new NetlinkMessageReader(datagram);
            if (r.TryRead(out var m, out _) && MptcpCommands.TryDecodeLimits(m, out var limits, out _))
            {
                return limits!;
            }
        }

        throw new NetlinkException(Errno.EIO, "GET_LIMITS: no reply");
    }

    /// <summary>The in-kernel PM's endpoints, or with a token the userspace PM's local addresses of that connection.</summary>
    public List<MptcpAddress> GetAddresses(uint? token = null)
    {
        var list = new List<MptcpAddress>();
        foreach (var datagram in Run((w, seq) => MptcpCommands.GetAddrDump(w, Family.Id, seq, token)))
        {
            var r = new NetlinkMessageReader(datagram);
            if (r.TryRead(out var m, out _) && MptcpCommands.TryDecodeAddrReply(m, out var a, out _))
            {
                list.Add(a!);
            }
        }

        return list;
    }

    public void Dispose() => _socket.Dispose();

    private void Do(Action<NetlinkWriter, uint> build) => Run(build);

    private List<byte[]> Run(Action<NetlinkWriter, uint> build)
    {
        _writer.Reset();
        var seq = _socket.NextSequence();
        build(_writer, seq);
        return _socket.Transact(_writer, seq);
    }
}
