using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Smapp.Host.Traffic;

/// <summary>What the receiver measured on one connection.</summary>
public sealed record TransferResult(long Bytes, int Blocks, double DurationMs, IReadOnlyList<double> BlockDelaysMs)
{
    public double ThroughputMbps => DurationMs > 0 ? Bytes * 8 / (DurationMs * 1000) : 0;

    public string ToJson() => JsonSerializer.Serialize(new
    {
        bytes = Bytes,
        blocks = Blocks,
        duration_ms = Math.Round(DurationMs, 3),
        throughput_mbps = Math.Round(ThroughputMbps, 3),
        block_delay_ms = BlockDelaysMs.Select(d => Math.Round(d, 3)).ToArray(),
    });

    public static TransferResult? FromJson(string line)
    {
        using var doc = JsonDocument.Parse(line);
        var r = doc.RootElement;
        return new TransferResult(
            r.GetProperty("bytes").GetInt64(),
            r.GetProperty("blocks").GetInt32(),
            r.GetProperty("duration_ms").GetDouble(),
            r.GetProperty("block_delay_ms").EnumerateArray().Select(e => e.GetDouble()).ToList());
    }
}

/// <summary>
/// A small MPTCP traffic tool (sockets of protocol 262). The sender frames its data in blocks, each starting with a
/// 16-byte header (u64 monotonic send time in ns, u32 block length, u32 sequence number); the receiver measures each
/// block's delivery delay (namespaces share the machine's monotonic clock) and, at the end, sends its measurements
/// back as one JSON line.
/// </summary>
public static class MptcpTraffic
{
    public const ProtocolType Mptcp = (ProtocolType)262;
    public const int HeaderSize = 16;

    public static long NowNs() => (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));

    public static Socket Listen(IPAddress bind, int port, int backlog = 1024)
    {
        var s = Smapp.Netlink.MptcpSocket.Create(bind.AddressFamily);
        s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        if (bind.AddressFamily == AddressFamily.InterNetworkV6)
        {
            s.DualMode = true;
        }

        s.Bind(new IPEndPoint(bind, port));
        s.Listen(backlog);
        return s;
    }

    public static Socket Connect(IPEndPoint remote, IPAddress? local = null, int timeoutMs = 5000)
    {
        var s = Smapp.Netlink.MptcpSocket.Create(remote.AddressFamily);
        s.NoDelay = true;
        try
        {
            if (local is not null)
            {
                s.Bind(new IPEndPoint(local, 0));
            }

            var connect = s.ConnectAsync(remote);
            if (!connect.Wait(timeoutMs))
            {
                throw new TimeoutException($"connect to {remote} timed out after {timeoutMs} ms");
            }

            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <summary>Receives blocks until the peer shuts down its side, then sends back the measurements.</summary>
    public static async Task<TransferResult> ReceiveAsync(Socket s, CancellationToken ct)
    {
        var buffer = new byte[256 * 1024];
        var header = new byte[HeaderSize];
        var headerFill = 0;
        long remainingInBlock = 0;
        long blockSentNs = 0;
        long bytes = 0;
        var blocks = 0;
        var delays = new List<double>();
        long firstNs = 0, lastNs = 0;
        while (true)
        {
            var n = await s.ReceiveAsync(buffer, SocketFlags.None, ct);
            if (n == 0)
            {
                break;
            }

            var now = NowNs();
            if (bytes == 0)
            {
                firstNs = now;
            }

            lastNs = now;
            bytes += n;
            var i = 0;
            while (i < n)
            {
                if (remainingInBlock == 0)
                {
                    var take = Math.Min(HeaderSize - headerFill, n - i);
                    buffer.AsSpan(i, take).CopyTo(header.AsSpan(headerFill));
                    headerFill += take;
                    i += take;
                    if (headerFill < HeaderSize)
                    {
                        break;
                    }

                    headerFill = 0;
                    blockSentNs = BinaryPrimitives.ReadInt64LittleEndian(header);
                    var length = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8));
                    remainingInBlock = Math.Max(0, (long)length - HeaderSize);
                    if (remainingInBlock == 0)
                    {
                        blocks++;
                        delays.Add((now - blockSentNs) / 1e6);
                    }

                    continue;
                }

                var body = (int)Math.Min(remainingInBlock, n - i);
                remainingInBlock -= body;
                i += body;
                if (remainingInBlock == 0)
                {
                    blocks++;
                    delays.Add((now - blockSentNs) / 1e6);
                }
            }
        }

        var result = new TransferResult(bytes, blocks, (lastNs - firstNs) / 1e6, delays);
        try
        {
            await s.SendAsync(Encoding.UTF8.GetBytes(result.ToJson() + "\n"), SocketFlags.None, ct);
            s.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The sender went away without waiting for the report.
        }

        return result;
    }

    /// <summary>Sends <paramref name="totalBytes"/> in blocks of <paramref name="blockSize"/> as fast as the path allows.</summary>
    public static async Task SendBulkAsync(Socket s, long totalBytes, int blockSize, CancellationToken ct)
    {
        var block = new byte[blockSize];
        uint seq = 0;
        for (long sent = 0; sent < totalBytes; sent += blockSize)
        {
            var len = (int)Math.Min(blockSize, totalBytes - sent);
            len = Math.Max(len, HeaderSize);
            Stamp(block, len, seq++);
            await s.SendAsync(block.AsMemory(0, len), SocketFlags.None, ct);
        }
    }

    /// <summary>Sends a block of <paramref name="blockSize"/> bytes every <paramref name="period"/>, <paramref name="count"/> times.</summary>
    public static async Task SendStreamAsync(Socket s, int blockSize, TimeSpan period, int count, CancellationToken ct)
    {
        var block = new byte[Math.Max(blockSize, HeaderSize)];
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            var due = start + (long)(period.TotalSeconds * Stopwatch.Frequency * i);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, ct);
            }

            Stamp(block, block.Length, (uint)i);
            await s.SendAsync(block, SocketFlags.None, ct);
        }
    }

    /// <summary>Ends the sending side and waits for the receiver's report.</summary>
    public static async Task<TransferResult?> FinishAsync(Socket s, CancellationToken ct)
    {
        s.Shutdown(SocketShutdown.Send);
        var sb = new StringBuilder();
        var buf = new byte[4096];
        while (true)
        {
            var n = await s.ReceiveAsync(buf, SocketFlags.None, ct);
            if (n == 0)
            {
                break;
            }

            sb.Append(Encoding.UTF8.GetString(buf, 0, n));
        }

        var line = sb.ToString().Trim();
        return line.Length == 0 ? null : TransferResult.FromJson(line);
    }

    private static void Stamp(byte[] block, int length, uint seq)
    {
        BinaryPrimitives.WriteInt64LittleEndian(block, NowNs());
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(8), (uint)length);
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(12), seq);
    }
}
