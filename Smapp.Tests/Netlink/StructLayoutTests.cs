using System.Diagnostics;
using System.Runtime.InteropServices;
using Smapp.Netlink.Diag;
using Smapp.Netlink.Native;
using Smapp.Netlink.Wire;

namespace Smapp.Tests.Netlink;

/// <summary>
/// Sizes and offsets of the kernel structs the codec reads, checked against the C headers installed on this machine
/// (linux-libc-dev) by compiling a small C program with gcc.
/// </summary>
public class StructLayoutTests
{
    private static readonly Lazy<Dictionary<string, int>> Layout = new(CompileAndRun);

    private static Dictionary<string, int> CompileAndRun()
    {
        var dir = Directory.CreateTempSubdirectory("smapp-layout-");
        try
        {
            var src = Path.Combine(dir.FullName, "layout.c");
            File.WriteAllText(src, """
                #include <stdio.h>
                #include <stddef.h>
                #include <linux/netlink.h>
                #include <linux/inet_diag.h>
                #include <linux/tcp.h>
                #include <linux/mptcp.h>
                #define S(t) printf(#t "=%zu\n", sizeof(struct t));
                #define O(t, f) printf(#t "." #f "=%zu\n", offsetof(struct t, f));
                int main(void) {
                  S(nlmsghdr) O(nlmsghdr, nlmsg_len) O(nlmsghdr, nlmsg_type) O(nlmsghdr, nlmsg_flags) O(nlmsghdr, nlmsg_seq) O(nlmsghdr, nlmsg_pid)
                  S(sockaddr_nl) O(sockaddr_nl, nl_family) O(sockaddr_nl, nl_pid) O(sockaddr_nl, nl_groups)
                  S(nlattr) S(nlmsgerr)
                  S(inet_diag_req_v2) O(inet_diag_req_v2, idiag_states) O(inet_diag_req_v2, id)
                  S(inet_diag_sockid) O(inet_diag_sockid, idiag_src) O(inet_diag_sockid, idiag_dst) O(inet_diag_sockid, idiag_if) O(inet_diag_sockid, idiag_cookie)
                  S(inet_diag_msg) O(inet_diag_msg, id) O(inet_diag_msg, idiag_uid)
                  O(tcp_info, tcpi_retransmits) O(tcp_info, tcpi_backoff) O(tcp_info, tcpi_rto) O(tcp_info, tcpi_snd_mss) O(tcp_info, tcpi_unacked)
                  O(tcp_info, tcpi_lost) O(tcp_info, tcpi_last_data_sent) O(tcp_info, tcpi_last_ack_recv) O(tcp_info, tcpi_rtt) O(tcp_info, tcpi_rttvar)
                  O(tcp_info, tcpi_snd_cwnd) O(tcp_info, tcpi_total_retrans) O(tcp_info, tcpi_pacing_rate) O(tcp_info, tcpi_bytes_acked)
                  O(tcp_info, tcpi_bytes_received) O(tcp_info, tcpi_min_rtt) O(tcp_info, tcpi_delivery_rate) O(tcp_info, tcpi_bytes_sent)
                  O(tcp_info, tcpi_bytes_retrans) O(tcp_info, tcpi_snd_wnd)
                  O(mptcp_info, mptcpi_subflows) O(mptcp_info, mptcpi_subflows_max) O(mptcp_info, mptcpi_flags) O(mptcp_info, mptcpi_token)
                  O(mptcp_info, mptcpi_write_seq) O(mptcp_info, mptcpi_snd_una) O(mptcp_info, mptcpi_rcv_nxt) O(mptcp_info, mptcpi_local_addr_used)
                  return 0;
                }
                """);
            var exe = Path.Combine(dir.FullName, "layout");
            Run("gcc", $"-o {exe} {src}");
            return Run(exe, "").Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split('='))
                .ToDictionary(p => p[0], p => int.Parse(p[1]));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static string Run(string file, string args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })
            ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode == 0 ? stdout : throw new InvalidOperationException($"{file} {args} failed ({p.ExitCode}): {stderr}");
    }

    public static TheoryData<string, int> Expected() => new()
    {
        { "nlmsghdr", NetlinkHeader.Size },
        { "nlmsghdr.nlmsg_type", 4 },
        { "nlmsghdr.nlmsg_flags", 6 },
        { "nlmsghdr.nlmsg_seq", 8 },
        { "nlmsghdr.nlmsg_pid", 12 },
        { "sockaddr_nl", Marshal.SizeOf<SockaddrNl>() },
        { "sockaddr_nl.nl_pid", (int)Marshal.OffsetOf<SockaddrNl>(nameof(SockaddrNl.Pid)) },
        { "sockaddr_nl.nl_groups", (int)Marshal.OffsetOf<SockaddrNl>(nameof(SockaddrNl.Groups)) },
        { "nlattr", Align.NlaHdrLen },
        { "nlmsgerr", 4 + NetlinkHeader.Size },
        { "inet_diag_req_v2", SockDiag.ReqV2Size },
        { "inet_diag_req_v2.idiag_states", 4 },
        { "inet_diag_req_v2.id", 8 },
        { "inet_diag_sockid", SockDiag.SockIdSize },
        { "inet_diag_sockid.idiag_src", 4 },
        { "inet_diag_sockid.idiag_dst", 20 },
        { "inet_diag_sockid.idiag_if", 36 },
        { "inet_diag_sockid.idiag_cookie", 40 },
        { "inet_diag_msg", SockDiag.MsgSize },
        { "inet_diag_msg.id", 4 },
        { "inet_diag_msg.idiag_uid", SockDiag.UidOffset },
        { "tcp_info.tcpi_retransmits", TcpInfoLayout.Retransmits },
        { "tcp_info.tcpi_backoff", TcpInfoLayout.Backoff },
        { "tcp_info.tcpi_rto", TcpInfoLayout.Rto },
        { "tcp_info.tcpi_snd_mss", TcpInfoLayout.SndMss },
        { "tcp_info.tcpi_unacked", TcpInfoLayout.Unacked },
        { "tcp_info.tcpi_lost", TcpInfoLayout.Lost },
        { "tcp_info.tcpi_last_data_sent", TcpInfoLayout.LastDataSent },
        { "tcp_info.tcpi_last_ack_recv", TcpInfoLayout.LastAckRecv },
        { "tcp_info.tcpi_rtt", TcpInfoLayout.Rtt },
        { "tcp_info.tcpi_rttvar", TcpInfoLayout.RttVar },
        { "tcp_info.tcpi_snd_cwnd", TcpInfoLayout.SndCwnd },
        { "tcp_info.tcpi_total_retrans", TcpInfoLayout.TotalRetrans },
        { "tcp_info.tcpi_pacing_rate", TcpInfoLayout.PacingRate },
        { "tcp_info.tcpi_bytes_acked", TcpInfoLayout.BytesAcked },
        { "tcp_info.tcpi_bytes_received", TcpInfoLayout.BytesReceived },
        { "tcp_info.tcpi_min_rtt", TcpInfoLayout.MinRtt },
        { "tcp_info.tcpi_delivery_rate", TcpInfoLayout.DeliveryRate },
        { "tcp_info.tcpi_bytes_sent", TcpInfoLayout.BytesSent },
        { "tcp_info.tcpi_bytes_retrans", TcpInfoLayout.BytesRetrans },
        { "tcp_info.tcpi_snd_wnd", TcpInfoLayout.SndWnd },
        { "mptcp_info.mptcpi_subflows", MptcpInfoLayout.Subflows },
        { "mptcp_info.mptcpi_subflows_max", MptcpInfoLayout.SubflowsMax },
        { "mptcp_info.mptcpi_flags", MptcpInfoLayout.Flags },
        { "mptcp_info.mptcpi_token", MptcpInfoLayout.Token },
        { "mptcp_info.mptcpi_write_seq", MptcpInfoLayout.WriteSeq },
        { "mptcp_info.mptcpi_snd_una", MptcpInfoLayout.SndUna },
        { "mptcp_info.mptcpi_rcv_nxt", MptcpInfoLayout.RcvNxt },
        { "mptcp_info.mptcpi_local_addr_used", MptcpInfoLayout.LocalAddrUsed },
    };

    [Theory]
    [MemberData(nameof(Expected))]
    public void Layout_matches_the_c_header(string field, int ours) => Assert.Equal(Layout.Value[field], ours);
}
