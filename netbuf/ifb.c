// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The IFB device a vif's ingress is redirected to. It is named after the
 * vif and its alias says whose it is, so that a later run can tell its own
 * leftovers from anyone else's interfaces.
 */
#include <errno.h>
#include <net/if.h>
#include <netlink/route/link.h>
#include <stdio.h>
#include <string.h>

#include "netbuf-private.h"

void ifb_name(const char *ifname, char ifb[IF_NAMESIZE])
{
	uint32_t h = 2166136261u;
	const char *c;

	if (strlen(ifname) + 3 < IF_NAMESIZE) {
		snprintf(ifb, IF_NAMESIZE, "xr-%s", ifname);
		return;
	}
	for (c = ifname; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	snprintf(ifb, IF_NAMESIZE, "xr-%08x", h);
}

/* The kernel takes an alias only from a change, not at creation. */
static int ifb_up(struct netbuf_ctx *ctx, const char *ifb, const char *alias)
{
	struct rtnl_link *link, *change;
	int r;

	r = rtnl_link_get_kernel(ctx->sk, 0, ifb, &link);
	if (r < 0) {
		nb_err(ctx, "%s vanished as it was made", ifb);
		return -ENODEV;
	}
	change = rtnl_link_alloc();
	if (!change) {
		rtnl_link_put(link);
		return -ENOMEM;
	}
	rtnl_link_set_flags(change, IFF_UP);
	rtnl_link_set_ifalias(change, alias);
	r = rtnl_link_change(ctx->sk, link, change, 0);
	rtnl_link_put(change);
	rtnl_link_put(link);
	if (r < 0) {
		nb_err(ctx, "cannot bring %s up: %s", ifb, nl_geterror(r));
		return -EIO;
	}
	return 0;
}

int ifb_create(struct netbuf_ctx *ctx, const char *ifb, const char *ifname)
{
	static const char *const mods[] = { "ifb", NULL };
	struct rtnl_link *link;
	char alias[IF_NAMESIZE + sizeof(IFB_ALIAS_PREFIX)], hint[128];
	int r;

	link = rtnl_link_alloc();
	if (!link)
		return -ENOMEM;
	snprintf(alias, sizeof(alias), IFB_ALIAS_PREFIX "%s", ifname);
	rtnl_link_set_name(link, ifb);
	r = rtnl_link_set_type(link, "ifb");
	if (!r)
		r = rtnl_link_add(ctx->sk, link, NLM_F_CREATE | NLM_F_EXCL);
	if (r < 0) {
		rtnl_link_put(link);
		nb_err(ctx, "cannot create the IFB device %s for %s: %s%s", ifb,
		       ifname, nl_geterror(r),
		       module_hint(r, mods, hint, sizeof(hint)));
		return -EIO;
	}
	rtnl_link_put(link);
	r = ifb_up(ctx, ifb, alias);
	if (r < 0)
		ifb_delete(ctx, ifb);
	return r;
}

/* 1 and the buffered interface's name if LINK is one of our IFBs */
static int owned(struct rtnl_link *link, char *ifname, size_t len)
{
	const char *alias = rtnl_link_get_ifalias(link);
	const char *type = rtnl_link_get_type(link);

	if (!alias || !type || strcmp(type, "ifb") ||
	    strncmp(alias, IFB_ALIAS_PREFIX, strlen(IFB_ALIAS_PREFIX)))
		return 0;
	snprintf(ifname, len, "%s", alias + strlen(IFB_ALIAS_PREFIX));
	return 1;
}

/* 1 if IFB exists and is ours (ifname says for whom), 0 if absent, -EEXIST
 * if someone else's interface has the name */
int ifb_owner(struct netbuf_ctx *ctx, const char *ifb, char *ifname, size_t len)
{
	struct rtnl_link *link;
	int mine;

	if (rtnl_link_get_kernel(ctx->sk, 0, ifb, &link) < 0)
		return 0;
	mine = owned(link, ifname, len);
	rtnl_link_put(link);
	return mine ? 1 : -EEXIST;
}

int ifb_delete(struct netbuf_ctx *ctx, const char *ifb)
{
	struct rtnl_link *link;
	int r;

	link = rtnl_link_alloc();
	if (!link)
		return -ENOMEM;
	rtnl_link_set_name(link, ifb);
	r = rtnl_link_delete(ctx->sk, link);
	rtnl_link_put(link);
	if (r < 0 && r != -NLE_NODEV && r != -NLE_OBJ_NOTFOUND) {
		nb_err(ctx, "cannot remove the IFB device %s: %s", ifb,
		       nl_geterror(r));
		return -EIO;
	}
	return 0;
}

/* The IFBs of interfaces that are gone: a guest destroyed while xrepl was
 * not there to clean up after it. */
int netbuf_remove_stale(struct netbuf_ctx *ctx)
{
	struct nl_cache *cache;
	struct nl_object *o;
	char owner[IF_NAMESIZE];
	int r, removed = 0;

	r = rtnl_link_alloc_cache(ctx->sk, AF_UNSPEC, &cache);
	if (r < 0) {
		nb_err(ctx, "cannot list network interfaces: %s",
		       nl_geterror(r));
		return -EIO;
	}
	for (o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *link = (struct rtnl_link *)o, *target;
		const char *name = rtnl_link_get_name(link);

		if (!owned(link, owner, sizeof(owner)))
			continue;
		target = rtnl_link_get_by_name(cache, owner);
		if (target) {
			rtnl_link_put(target);
			continue;
		}
		nb_info(ctx, "removing %s, left behind for %s (gone)", name,
			owner);
		if (!ifb_delete(ctx, name))
			removed++;
	}
	nl_cache_free(cache);
	return removed;
}
