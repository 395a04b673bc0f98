/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef XREPL_PROTECT_NETBUF_H
#define XREPL_PROTECT_NETBUF_H

#include "libxrepl.h"

struct protect_netbuf;

/*
 * Epoch hooks that buffer the output of every vif of the protected domain
 * (plug limit in bytes). TRACE_FILE, if not NULL, gets a line per barrier
 * and release: "<unix time> buffer|release <epoch>".
 */
struct protect_netbuf *protect_netbuf_new(struct xrepl_ctx *ctx, uint32_t limit,
					  const char *trace_file,
					  struct xrepl_epoch_hooks *hooks);
void protect_netbuf_free(struct protect_netbuf *pn);

/* Removes the buffers a killed xrepl protect left on the domain's vifs
 * (which hold its output for good) and those of vifs that are gone;
 * returns how many. */
int protect_netbuf_cleanup(struct xrepl_ctx *ctx, uint32_t domid);

#endif
