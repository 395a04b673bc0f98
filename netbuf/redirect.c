// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The guest's egress is its vif's ingress in dom0, where no qdisc can hold
 * it: an ingress qdisc and a u32 filter matching every frame (protocol all,
 * key 0/0 at offset 0, so IPv6, ARP and anything else too) redirect it to
 * the IFB's egress, where the plug is.
 */
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/tc_act/tc_mirred.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/qdisc.h>
#include <string.h>

#include "netbuf-private.h"

#define INGRESS_HANDLE TC_HANDLE(0xffffU, 0)
#define FILTER_PRIO 1

static struct rtnl_qdisc *ingress_alloc(int ifindex)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();

	if (!q)
		return NULL;
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
	rtnl_tc_set_handle(TC_CAST(q), INGRESS_HANDLE);
	if (rtnl_tc_set_kind(TC_CAST(q), "ingress") < 0) {
		rtnl_qdisc_put(q);
		return NULL;
	}
	return q;
}

static int ingress_add(struct netbuf_ctx *ctx, const char *ifname, int ifindex)
{
	static const char *const mods[] = { "sch_ingress", NULL };
	struct rtnl_qdisc *q = ingress_alloc(ifindex);
	char hint[128];
	int r;

	if (!q)
		return -ENOMEM;
	r = rtnl_qdisc_add(ctx->sk, q, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_qdisc_put(q);
	if (r == -NLE_EXIST) {
		nb_err(ctx,
		       "%s already has an ingress qdisc that xrepl did not make: remove it (tc qdisc del dev %s ingress) or protect with -n -F",
		       ifname, ifname);
		return -EEXIST;
	}
	if (r < 0) {
		nb_err(ctx, "cannot add an ingress qdisc to %s: %s%s", ifname,
		       nl_geterror(r),
		       module_hint(r, mods, hint, sizeof(hint)));
		return -EIO;
	}
	return 0;
}

static struct rtnl_act *mirred_alloc(int ifb_index)
{
	struct rtnl_act *act = rtnl_act_alloc();

	if (!act)
		return NULL;
	if (rtnl_tc_set_kind(TC_CAST(act), "mirred") < 0) {
		rtnl_act_put(act);
		return NULL;
	}
	rtnl_mirred_set_action(act, TCA_EGRESS_REDIR);
	rtnl_mirred_set_policy(act, TC_ACT_STOLEN);
	rtnl_mirred_set_ifindex(act, (uint32_t)ifb_index);
	return act;
}

static int filter_add(struct netbuf_ctx *ctx, const char *ifname, int ifindex,
		      int ifb_index)
{
	static const char *const mods[] = { "cls_u32", "act_mirred", NULL };
	struct rtnl_cls *cls;
	struct rtnl_act *act;
	char hint[128];
	int r;

	cls = rtnl_cls_alloc();
	act = mirred_alloc(ifb_index);
	if (!cls || !act) {
		rtnl_cls_put(cls);
		rtnl_act_put(act);
		return -ENOMEM;
	}
	rtnl_tc_set_ifindex(TC_CAST(cls), ifindex);
	rtnl_tc_set_parent(TC_CAST(cls), INGRESS_HANDLE);
	rtnl_cls_set_protocol(cls, ETH_P_ALL);
	rtnl_cls_set_prio(cls, FILTER_PRIO);
	r = rtnl_tc_set_kind(TC_CAST(cls), "u32");
	if (!r)
		r = rtnl_u32_add_key_uint32(cls, 0, 0, 0, 0);
	if (!r)
		r = rtnl_u32_set_cls_terminal(cls);
	if (!r)
		r = rtnl_u32_add_action(cls, act);
	if (!r)
		r = rtnl_cls_add(ctx->sk, cls, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_act_put(act);
	rtnl_cls_put(cls);
	if (r < 0) {
		nb_err(ctx, "cannot redirect %s's ingress to its IFB: %s%s",
		       ifname, nl_geterror(r),
		       module_hint(r, mods, hint, sizeof(hint)));
		return -EIO;
	}
	return 0;
}

int redirect_add(struct netbuf_ctx *ctx, const char *ifname, int ifindex,
		 int ifb_index)
{
	int r = ingress_add(ctx, ifname, ifindex);

	if (r < 0)
		return r;
	r = filter_add(ctx, ifname, ifindex, ifb_index);
	if (r < 0)
		redirect_remove(ctx, ifindex);
	return r;
}

/* 1 if IFINDEX's ingress holds our filter, redirecting to IFB_INDEX */
int redirect_is_ours(struct netbuf_ctx *ctx, int ifindex, int ifb_index)
{
	struct nl_cache *c;
	struct nl_object *o;
	struct rtnl_act *act;
	const char *kind;
	int ours = 0;

	if (rtnl_cls_alloc_cache(ctx->sk, ifindex, INGRESS_HANDLE, &c) < 0)
		return 0;
	for (o = nl_cache_get_first(c); o && !ours; o = nl_cache_get_next(o)) {
		kind = rtnl_tc_get_kind(TC_CAST(o));
		if (!kind || strcmp(kind, "u32"))
			continue;
		act = rtnl_u32_get_action((struct rtnl_cls *)o);
		kind = act ? rtnl_tc_get_kind(TC_CAST(act)) : NULL;
		ours = kind && !strcmp(kind, "mirred") &&
		       rtnl_mirred_get_ifindex(act) == (uint32_t)ifb_index;
	}
	nl_cache_free(c);
	return ours;
}

/* Deleting the ingress qdisc takes its filters and their actions along. */
int redirect_remove(struct netbuf_ctx *ctx, int ifindex)
{
	struct rtnl_qdisc *q = ingress_alloc(ifindex);
	int r;

	if (!q)
		return -ENOMEM;
	r = rtnl_qdisc_delete(ctx->sk, q);
	rtnl_qdisc_put(q);
	if (r < 0 && r != -NLE_OBJ_NOTFOUND && r != -NLE_NODEV &&
	    r != -NLE_INVAL) {
		nb_err(ctx,
		       "cannot remove the ingress qdisc of interface %d: %s",
		       ifindex, nl_geterror(r));
		return -EIO;
	}
	return 0;
}
