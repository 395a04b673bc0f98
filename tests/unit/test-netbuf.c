// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * netbuf against the real kernel, in a network namespace of its own with a
 * veth pair standing in for a guest's vif: what setup builds (read back
 * over netlink), that frames of every protocol take the redirect, that
 * teardown and crash cleanup leave nothing, and that 100 cycles leak
 * nothing. The host kernel may lack sch_plug; the lab proves the plug.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/qdisc.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "netbuf-private.h"

#define VIF "nbv0"
#define PEER "nbp0"

static char logged[4096];
static int have_netns;

static void log_capture(void *data, int priority, const char *msg)
{
	size_t n = strlen(logged);

	snprintf(logged + n, sizeof(logged) - n, "%s\n", msg);
}

struct snapshot {
	int links, qdiscs, filters, fds;
};

static int count_cache(struct nl_cache *cache)
{
	int n = nl_cache_nitems(cache);

	nl_cache_free(cache);
	return n;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)))
		n++;
	closedir(d);
	return n;
}

static void snap(struct netbuf_ctx *ctx, struct snapshot *s)
{
	struct nl_cache *c;

	assert_int_equal(rtnl_link_alloc_cache(ctx->sk, AF_UNSPEC, &c), 0);
	s->links = count_cache(c);
	assert_int_equal(rtnl_qdisc_alloc_cache(ctx->sk, &c), 0);
	s->qdiscs = count_cache(c);
	assert_int_equal(rtnl_cls_alloc_cache(ctx->sk, if_index(ctx, VIF),
					      TC_HANDLE(0xffffU, 0), &c),
			 0);
	s->filters = count_cache(c);
	s->fds = count_fds();
}

static void assert_same(const struct snapshot *a, const struct snapshot *b)
{
	assert_int_equal(a->links, b->links);
	assert_int_equal(a->qdiscs, b->qdiscs);
	assert_int_equal(a->filters, b->filters);
	assert_int_equal(a->fds, b->fds);
}

static int write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -1;
	fputs(s, f);
	return fclose(f);
}

static void link_up(struct netbuf_ctx *ctx, const char *name)
{
	struct rtnl_link *link, *change = rtnl_link_alloc();

	assert_int_equal(rtnl_link_get_kernel(ctx->sk, 0, name, &link), 0);
	rtnl_link_set_flags(change, IFF_UP);
	assert_int_equal(rtnl_link_change(ctx->sk, link, change, 0), 0);
	rtnl_link_put(change);
	rtnl_link_put(link);
}

/* A namespace of our own, without IPv6 chatter, with the veth pair. */
static int group_setup(void **state)
{
	struct netbuf_ctx *ctx;

	if (unshare(CLONE_NEWNET) < 0)
		return 0; /* each test skips */
	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	if (netbuf_ctx_new(&ctx, log_capture, NULL) < 0)
		return -1;
	if (rtnl_link_veth_add(ctx->sk, VIF, PEER, getpid()) < 0)
		return -1;
	link_up(ctx, VIF);
	link_up(ctx, PEER);
	*state = ctx;
	have_netns = 1;
	return 0;
}

static int group_teardown(void **state)
{
	netbuf_ctx_free(*state);
	return 0;
}

/* Each test starts clean, whatever the one before it left. */
static struct netbuf_ctx *ctx_of(void **state)
{
	struct netbuf_ctx *ctx = *state;

	if (!have_netns)
		skip();
	redirect_remove(ctx, if_index(ctx, VIF));
	ifb_delete(ctx, "xr-" VIF);
	ifb_delete(ctx, "xr-nbgone");
	ifb_delete(ctx, "xr-other");
	logged[0] = '\0';
	return ctx;
}

/* netbuf_add up to the plug: the IFB and the redirect. */
static int build_redirect(struct netbuf_ctx *ctx, const char *ifname)
{
	char ifb[IF_NAMESIZE];
	int r;

	ifb_name(ifname, ifb);
	r = ifb_create(ctx, ifb, ifname);
	if (r < 0)
		return r;
	return redirect_add(ctx, ifname, if_index(ctx, ifname),
			    if_index(ctx, ifb));
}

static void remove_redirect(struct netbuf_ctx *ctx, const char *ifname)
{
	char ifb[IF_NAMESIZE];

	ifb_name(ifname, ifb);
	assert_int_equal(redirect_remove(ctx, if_index(ctx, ifname)), 0);
	assert_int_equal(ifb_delete(ctx, ifb), 0);
}

static void builds_expected_objects(void **state)
{
	struct netbuf_ctx *ctx = ctx_of(state);
	struct rtnl_link *ifb;
	struct rtnl_qdisc *ingress;
	struct rtnl_cls *cls;
	struct rtnl_act *act;
	struct nl_cache *c;
	int ifb_index;

	assert_int_equal(build_redirect(ctx, VIF), 0);

	assert_int_equal(rtnl_link_get_kernel(ctx->sk, 0, "xr-" VIF, &ifb), 0);
	assert_string_equal(rtnl_link_get_type(ifb), "ifb");
	assert_string_equal(rtnl_link_get_ifalias(ifb), "xrepl netbuf of " VIF);
	assert_true(rtnl_link_get_flags(ifb) & IFF_UP);
	ifb_index = rtnl_link_get_ifindex(ifb);
	rtnl_link_put(ifb);

	assert_int_equal(rtnl_qdisc_alloc_cache(ctx->sk, &c), 0);
	ingress = rtnl_qdisc_get_by_parent(c, if_index(ctx, VIF), TC_H_INGRESS);
	assert_non_null(ingress);
	assert_string_equal(rtnl_tc_get_kind(TC_CAST(ingress)), "ingress");
	rtnl_qdisc_put(ingress);
	nl_cache_free(c);

	assert_int_equal(rtnl_cls_alloc_cache(ctx->sk, if_index(ctx, VIF),
					      TC_HANDLE(0xffffU, 0), &c),
			 0);
	/* u32 shows its hash table as a filter of its own */
	cls = (struct rtnl_cls *)nl_cache_get_first(c);
	for (; cls; cls = (struct rtnl_cls *)nl_cache_get_next(OBJ_CAST(cls))) {
		assert_string_equal(rtnl_tc_get_kind(TC_CAST(cls)), "u32");
		assert_int_equal(rtnl_cls_get_protocol(cls), ETH_P_ALL);
		act = rtnl_u32_get_action(cls);
		if (act)
			break;
	}
	assert_non_null(cls);
	assert_string_equal(rtnl_tc_get_kind(TC_CAST(act)), "mirred");
	assert_int_equal(rtnl_mirred_get_action(act), TCA_EGRESS_REDIR);
	assert_int_equal(rtnl_mirred_get_ifindex(act), ifb_index);
	nl_cache_free(c);

	remove_redirect(ctx, VIF);
}

static uint64_t ifb_rx(struct netbuf_ctx *ctx)
{
	struct rtnl_link *link;
	uint64_t n;

	assert_int_equal(rtnl_link_get_kernel(ctx->sk, 0, "xr-" VIF, &link), 0);
	n = rtnl_link_get_stat(link, RTNL_LINK_RX_PACKETS);
	rtnl_link_put(link);
	return n;
}

/* A frame of ethertype TYPE sent from the peer: the vif's ingress. */
static void send_frame(int fd, int ifindex, uint16_t type)
{
	struct sockaddr_ll to = {
		.sll_family = AF_PACKET,
		.sll_ifindex = ifindex,
		.sll_halen = ETH_ALEN,
		.sll_addr = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
	};
	uint8_t frame[64] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			      0x02, 0,	  0,	0,    0,    1 };

	frame[12] = type >> 8;
	frame[13] = type & 0xff;
	assert_int_equal(sendto(fd, frame, sizeof(frame), 0,
				(struct sockaddr *)&to, sizeof(to)),
			 sizeof(frame));
}

static void every_protocol_is_redirected(void **state)
{
	static const uint16_t types[] = { ETH_P_IP, ETH_P_IPV6, ETH_P_ARP,
					  0x88b5 /* local experimental */ };
	struct netbuf_ctx *ctx = ctx_of(state);
	uint64_t before;
	size_t i;
	int fd;

	assert_int_equal(build_redirect(ctx, VIF), 0);
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	before = ifb_rx(ctx);
	for (i = 0; i < 4; i++)
		send_frame(fd, if_index(ctx, PEER), types[i]);
	close(fd);
	for (i = 0; i < 50 && ifb_rx(ctx) - before < 4; i++)
		usleep(10000);
	assert_int_equal(ifb_rx(ctx) - before, 4);
	remove_redirect(ctx, VIF);
}

static void teardown_leaves_nothing(void **state)
{
	struct netbuf_ctx *ctx = ctx_of(state);
	struct snapshot before, after;

	snap(ctx, &before);
	assert_int_equal(build_redirect(ctx, VIF), 0);
	snap(ctx, &after);
	assert_int_equal(after.links, before.links + 1);
	assert_int_equal(after.qdiscs, before.qdiscs + 2); /* ingress, IFB's */
	assert_true(after.filters > before.filters);
	remove_redirect(ctx, VIF);
	snap(ctx, &after);
	assert_same(&before, &after);
}

static int sch_plug_missing(void)
{
	return access("/sys/module/sch_plug", F_OK) < 0;
}

/* Without sch_plug the error names it and nothing is left; with it, the
 * whole buffer is built and removed. */
static void full_setup_or_named_module(void **state)
{
	struct netbuf_ctx *ctx = ctx_of(state);
	struct snapshot before, after;
	struct netbuf *nb;
	int r;

	snap(ctx, &before);
	r = netbuf_add(ctx, VIF, 0, &nb);
	if (sch_plug_missing() && r < 0) {
		assert_non_null(strstr(logged, "sch_plug"));
		assert_non_null(strstr(logged, "xr-" VIF));
	} else {
		assert_int_equal(r, 0);
		assert_int_equal(netbuf_buffer(nb), 0);
		assert_int_equal(netbuf_release_one(nb), 0);
		netbuf_remove(nb);
	}
	snap(ctx, &after);
	assert_same(&before, &after);
}

static void no_such_interface(void **state)
{
	struct netbuf_ctx *ctx = ctx_of(state);
	struct netbuf *nb;

	assert_int_equal(netbuf_add(ctx, "nbnothere", 0, &nb), -ENODEV);
	assert_non_null(strstr(logged, "no network interface nbnothere"));
	assert_int_equal(netbuf_add(ctx, "a-name-far-too-long", 0, &nb),
			 -EINVAL);
	assert_int_equal(netbuf_add(ctx, VIF, 3u << 30, &nb), -EINVAL);
	assert_non_null(strstr(logged, "a plug holds at most"));
}

/* Someone else's ingress qdisc is refused by name and left alone. */
static void foreign_ingress_is_kept(void **state)
{
	struct netbuf_ctx *ctx = ctx_of(state);
	struct rtnl_qdisc *q = rtnl_qdisc_alloc(), *kept;
	struct nl_cache *c;
	struct netbuf *nb;
	char ifb[IF_NAMESIZE];

	rtnl_tc_set_ifindex(TC_CAST(q), if_index(ctx, VIF));
	rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
	rtnl_tc_set_handle(TC_CAST(q), TC_HANDLE(0xffffU, 0));
	rtnl_tc_set_kind(TC_CAST(q), "ingress");
	assert_int_equal(rtnl_qdisc_add(ctx->sk, q, NLM_F_CREATE), 0);

	assert_int_equal(build_redirect(ctx, VIF), -EEXIST);
	assert_non_null(strstr(logged, "tc qdisc del dev " VIF " ingress"));
	/* nor does a whole setup, failing on the way, take it away */
	assert_true(netbuf_add(ctx, VIF, 0, &nb) < 0);
	assert_int_equal(rtnl_qdisc_alloc_cache(ctx->sk, &c), 0);
	kept = rtnl_qdisc_get_by_parent(c, if_index(ctx, VIF), TC_H_INGRESS);
	assert_non_null(kept);
	rtnl_qdisc_put(kept);
	nl_cache_free(c);

	ifb_name(VIF, ifb);
	assert_int_equal(ifb_delete(ctx, ifb), 0);
	assert_int_equal(rtnl_qdisc_delete(ctx->sk, q), 0);
	rtnl_qdisc_put(q);
}

/* After a crash: the next setup finds its own leftovers and removes them,
 * including IFBs of interfaces that are gone, and nobody else's. */
static void crash_leftovers_are_removed(void **state)
{
	struct netbuf_ctx *ctx = ctx_of(state);
	struct snapshot before, after;
	struct rtnl_link *foreign = rtnl_link_alloc();

	snap(ctx, &before);
	assert_int_equal(build_redirect(ctx, VIF), 0);
	assert_int_equal(ifb_create(ctx, "xr-nbgone", "nbgone"), 0);
	rtnl_link_set_name(foreign, "xr-other");
	rtnl_link_set_type(foreign, "ifb");
	assert_int_equal(rtnl_link_add(ctx->sk, foreign, NLM_F_CREATE), 0);

	assert_int_equal(netbuf_cleanup(ctx, VIF), 1);
	assert_int_equal(netbuf_cleanup(ctx, VIF), 0);
	assert_int_equal(netbuf_remove_stale(ctx), 1);
	assert_int_equal(if_index(ctx, "xr-nbgone"), -ENODEV);
	assert_true(if_index(ctx, "xr-other") > 0);
	assert_int_equal(netbuf_cleanup(ctx, "other"), -EEXIST);
	assert_non_null(strstr(logged, "xr-other exists and is not"));

	assert_int_equal(rtnl_link_delete(ctx->sk, foreign), 0);
	rtnl_link_put(foreign);
	snap(ctx, &after);
	assert_same(&before, &after);
}

static void hundred_cycles_leak_nothing(void **state)
{
	struct netbuf_ctx *ctx = ctx_of(state);
	struct snapshot before, after;
	struct netbuf *nb;
	int i;

	snap(ctx, &before);
	for (i = 0; i < 100; i++) {
		assert_int_equal(build_redirect(ctx, VIF), 0);
		remove_redirect(ctx, VIF);
		if (netbuf_add(ctx, VIF, 0, &nb) == 0)
			netbuf_remove(nb);
	}
	snap(ctx, &after);
	assert_same(&before, &after);
}

static void long_names_get_a_hash(void **state)
{
	char ifb[IF_NAMESIZE], again[IF_NAMESIZE];

	ifb_name("vif12.0", ifb);
	assert_string_equal(ifb, "xr-vif12.0");
	ifb_name("vif-webserver01", ifb);
	ifb_name("vif-webserver01", again);
	assert_int_equal(strlen(ifb), 11);
	assert_string_equal(ifb, again);
	ifb_name("vif-webserver02", again);
	assert_string_not_equal(ifb, again);
}

static void missing_module_is_named(void **state)
{
	static const char *const mods[] = { "xrepl_no_such_module", NULL };
	char hint[128];

	assert_non_null(
		strstr(module_hint(-NLE_OBJ_NOTFOUND, mods, hint, sizeof(hint)),
		       "xrepl_no_such_module"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(long_names_get_a_hash),
		cmocka_unit_test(missing_module_is_named),
		cmocka_unit_test(builds_expected_objects),
		cmocka_unit_test(every_protocol_is_redirected),
		cmocka_unit_test(teardown_leaves_nothing),
		cmocka_unit_test(full_setup_or_named_module),
		cmocka_unit_test(no_such_interface),
		cmocka_unit_test(foreign_ingress_is_kept),
		cmocka_unit_test(crash_leftovers_are_removed),
		cmocka_unit_test(hundred_cycles_leak_nothing),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
