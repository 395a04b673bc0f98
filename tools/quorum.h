/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef XREPL_QUORUM_H
#define XREPL_QUORUM_H

#include "libxrepl.h"

struct quorum;

/*
 * --quorum SOURCE: NULL or "none" (*Q is NULL, with a warning that nothing
 * prevents split brain) or "corosync", checked now: corosync runs, PEER (a
 * node's name, address or id in corosync.conf's nodelist; NULL: the other
 * node of a two-node cluster) is known, a two-node cluster has a quorum
 * device, and TIMEOUT_MS (the heartbeat's) outlasts a membership change.
 * GRACE_MS: how long a backup waits before it promotes (0: from
 * corosync's timings). STOP and FAILOVER (the admin's) end a decision: no
 * and yes. 0, or -EINVAL with the reason printed.
 */
int quorum_setup(const char *source, const char *peer, unsigned int grace_ms,
		 unsigned int timeout_ms, volatile int *stop,
		 volatile int *failover, struct quorum **q);

/* The engine's arbiter, valid while Q is */
const struct xrepl_arbiter *quorum_arbiter(struct quorum *q);
void quorum_close(struct quorum *q);

#endif
