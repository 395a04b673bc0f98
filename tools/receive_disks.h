/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef XREPL_RECEIVE_DISKS_H
#define XREPL_RECEIVE_DISKS_H

#include <stdint.h>

#include "libxrepl.h"

struct receive_disks;

/*
 * The backup's hooks for replicated disks: a journal per disk over its
 * replica, held in memory up to MEM_LIMIT bytes per disk and spilled to an
 * unnamed file in SPILL_DIR past it; STATE_DIR keeps what each replica was
 * last committed under, so that the next protection resyncs it.
 */
struct receive_disks *receive_disks_new(struct xrepl_ctx *ctx,
					const char *state_dir,
					const char *spill_dir,
					uint64_t mem_limit,
					struct xrepl_receive_hooks *hooks);
void receive_disks_free(struct receive_disks *rd);

#endif
