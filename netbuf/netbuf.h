/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * netbuf: holds a guest's network output per epoch until the backup has
 * acknowledged the checkpoint that produced it.
 *
 * For an interface (a guest's vif in dom0) netbuf_add builds, over netlink:
 * an IFB device, an ingress qdisc on the interface, a u32 filter matching
 * every protocol with a mirred egress redirect to the IFB, and a plug qdisc
 * as the IFB's root. The guest's egress is the vif's ingress, so everything
 * the guest sends then waits in the plug until it is released.
 */
#ifndef NETBUF_H
#define NETBUF_H

#include <stdint.h>

struct netbuf_ctx;
struct netbuf;

/* priority is a syslog priority (LOG_ERR, LOG_INFO, ...) */
typedef void (*netbuf_log_fn)(void *data, int priority, const char *msg);

struct netbuf_stats {
	uint64_t held_packets; /* in the plug now */
	uint64_t held_bytes;
	uint64_t released_packets; /* let out since setup */
	uint64_t released_bytes;
	uint64_t dropped_packets; /* over the plug's byte limit */
};

/* The plug's byte limit when none is given. */
#define NETBUF_LIMIT_DEFAULT (16u << 20)

int netbuf_ctx_new(struct netbuf_ctx **ctx, netbuf_log_fn log, void *data);
void netbuf_ctx_free(struct netbuf_ctx *ctx);

/*
 * Removes what an earlier run left behind for IFNAME (after a crash) and
 * every xrepl IFB whose interface is gone, then builds the buffer. Output
 * is held from here on: the first netbuf_buffer() closes the first epoch.
 */
int netbuf_add(struct netbuf_ctx *ctx, const char *ifname, uint32_t limit,
	       struct netbuf **nb);
/* Releases everything held and removes every object netbuf_add made. */
void netbuf_remove(struct netbuf *nb);
/*
 * Removes every object netbuf_add made without releasing: what the plug
 * holds is dropped, never sent (output of an epoch that another host may
 * yet run from an earlier checkpoint).
 */
void netbuf_drop(struct netbuf *nb);

/* Epochs (sch_plug keeps one finished epoch): at suspend, a barrier. */
int netbuf_buffer(struct netbuf *nb);
/* After the ACK: lets out the epoch before the last barrier. */
int netbuf_release_one(struct netbuf *nb);
/* On giving up protection: stop holding anything. */
int netbuf_release_all(struct netbuf *nb);

int netbuf_stats(struct netbuf *nb, struct netbuf_stats *st);
const char *netbuf_ifname(const struct netbuf *nb);
const char *netbuf_ifb(const struct netbuf *nb);

/* Removes what netbuf would have left for IFNAME: 1, or 0 if nothing was
 * there. */
int netbuf_cleanup(struct netbuf_ctx *ctx, const char *ifname);
/* Removes every IFB netbuf made for an interface that is gone (its guest
 * was destroyed under a killed run); returns how many. */
int netbuf_remove_stale(struct netbuf_ctx *ctx);

#endif
