// MPTCP sink server for the reaction benchmark (bench/reaction.sh).
//   sink ADDR PORT MAX_SECONDS
// Listens on ADDR:PORT with an MPTCP socket, accepts every connection, reads and discards until EOF, closes.
// One epoll loop, no threads. Prints "listening" once the socket listens. Exits after MAX_SECONDS at the latest.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s ADDR PORT MAX_SECONDS\n", argv[0]);
        return 2;
    }
    alarm((unsigned) atoi(argv[3]));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short) atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) {
        fprintf(stderr, "sink: bad address %s\n", argv[1]);
        return 2;
    }
    int l = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
    if (l < 0) {
        fprintf(stderr, "sink: socket(IPPROTO_MPTCP): %s\n", strerror(errno));
        return 1;
    }
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(l, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(l, 4096) < 0) {
        fprintf(stderr, "sink: bind/listen: %s\n", strerror(errno));
        return 1;
    }
    fcntl(l, F_SETFL, O_NONBLOCK);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l};
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    printf("listening\n");
    fflush(stdout);
    static char buf[65536];
    struct epoll_event evs[64];
    for (;;) {
        int k = epoll_wait(ep, evs, 64, -1);
        if (k < 0 && errno == EINTR)
            continue;
        for (int i = 0; i < k; i++) {
            int fd = evs[i].data.fd;
            if (fd == l) {
                int c;
                while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            for (;;) {
                ssize_t r = read(fd, buf, sizeof(buf));
                if (r > 0)
                    continue;
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    break;
                close(fd); // EOF or error: closing also removes it from the epoll set
                break;
            }
        }
    }
}
