/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef XREPL_ANNOUNCE_H
#define XREPL_ANNOUNCE_H

#include <libxl.h>

#include "libxrepl.h"

/* Broadcasts RARP from each of the guest's MACs on its bridge (~1 s). */
void xrepl_announce(struct xrepl_ctx *ctx, const libxl_domain_config *dc);

#endif
