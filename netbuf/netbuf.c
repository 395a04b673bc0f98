// SPDX-License-Identifier: LGPL-2.1-or-later
/* netbuf's context, and the order in which a buffer is built and undone. */
#include <errno.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc/plug.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netbuf-private.h"

void nb_log(struct netbuf_ctx *ctx, int priority, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!ctx->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->log(ctx->log_data, priority, msg);
}

int netbuf_ctx_new(struct netbuf_ctx **ctx, netbuf_log_fn log, void *data)
{
	struct netbuf_ctx *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->log = log;
	c->log_data = data;
	c->sk = nl_socket_alloc();
	if (!c->sk) {
		free(c);
		return -ENOMEM;
	}
	r = nl_connect(c->sk, NETLINK_ROUTE);
	if (r < 0) {
		nb_err(c, "cannot open a netlink socket: %s", nl_geterror(r));
		nl_socket_free(c->sk);
		free(c);
		return -EIO;
	}
	*ctx = c;
	return 0;
}

void netbuf_ctx_free(struct netbuf_ctx *ctx)
{
	if (!ctx)
		return;
	nl_socket_free(ctx->sk);
	free(ctx);
}

int if_index(struct netbuf_ctx *ctx, const char *name)
{
	struct rtnl_link *link;
	int index;

	if (rtnl_link_get_kernel(ctx->sk, 0, name, &link) < 0)
		return -ENODEV;
	index = rtnl_link_get_ifindex(link);
	rtnl_link_put(link);
	return index;
}

int netbuf_cleanup(struct netbuf_ctx *ctx, const char *ifname)
{
	char ifb[IF_NAMESIZE], owner[IF_NAMESIZE];
	int ifindex, r;

	ifb_name(ifname, ifb);
	r = ifb_owner(ctx, ifb, owner, sizeof(owner));
	if (r == -EEXIST) {
		nb_err(ctx,
		       "%s exists and is not an IFB device xrepl made: rename or remove it",
		       ifb);
		return r;
	}
	if (!r)
		return 0;
	nb_info(ctx, "removing what an earlier run left on %s", ifname);
	ifindex = if_index(ctx, ifname);
	/* the vif's ingress qdisc only if it holds our redirect */
	if (ifindex > 0 && redirect_is_ours(ctx, ifindex, if_index(ctx, ifb)) &&
	    redirect_remove(ctx, ifindex) < 0)
		return -EIO;
	return ifb_delete(ctx, ifb) < 0 ? -EIO : 1;
}

static void teardown(struct netbuf *nb)
{
	if (nb->redirected)
		redirect_remove(nb->ctx, nb->ifindex);
	if (nb->ifb_index > 0)
		ifb_delete(nb->ctx, nb->ifb);
	if (nb->plug)
		rtnl_qdisc_put(nb->plug);
	free(nb);
}

/*
 * The plug comes first so that the redirect, once in place, never lets a
 * frame through unbuffered; undoing goes the other way round.
 */
static int build(struct netbuf *nb, uint32_t limit)
{
	struct netbuf_ctx *ctx = nb->ctx;
	int r;

	r = ifb_create(ctx, nb->ifb, nb->ifname);
	if (r < 0)
		return r;
	nb->ifb_index = if_index(ctx, nb->ifb);
	if (nb->ifb_index < 0) {
		nb_err(ctx, "%s vanished as it was made", nb->ifb);
		return -ENODEV;
	}
	r = plug_add(nb, limit);
	if (r < 0)
		return r;
	r = redirect_add(ctx, nb->ifname, nb->ifindex, nb->ifb_index);
	nb->redirected = !r;
	return r;
}

int netbuf_add(struct netbuf_ctx *ctx, const char *ifname, uint32_t limit,
	       struct netbuf **out)
{
	struct netbuf *nb;
	int r;

	if (strlen(ifname) >= IF_NAMESIZE) {
		nb_err(ctx, "%s: not an interface name (too long)", ifname);
		return -EINVAL;
	}
	if (limit > INT32_MAX) {
		nb_err(ctx, "a plug holds at most %d bytes, not %u", INT32_MAX,
		       limit);
		return -EINVAL;
	}
	netbuf_remove_stale(ctx);
	r = netbuf_cleanup(ctx, ifname);
	if (r < 0)
		return r;
	nb = calloc(1, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	nb->ctx = ctx;
	snprintf(nb->ifname, sizeof(nb->ifname), "%s", ifname);
	ifb_name(ifname, nb->ifb);
	nb->ifindex = if_index(ctx, ifname);
	if (nb->ifindex < 0) {
		nb_err(ctx, "no network interface %s", ifname);
		free(nb);
		return -ENODEV;
	}
	r = build(nb, limit ? limit : NETBUF_LIMIT_DEFAULT);
	if (r < 0) {
		teardown(nb);
		return r;
	}
	*out = nb;
	return 0;
}

void netbuf_remove(struct netbuf *nb)
{
	if (!nb)
		return;
	netbuf_release_all(nb);
	teardown(nb);
}

void netbuf_drop(struct netbuf *nb)
{
	if (nb)
		teardown(nb);
}

int netbuf_buffer(struct netbuf *nb)
{
	return plug_action(nb, rtnl_qdisc_plug_buffer, "buffer");
}

int netbuf_release_one(struct netbuf *nb)
{
	return plug_action(nb, rtnl_qdisc_plug_release_one, "release");
}

int netbuf_release_all(struct netbuf *nb)
{
	return plug_action(nb, rtnl_qdisc_plug_release_indefinite,
			   "release-indefinite");
}

int netbuf_stats(struct netbuf *nb, struct netbuf_stats *st)
{
	memset(st, 0, sizeof(*st));
	return plug_stats(nb, st);
}

const char *netbuf_ifname(const struct netbuf *nb)
{
	return nb->ifname;
}

const char *netbuf_ifb(const struct netbuf *nb)
{
	return nb->ifb;
}
