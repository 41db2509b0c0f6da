// Churn sink: an MPTCP listener that accepts every connection and reads it until EOF. Single-threaded epoll.
//
//   sink -p PORT [-a ADDR] [-s MAX_SECONDS]
//
// Prints "listening" on stdout once it listens, and "accepted=N" when it ends (SIGTERM, SIGINT or MAX_SECONDS,
// default 3600).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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

static volatile sig_atomic_t stop_flag;
static void on_signal(int s) { (void)s; stop_flag = 1; }

int main(int argc, char **argv) {
    const char *addr = "0.0.0.0";
    int port = 0, max_seconds = 3600, opt;
    while ((opt = getopt(argc, argv, "a:p:s:")) != -1) {
        switch (opt) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 's': max_seconds = atoi(optarg); break;
        default: fprintf(stderr, "usage: sink -p PORT [-a ADDR] [-s MAX_SECONDS]\n"); return 2;
        }
    }
    if (port <= 0 || port > 65535 || max_seconds <= 0) { fprintf(stderr, "usage: sink -p PORT [-a ADDR] [-s MAX_SECONDS]\n"); return 2; }

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max > (1 << 20) ? (1 << 20) : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_MPTCP);
    if (ls < 0) { perror("socket(IPPROTO_MPTCP)"); return 1; }
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", addr); return 2; }
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0) { perror("bind"); return 1; }
    if (listen(ls, 65535) != 0) { perror("listen"); return 1; }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    printf("listening\n");
    fflush(stdout);

    long accepted = 0;
    char buf[16384];
    struct epoll_event evs[512];
    time_t t_end = time(NULL) + max_seconds;
    while (!stop_flag && time(NULL) < t_end) {
        int n = epoll_wait(ep, evs, 512, 200);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                for (int k = 0; k < 4096; k++) {
                    int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) break;
                    accepted++;
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce) != 0) close(c);
                }
                continue;
            }
            for (int k = 0; k < 64; k++) {
                ssize_t r = read(fd, buf, sizeof buf);
                if (r > 0) continue;
                if (r < 0 && errno == EAGAIN) break;
                close(fd);  // EOF or error: closing also removes it from the epoll set
                break;
            }
        }
    }
    printf("accepted=%ld\n", accepted);
    return 0;
}
