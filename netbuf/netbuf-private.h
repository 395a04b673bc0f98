/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef NETBUF_PRIVATE_H
#define NETBUF_PRIVATE_H

#include <net/if.h>
#include <netlink/route/qdisc.h>
#include <syslog.h>

#include "netbuf.h"

/* An IFB's alias names the interface it buffers, to find leftovers. */
#define IFB_ALIAS_PREFIX "xrepl netbuf of "

struct netbuf_ctx {
	struct nl_sock *sk;
	netbuf_log_fn log;
	void *log_data;
};

struct netbuf {
	struct netbuf_ctx *ctx;
	char ifname[IF_NAMESIZE];
	char ifb[IF_NAMESIZE];
	int ifindex;
	int ifb_index;
	int redirected; /* the vif's ingress qdisc is ours to remove */
	struct rtnl_qdisc *plug;
};

__attribute__((format(printf, 3, 4))) void
nb_log(struct netbuf_ctx *ctx, int priority, const char *fmt, ...);
#define nb_err(ctx, ...) nb_log(ctx, LOG_ERR, __VA_ARGS__)
#define nb_info(ctx, ...) nb_log(ctx, LOG_INFO, __VA_ARGS__)

/* " (kernel module not loaded: X; modprobe it)" when NLERR (a libnl error)
 * is how the kernel says it could not load one of MODULES, else "" */
const char *module_hint(int nlerr, const char *const *modules, char *buf,
			size_t len);

int if_index(struct netbuf_ctx *ctx, const char *name);

void ifb_name(const char *ifname, char ifb[IF_NAMESIZE]);
int ifb_create(struct netbuf_ctx *ctx, const char *ifb, const char *ifname);
int ifb_owner(struct netbuf_ctx *ctx, const char *ifb, char *ifname,
	      size_t len);
int ifb_delete(struct netbuf_ctx *ctx, const char *ifb);

int redirect_add(struct netbuf_ctx *ctx, const char *ifname, int ifindex,
		 int ifb_index);
int redirect_is_ours(struct netbuf_ctx *ctx, int ifindex, int ifb_index);
int redirect_remove(struct netbuf_ctx *ctx, int ifindex);

int plug_add(struct netbuf *nb, uint32_t limit);
int plug_action(struct netbuf *nb, int (*set)(struct rtnl_qdisc *),
		const char *what);
int plug_stats(struct netbuf *nb, struct netbuf_stats *st);

#endif
