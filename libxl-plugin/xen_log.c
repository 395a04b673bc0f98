// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A xentoollog logger that forwards libxc/libxl messages into the context's
 * log, so Xen's own diagnostics reach the administrator through one channel
 * and honour one priority setting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libxrepl-private.h"
#include "xen_log.h"

struct xtl_bridge {
	xentoollog_logger vtable;
	struct xrepl_ctx *ctx;
};

static int level_to_priority(xentoollog_level level)
{
	if (level >= XTL_ERROR)
		return LOG_ERR;
	if (level >= XTL_WARN)
		return LOG_WARNING;
	if (level >= XTL_PROGRESS)
		return LOG_INFO;
	return LOG_DEBUG;
}

static void bridge_vmessage(xentoollog_logger *logger, xentoollog_level level,
			    int errnoval, const char *context,
			    const char *format, va_list al)
{
	struct xtl_bridge *b = (struct xtl_bridge *)logger;
	int prio = level_to_priority(level);
	char msg[512];

	if (xrepl_get_log_priority(b->ctx) < prio)
		return;
	vsnprintf(msg, sizeof(msg), format, al);
	if (errnoval >= 0)
		xrepl_log(b->ctx, prio, __FILE__, __LINE__,
			  context ? context : "xen", "%s: %s", msg,
			  strerror(errnoval));
	else
		xrepl_log(b->ctx, prio, __FILE__, __LINE__,
			  context ? context : "xen", "%s", msg);
}

static void bridge_destroy(xentoollog_logger *logger)
{
	struct xtl_bridge *b = (struct xtl_bridge *)logger;

	xrepl_unref(b->ctx);
	free(b);
}

xentoollog_logger *xrepl_xtl_new(struct xrepl_ctx *ctx)
{
	struct xtl_bridge *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->vtable.vmessage = bridge_vmessage;
	b->vtable.destroy = bridge_destroy;
	b->ctx = xrepl_ref(ctx);
	return &b->vtable;
}
