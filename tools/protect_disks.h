/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef XREPL_PROTECT_DISKS_H
#define XREPL_PROTECT_DISKS_H

#include "libxrepl.h"

/* where block-xrepl keeps each disk's sockets, pid and device files */
#define XREPL_DISK_DIR "/run/xrepl/disks"

struct protect_disks;

/*
 * Epoch hooks that replicate every disk of the protected domain: each must
 * be on block-xrepl (its disk-server's control socket in XREPL_DISK_DIR).
 * A disk's replication starts once the backup has said where its replica
 * stands (a full sync, or a resync of what changed since); the guest's
 * writes are marked at each suspend and sent before the checkpoint's end,
 * so the backup's ACK covers them. TIMEOUT_MS bounds the wait for a
 * disk-server's mark. With BLACKHOLE there is no backup to ask.
 */
struct protect_disks *protect_disks_new(struct xrepl_ctx *ctx,
					unsigned int timeout_ms, int blackhole,
					struct xrepl_epoch_hooks *hooks);
void protect_disks_free(struct protect_disks *pd);

#endif
