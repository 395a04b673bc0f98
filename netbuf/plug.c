// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The plug qdisc at the IFB's root. It keeps two counts: packets of the
 * current epoch and of the last finished one. BUFFER closes the current
 * epoch (overwriting the last one's count, which is why the engine never
 * has two epochs outstanding), RELEASE_ONE lets the last finished epoch
 * out, RELEASE_INDEFINITE stops holding.
 */
#include <errno.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/plug.h>

#include "netbuf-private.h"

#define PLUG_HANDLE TC_HANDLE(1, 0)

int plug_add(struct netbuf *nb, uint32_t limit)
{
	static const char *const mods[] = { "sch_plug", NULL };
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	char hint[128];
	int r;

	if (!q)
		return -ENOMEM;
	rtnl_tc_set_ifindex(TC_CAST(q), nb->ifb_index);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	rtnl_tc_set_handle(TC_CAST(q), PLUG_HANDLE);
	r = rtnl_tc_set_kind(TC_CAST(q), "plug");
	if (!r)
		r = rtnl_qdisc_plug_set_limit(q, (int)limit);
	if (!r)
		r = rtnl_qdisc_add(nb->ctx->sk, q,
				   NLM_F_CREATE | NLM_F_REPLACE);
	if (r < 0) {
		rtnl_qdisc_put(q);
		nb_err(nb->ctx, "cannot add a plug qdisc to %s: %s%s", nb->ifb,
		       nl_geterror(r),
		       module_hint(r, mods, hint, sizeof(hint)));
		return -EIO;
	}
	nb->plug = q;
	return 0;
}

int plug_action(struct netbuf *nb, int (*set)(struct rtnl_qdisc *),
		const char *what)
{
	int r = set(nb->plug);

	if (!r)
		r = rtnl_qdisc_add(nb->ctx->sk, nb->plug, 0);
	if (r < 0) {
		nb_err(nb->ctx, "plug %s on %s (for %s) failed: %s", what,
		       nb->ifb, nb->ifname, nl_geterror(r));
		return -EIO;
	}
	return 0;
}

int plug_stats(struct netbuf *nb, struct netbuf_stats *st)
{
	struct nl_cache *cache;
	struct rtnl_qdisc *q;
	int r;

	r = rtnl_qdisc_alloc_cache(nb->ctx->sk, &cache);
	if (r < 0)
		return -EIO;
	q = rtnl_qdisc_get(cache, nb->ifb_index, PLUG_HANDLE);
	if (q) {
		st->held_packets = rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_QLEN);
		st->held_bytes = rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_BACKLOG);
		st->released_packets =
			rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_PACKETS);
		st->released_bytes =
			rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_BYTES);
		st->dropped_packets =
			rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_DROPS);
		rtnl_qdisc_put(q);
	}
	nl_cache_free(cache);
	return q ? 0 : -ENOENT;
}
