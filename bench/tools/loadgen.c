// Churn load generator: opens short MPTCP connections at a target rate and reports how many got a second
// subflow. Single-threaded: non-blocking sockets, one epoll loop, two FIFO timer queues.
//
//   loadgen -a 203.0.113.1 -p 5201 -r RATE -s SECONDS [-H HOLD_MS] [-b BLOCK_BYTES] [-t CONNECT_TIMEOUT_MS]
//
// Connection i is started at t0 + i/RATE (never after t0 + SECONDS). Once connected it writes BLOCK_BYTES once
// (the kernel opens a subflow only on a fully established connection, i.e. once data has flowed), holds for
// HOLD_MS, then reads its subflows (getsockopt SOL_MPTCP MPTCP_TCPINFO: one tcp_info per subflow) and closes.
// joined = the connection had at least two subflows in TCP_ESTABLISHED at that moment.
// Prints one line of key=value pairs on stdout.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef SOL_MPTCP
#define SOL_MPTCP 284
#endif
#define MPTCP_INFO_OPT 1
#define MPTCP_TCPINFO_OPT 2
#define MPTCP_INFO_FLAG_FALLBACK 1u

// The start of struct mptcp_info (linux/mptcp.h; newer kernels append fields, the kernel copies min(len, size)).
struct mptcp_info_head {
    uint8_t subflows, add_addr_signal, add_addr_accepted, subflows_max, add_addr_signal_max, add_addr_accepted_max;
    uint32_t flags, token;
    uint64_t write_seq, snd_una, rcv_nxt;
    uint8_t local_addr_used, local_addr_max, csum_enabled;
};

struct mptcp_subflow_data_hdr {
    uint32_t size_subflow_data, num_subflows, size_kernel, size_user;
} __attribute__((aligned(8)));

#define MAX_SUBFLOWS 8
struct tcpinfo_req {
    struct mptcp_subflow_data_hdr d;
    struct tcp_info info[MAX_SUBFLOWS];
};

enum { FREE = 0, CONNECTING = 1, HOLDING = 2 };

struct conn {
    uint32_t gen;
    uint8_t state;
};

struct qent {
    int fd;
    uint32_t gen;
    double deadline;
};

struct queue {
    struct qent *e;
    size_t cap, head, len;
};

static int q_push(struct queue *q, int fd, uint32_t gen, double deadline) {
    if (q->len == q->cap) return -1;
    q->e[(q->head + q->len) % q->cap] = (struct qent){fd, gen, deadline};
    q->len++;
    return 0;
}
static struct qent *q_peek(struct queue *q) { return q->len ? &q->e[q->head] : NULL; }
static void q_pop(struct queue *q) { q->head = (q->head + 1) % q->cap; q->len--; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile sig_atomic_t stop_flag;
static void on_signal(int s) { (void)s; stop_flag = 1; }

static struct conn *conns;
static int max_fd;
static long started, connected, joined, joined_info, failed, failed_start, failed_connect, timed_out, fallback,
    info_errors;
static int first_errno;

static void fail_errno(int e) {
    if (!first_errno) first_errno = e;
}

static void release(int fd) {
    conns[fd].state = FREE;
    close(fd);
}

// Counts the connection's established subflows, then closes it.
static void finish(int fd) {
    struct tcpinfo_req req;
    memset(&req.d, 0, sizeof req.d);
    req.d.size_subflow_data = sizeof req.d;
    req.d.size_user = sizeof(struct tcp_info);
    socklen_t len = sizeof req;
    if (getsockopt(fd, SOL_MPTCP, MPTCP_TCPINFO_OPT, &req, &len) == 0) {
        unsigned n = req.d.num_subflows < MAX_SUBFLOWS ? req.d.num_subflows : MAX_SUBFLOWS;
        unsigned est = 0;
        for (unsigned i = 0; i < n; i++) {
            if (req.info[i].tcpi_state == 1 /* TCP_ESTABLISHED */) est++;
        }
        if (est >= 2) joined++;
    } else {
        info_errors++;
    }
    struct mptcp_info_head mi;
    memset(&mi, 0, sizeof mi);
    len = sizeof mi;
    if (getsockopt(fd, SOL_MPTCP, MPTCP_INFO_OPT, &mi, &len) == 0) {
        if (mi.subflows >= 1) joined_info++;
        if (mi.flags & MPTCP_INFO_FLAG_FALLBACK) fallback++;
    }
    release(fd);
}

static void usage(void) {
    fprintf(stderr, "usage: loadgen -a ADDR -p PORT -r RATE -s SECONDS [-H HOLD_MS] [-b BLOCK_BYTES] [-t CONNECT_TIMEOUT_MS]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *addr = NULL;
    int port = 0, hold_ms = 200, block = 64, connect_timeout_ms = 3000;
    double rate = 0, seconds = 0;
    int opt;
    while ((opt = getopt(argc, argv, "a:p:r:s:H:b:t:")) != -1) {
        switch (opt) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 's': seconds = atof(optarg); break;
        case 'H': hold_ms = atoi(optarg); break;
        case 'b': block = atoi(optarg); break;
        case 't': connect_timeout_ms = atoi(optarg); break;
        default: usage();
        }
    }
    if (!addr || port <= 0 || port > 65535 || rate <= 0 || rate > 1e6 || seconds <= 0 || seconds > 3600 || hold_ms < 0 ||
        hold_ms > 60000 || block < 1 || block > 65536 || connect_timeout_ms < 1 || connect_timeout_ms > 60000)
        usage();

    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, addr, &dst.sin_addr) != 1) usage();

    // Enough descriptors for every connection alive at once.
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t want = 1 << 20;
    if (rl.rlim_max < want) want = rl.rlim_max;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
    max_fd = rl.rlim_cur > (1 << 20) ? (1 << 20) : (int)rl.rlim_cur;
    conns = calloc(max_fd, sizeof *conns);
    struct queue cq = {.cap = 1 << 18}, hq = {.cap = 1 << 18};
    cq.e = calloc(cq.cap, sizeof *cq.e);
    hq.e = calloc(hq.cap, sizeof *hq.e);
    char *buf = calloc(1, block);
    if (!conns || !cq.e || !hq.e || !buf) { perror("calloc"); return 1; }
    memset(buf, 'x', block);

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) { perror("epoll_create1"); return 1; }

    const long offered = (long)(rate * seconds + 0.5);
    const double hold = hold_ms / 1000.0, ctimeout = connect_timeout_ms / 1000.0;
    const double t0 = now_s();
    const double t_end_start = t0 + seconds;
    const double t_drain = t_end_start + ctimeout + hold + 2.0;  // hard bound on the whole run
    long attempts = 0;
    double max_lag = 0, last_start = t0;
    struct epoll_event evs[512];

    for (;;) {
        double now = now_s();
        if (stop_flag || now > t_drain) break;
        // 1. Start what is due (bounded per iteration so that completions are served too).
        int budget = 512;
        while (attempts < offered && budget-- > 0) {
            double due = t0 + attempts / rate;
            if (due > now || now >= t_end_start) break;
            attempts++;
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_MPTCP);
            if (fd < 0) { failed++; failed_start++; fail_errno(errno); continue; }
            if (fd >= max_fd) { close(fd); failed++; failed_start++; fail_errno(EMFILE); continue; }
            int r = connect(fd, (struct sockaddr *)&dst, sizeof dst);
            if (r != 0 && errno != EINPROGRESS) { fail_errno(errno); close(fd); failed++; failed_start++; continue; }
            started++;
            if (now - due > max_lag) max_lag = now - due;
            last_start = now;
            conns[fd].gen++;
            conns[fd].state = CONNECTING;
            struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = ((uint64_t)conns[fd].gen << 32) | (uint32_t)fd};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0 || q_push(&cq, fd, conns[fd].gen, now + ctimeout) != 0) {
                fail_errno(errno);
                release(fd);
                failed++;
                failed_connect++;
            }
        }
        // 2. Expire holds and connect timeouts (both queues are in deadline order).
        struct qent *e;
        while ((e = q_peek(&hq)) && e->deadline <= now) {
            int fd = e->fd;
            if (conns[fd].gen == e->gen && conns[fd].state == HOLDING) finish(fd);
            q_pop(&hq);
        }
        while ((e = q_peek(&cq))) {
            int fd = e->fd;
            if (conns[fd].gen != e->gen || conns[fd].state != CONNECTING) { q_pop(&cq); continue; }
            if (e->deadline > now) break;
            release(fd);
            failed++;
            timed_out++;
            q_pop(&cq);
        }
        long live = (long)(cq.len + hq.len);
        if (now >= t_end_start && live == 0) break;
        if (attempts >= offered && live == 0) break;

        // 3. Sleep until the next start or deadline, or an event.
        double next = t_drain;
        if (attempts < offered && now < t_end_start) {
            double due = t0 + attempts / rate;
            if (due < next) next = due;
        }
        if ((e = q_peek(&hq)) && e->deadline < next) next = e->deadline;
        if ((e = q_peek(&cq)) && e->deadline < next) next = e->deadline;
        double wait = next - now_s();
        if (wait < 0) wait = 0;
        struct timespec ts = {.tv_sec = (time_t)wait, .tv_nsec = (long)((wait - (time_t)wait) * 1e9)};
        int n = epoll_pwait2(ep, evs, 512, &ts, NULL);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_pwait2");
            return 1;
        }
        now = now_s();
        for (int i = 0; i < n; i++) {
            int fd = (int)(uint32_t)evs[i].data.u64;
            uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
            if (conns[fd].gen != gen || conns[fd].state != CONNECTING) continue;
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
            epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
            if (err != 0) {
                fail_errno(err);
                release(fd);
                failed++;
                failed_connect++;
                continue;
            }
            connected++;
            if (write(fd, buf, block) < 0 && errno != EAGAIN) fail_errno(errno);
            conns[fd].state = HOLDING;
            if (q_push(&hq, fd, gen, now + hold) != 0) finish(fd);
        }
    }
    // Whatever is still open when the bound runs out counts as failed (connecting) or is checked now (holding).
    struct qent *e;
    while ((e = q_peek(&hq))) {
        if (conns[e->fd].gen == e->gen && conns[e->fd].state == HOLDING) finish(e->fd);
        q_pop(&hq);
    }
    while ((e = q_peek(&cq))) {
        if (conns[e->fd].gen == e->gen && conns[e->fd].state == CONNECTING) { release(e->fd); failed++; timed_out++; }
        q_pop(&cq);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    double span = last_start - t0;
    double achieved = started > 1 && span > 0 ? (started - 1) / span : 0;
    printf("offered=%ld started=%ld connected=%ld joined=%ld joined_info=%ld failed=%ld failed_start=%ld "
           "failed_connect=%ld timed_out=%ld fallback=%ld info_errors=%ld achieved_rate=%.0f max_lag_ms=%.1f "
           "elapsed_s=%.2f cpu_ms=%.0f first_error=%s\n",
           offered, started, connected, joined, joined_info, failed, failed_start, failed_connect, timed_out, fallback,
           info_errors, achieved, max_lag * 1000, now_s() - t0, cpu_ms, first_errno ? strerrorname_np(first_errno) : "none");
    return 0;
}
