// Sequential MPTCP connections for the reaction benchmark (bench/reaction.sh).
//   seqclient SERVER PORT N WAIT_MS [BIND_ADDR]
// For each of N connections, one after the other: an MPTCP socket (IPPROTO_MPTCP), bound to BIND_ADDR (port 0) if
// given, connect, write 1 KiB (a path manager may add a subflow only once the connection is fully established, and
// that takes data), then wait until the connection has a second subflow (two entries in MPTCP_SUBFLOW_ADDRS, polled
// every millisecond) or WAIT_MS passed, and close. Prints "connections=N joined=J failed=F" at the end; exit 0 if
// every connection was made. Bounded: connect and write time out after 2 s each.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/mptcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef SOL_MPTCP
#define SOL_MPTCP 284
#endif

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// Additional subflows of the connection: those in its subflow list (MPTCP_SUBFLOW_ADDRS, Linux 5.16+), minus the
// initial one. Not MPTCP_INFO's mptcpi_subflows: the kernel counts a subflow there before it creates it, and a
// create it then refuses (ENOTCONN when the path manager asked "too early") shows there for a moment.
static int subflows(int fd)
{
    struct {
        struct mptcp_subflow_data d;
        struct mptcp_subflow_addrs a[8];
    } addrs;
    memset(&addrs, 0, sizeof(addrs));
    addrs.d.size_subflow_data = sizeof(addrs.d);
    addrs.d.size_user = sizeof(addrs.a[0]);
    socklen_t alen = sizeof(addrs);
    if (getsockopt(fd, SOL_MPTCP, MPTCP_SUBFLOW_ADDRS, &addrs, &alen) == 0)
        return addrs.d.num_subflows > 0 ? (int) addrs.d.num_subflows - 1 : 0;
    struct mptcp_info info;
    socklen_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (getsockopt(fd, SOL_MPTCP, MPTCP_INFO, &info, &len) < 0)
        return -1;
    return info.mptcpi_subflows;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s SERVER PORT N WAIT_MS [BIND_ADDR]\n", argv[0]);
        return 2;
    }
    struct sockaddr_in srv = {.sin_family = AF_INET, .sin_port = htons((unsigned short) atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &srv.sin_addr) != 1) {
        fprintf(stderr, "seqclient: bad server address %s\n", argv[1]);
        return 2;
    }
    long n = atol(argv[3]);
    double wait_ms = atof(argv[4]);
    struct sockaddr_in local = {.sin_family = AF_INET};
    int bind_local = 0;
    if (argc > 5) {
        if (inet_pton(AF_INET, argv[5], &local.sin_addr) != 1) {
            fprintf(stderr, "seqclient: bad bind address %s\n", argv[5]);
            return 2;
        }
        bind_local = 1;
    }
    char buf[1024];
    memset(buf, 'x', sizeof(buf));
    struct timeval tmo = {.tv_sec = 2};
    struct timespec tick = {.tv_nsec = 1000 * 1000};
    long joined = 0, failed = 0, info_errors = 0;
    for (long i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
        if (fd < 0) {
            fprintf(stderr, "seqclient: socket(IPPROTO_MPTCP): %s\n", strerror(errno));
            return 1;
        }
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
        if (bind_local && bind(fd, (struct sockaddr *) &local, sizeof(local)) < 0) {
            fprintf(stderr, "seqclient: bind: %s\n", strerror(errno));
            return 1;
        }
        if (connect(fd, (struct sockaddr *) &srv, sizeof(srv)) < 0) {
            fprintf(stderr, "seqclient: connection %ld: connect: %s\n", i, strerror(errno));
            failed++;
            close(fd);
            if (failed > 10 && failed * 2 > i + 1)
                break;
            continue;
        }
        if (write(fd, buf, sizeof(buf)) != (ssize_t) sizeof(buf)) {
            fprintf(stderr, "seqclient: connection %ld: write: %s\n", i, strerror(errno));
            failed++;
            close(fd);
            continue;
        }
        double deadline = now_ms() + wait_ms;
        for (;;) {
            int s = subflows(fd);
            if (s < 0)
                info_errors++;
            if (s >= 1) {
                joined++;
                break;
            }
            if (now_ms() >= deadline)
                break;
            nanosleep(&tick, NULL);
        }
        close(fd);
    }
    printf("connections=%ld joined=%ld failed=%ld info_errors=%ld\n", n, joined, failed, info_errors);
    return failed == 0 ? 0 : 1;
}
