// SPDX-License-Identifier: BSD-3-Clause
/*
 * bench_join: an mptcpd plugin that does Smapp fullmesh's job on the two-path testbed, for the reaction benchmark
 * (bench/reaction.sh). On connection_established of a connection this host initiated, it asks the kernel's
 * userspace path manager for one more subflow: from a configured local address (default 198.51.100.1, the
 * testbed's cellular address, local id 1) to the connection's remote address and port. That is all a
 * fullmesh path manager does for a single-homed peer, and nothing else runs on mptcpd's event path.
 *
 * mptcpd's bundled plugins do not do this on the upstream userspace PM (sspi logs "unimplemented"), so the
 * benchmark brings this one. Build (the script does it):
 *   gcc -O2 -fPIC -shared -o bench_join.so bench_join.c $(pkg-config --cflags --libs mptcpd ell)
 * Run: mptcpd --plugin-dir=DIR --load-plugins=bench_join --path-manager=bench_join
 * Environment: BENCH_JOIN_LOCAL (IPv4 address, default 198.51.100.1), BENCH_JOIN_LOCAL_ID (default 1).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ell/ell.h>

#include <mptcpd/path_manager.h>
#include <mptcpd/plugin.h>

static struct sockaddr_in local_addr;
static mptcpd_aid_t local_id = 1;
static unsigned long created, failed;

static void on_established(mptcpd_token_t token, struct sockaddr const *laddr, struct sockaddr const *raddr,
                           bool server_side, struct mptcpd_pm *pm)
{
        (void) laddr;
        if (server_side || raddr == NULL || raddr->sa_family != AF_INET)
                return;
        // Remote address id 0: the peer's initial address. The kernel picks the local port.
        int const err = mptcpd_pm_add_subflow(pm, token, local_id, 0, (struct sockaddr const *) &local_addr, raddr,
                                              false);
        if (err != 0) {
                failed++;
                l_error("bench_join: add_subflow token 0x%08x failed: %d", token, err);
        } else {
                created++;
        }
}

static struct mptcpd_plugin_ops const ops = {
        .connection_established = on_established,
};

static int bench_join_init(struct mptcpd_pm *pm)
{
        (void) pm;
        char const *addr = getenv("BENCH_JOIN_LOCAL");
        char const *id = getenv("BENCH_JOIN_LOCAL_ID");
        memset(&local_addr, 0, sizeof(local_addr));
        local_addr.sin_family = AF_INET;
        if (inet_pton(AF_INET, addr != NULL ? addr : "198.51.100.1", &local_addr.sin_addr) != 1) {
                l_error("bench_join: bad BENCH_JOIN_LOCAL %s", addr);
                return -1;
        }
        if (id != NULL)
                local_id = (mptcpd_aid_t) atoi(id);
        if (!mptcpd_plugin_register_ops("bench_join", &ops)) {
                l_error("bench_join: failed to register");
                return -1;
        }
        char buf[INET_ADDRSTRLEN];
        l_info("bench_join: ready, one subflow per connection from %s id %u",
               inet_ntop(AF_INET, &local_addr.sin_addr, buf, sizeof(buf)), local_id);
        return 0;
}

static void bench_join_exit(struct mptcpd_pm *pm)
{
        (void) pm;
        l_info("bench_join: exit, %lu subflow requests sent, %lu not sent", created, failed);
}

MPTCPD_PLUGIN_DEFINE(bench_join, "Reaction benchmark: one subflow from a second address", MPTCPD_PLUGIN_PRIORITY_DEFAULT,
                     bench_join_init, bench_join_exit)
