using System.Net;
using BenchmarkDotNet.Attributes;
using Smapp.Netlink;
using Smapp.Netlink.Mptcp;
using Smapp.Netlink.Wire;

namespace Smapp.Benchmarks;

/// <summary>The netlink codec's cost per message (BenchmarkDotNet).</summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    // A client-side SUB_ESTABLISHED captured from kernel 6.18 (Smapp.Tests/Fixtures/event-cli-sub_established.hex).
    private static readonly byte[] SubEstablished = Convert.FromHexString(
        "5C0000001C00000000000000000000000A0100000800010016AB421A060002000200000008000500C633640108000700CB00710106000900BB37000006000A00145100000500030002000000050004000000000005000B0000000000");

    private readonly NetlinkWriter _writer = new();
    private readonly MptcpEventBatchDecoder _decoder = new(0x1c);
    private readonly CountingSink _sink = new();
    private readonly MptcpAddress _local = new(IPAddress.Parse("198.51.100.1"), 2);
    private readonly MptcpAddress _remote = new(IPAddress.Parse("203.0.113.1"), null, 443);

    [Benchmark]
    public int DecodeEvent()
    {
        _decoder.Dispatch(SubEstablished, _sink);
        return _sink.Count;
    }

    [Benchmark]
    public int EncodeSubflowCreate()
    {
        _writer.Reset();
        MptcpCommands.SubflowCreate(_writer, 0x1c, 1, 0x1a42ab16, _local, _remote);
        return _writer.Length;
    }

    private sealed class CountingSink : INetlinkSink<MptcpEvent>
    {
        public int Count;

        public void OnItem(MptcpEvent item, ReadOnlySpan<byte> raw) => Count++;

        public void OnDecodeError(DecodeError error, ReadOnlySpan<byte> datagram) => throw new InvalidOperationException(error.ToString());

        public void OnLost()
        {
        }
    }
}
