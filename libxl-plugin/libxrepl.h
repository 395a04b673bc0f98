/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libxrepl - Remus-style replication of Xen guests.
 *
 * One public header for the whole library. Every function returns 0 or a
 * positive count on success and a negative errno on failure; the reason is
 * logged through the context's log function, so callers need not invent
 * their own messages.
 */
#ifndef LIBXREPL_H
#define LIBXREPL_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

struct xrepl_ctx;

typedef void (*xrepl_log_fn)(void *data, int priority, const char *file,
			     int line, const char *fn, const char *format,
			     va_list args);

struct xrepl_ctx *xrepl_new(void);
struct xrepl_ctx *xrepl_ref(struct xrepl_ctx *ctx);
struct xrepl_ctx *xrepl_unref(struct xrepl_ctx *ctx);
void xrepl_set_log_fn(struct xrepl_ctx *ctx, xrepl_log_fn fn, void *data);
int xrepl_get_log_priority(const struct xrepl_ctx *ctx);
void xrepl_set_log_priority(struct xrepl_ctx *ctx, int priority);

const char *xrepl_version(void);

struct xrepl_xen_version {
	unsigned int major;
	unsigned int minor;
	char extra[16];
};

/*
 * Asks the hypervisor for its version. Fails with -ENOENT (and a log line
 * naming the missing file) outside a Xen control domain.
 */
int xrepl_xen_version(struct xrepl_ctx *ctx, struct xrepl_xen_version *ver);

#ifdef __cplusplus
}
#endif
#endif
