// SPDX-License-Identifier: BSD-3-Clause
// A minimal mptcpd (0.12) path-manager plugin for the benchmarks: on every connection this host initiates, once the
// kernel reports it established, ask the userspace path manager for one more subflow from a fixed local address
// (default 198.51.100.1, local id 1) to the connection's remote address and port. That is what the in-kernel PM
// does with `ip mptcp endpoint add 198.51.100.1 dev cell subflow`, and what Smapp's fullmesh does on the testbed.
//
// Build:  gcc -O2 -shared -fPIC -o add_subflow.so add_subflow.c $(pkg-config --cflags --libs mptcpd ell)
// Run:    mptcpd --plugin-dir=DIR --load-plugins=add_subflow --path-manager=add_subflow
// Environment: ADD_SUBFLOW_LOCAL (IPv4 address), ADD_SUBFLOW_LOCAL_ID (1..255).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ell/util.h>
#include <ell/log.h>
#include <mptcpd/path_manager.h>
#include <mptcpd/plugin.h>

#define PLUGIN_NAME add_subflow

static struct sockaddr_in local_addr = {.sin_family = AF_INET};
static mptcpd_aid_t local_id = 1;
static unsigned long requested, refused;

static void on_established(mptcpd_token_t token, struct sockaddr const *laddr, struct sockaddr const *raddr,
                           bool server_side, struct mptcpd_pm *pm)
{
        (void)laddr;
        if (server_side || raddr == NULL || raddr->sa_family != AF_INET)
                return;
        requested++;
        // Remote address id 0: the address the connection was opened to.
        int r = mptcpd_pm_add_subflow(pm, token, local_id, 0, (struct sockaddr const *)&local_addr, raddr, false);
        // Only sending fails here; the kernel's answer (e.g. "invalid token") is logged by mptcpd itself.
        if (r != 0 && refused++ < 5)
                l_error("add_subflow: subflow request for token 0x%08x failed: %d", token, r);
}

static struct mptcpd_plugin_ops const ops = {
        .connection_established = on_established,
};

static int add_subflow_init(struct mptcpd_pm *pm)
{
        (void)pm;
        char const *a = getenv("ADD_SUBFLOW_LOCAL");
        char const *id = getenv("ADD_SUBFLOW_LOCAL_ID");
        if (inet_pton(AF_INET, a && *a ? a : "198.51.100.1", &local_addr.sin_addr) != 1) {
                l_error("add_subflow: bad ADD_SUBFLOW_LOCAL '%s'", a);
                return -1;
        }
        if (id && *id) {
                long v = strtol(id, NULL, 10);
                if (v < 1 || v > 255) {
                        l_error("add_subflow: bad ADD_SUBFLOW_LOCAL_ID '%s'", id);
                        return -1;
                }
                local_id = (mptcpd_aid_t)v;
        }
        if (!mptcpd_plugin_register_ops("add_subflow", &ops)) {
                l_error("add_subflow: cannot register the plugin's operations");
                return -1;
        }
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &local_addr.sin_addr, text, sizeof text);
        l_info("add_subflow: loaded, second subflow from %s (id %u) on every established connection", text, local_id);
        return 0;
}

static void add_subflow_exit(struct mptcpd_pm *pm)
{
        (void)pm;
        l_info("add_subflow: %lu subflow requests sent, %lu failed to send", requested, refused);
}

MPTCPD_PLUGIN_DEFINE(add_subflow, "Second subflow from a fixed local address on every established connection",
                     MPTCPD_PLUGIN_PRIORITY_DEFAULT, add_subflow_init, add_subflow_exit)
