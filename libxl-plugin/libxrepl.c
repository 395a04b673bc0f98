// SPDX-License-Identifier: LGPL-2.1-or-later
/* The library context: reference count and logging. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libxrepl-private.h"

struct xrepl_ctx {
	int refcount;
	int log_priority;
	xrepl_log_fn log_fn;
	void *log_data;
};

static void log_stderr(void *data, int priority, const char *file, int line,
		       const char *fn, const char *format, va_list args)
{
	fprintf(stderr, "libxrepl: %s: ", fn);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

static int log_priority_from_env(void)
{
	const char *env = getenv("XREPL_LOG");

	if (!env)
		return LOG_ERR;
	if (!strcmp(env, "debug"))
		return LOG_DEBUG;
	if (!strcmp(env, "info"))
		return LOG_INFO;
	if (!strcmp(env, "warning"))
		return LOG_WARNING;
	return LOG_ERR;
}

XREPL_EXPORT struct xrepl_ctx *xrepl_new(void)
{
	struct xrepl_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	ctx->refcount = 1;
	ctx->log_fn = log_stderr;
	ctx->log_priority = log_priority_from_env();
	return ctx;
}

XREPL_EXPORT struct xrepl_ctx *xrepl_ref(struct xrepl_ctx *ctx)
{
	if (ctx)
		ctx->refcount++;
	return ctx;
}

XREPL_EXPORT struct xrepl_ctx *xrepl_unref(struct xrepl_ctx *ctx)
{
	if (!ctx || --ctx->refcount > 0)
		return ctx;
	free(ctx);
	return NULL;
}

XREPL_EXPORT void xrepl_set_log_fn(struct xrepl_ctx *ctx, xrepl_log_fn fn,
				   void *data)
{
	ctx->log_fn = fn ? fn : log_stderr;
	ctx->log_data = data;
}

XREPL_EXPORT int xrepl_get_log_priority(const struct xrepl_ctx *ctx)
{
	return ctx->log_priority;
}

XREPL_EXPORT void xrepl_set_log_priority(struct xrepl_ctx *ctx, int priority)
{
	ctx->log_priority = priority;
}

XREPL_EXPORT const char *xrepl_version(void)
{
	return PACKAGE_VERSION;
}

void xrepl_log(const struct xrepl_ctx *ctx, int priority, const char *file,
	       int line, const char *fn, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	ctx->log_fn(ctx->log_data, priority, file, line, fn, format, args);
	va_end(args);
}
