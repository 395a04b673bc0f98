/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef LIBXREPL_PRIVATE_H
#define LIBXREPL_PRIVATE_H

#include <stdio.h>
#include <syslog.h>
#include <time.h>

#include "libxrepl.h"

#define XREPL_EXPORT __attribute__((visibility("default")))

void xrepl_log(const struct xrepl_ctx *ctx, int priority, const char *file,
	       int line, const char *fn, const char *format, ...)
	__attribute__((format(printf, 6, 7)));

#define xrepl_log_cond(ctx, prio, ...)                                     \
	do {                                                               \
		if (xrepl_get_log_priority(ctx) >= (prio))                 \
			xrepl_log(ctx, prio, __FILE__, __LINE__, __func__, \
				  __VA_ARGS__);                            \
	} while (0)

#define dbg(ctx, ...) xrepl_log_cond(ctx, LOG_DEBUG, __VA_ARGS__)
#define info(ctx, ...) xrepl_log_cond(ctx, LOG_INFO, __VA_ARGS__)
#define warn(ctx, ...) xrepl_log_cond(ctx, LOG_WARNING, __VA_ARGS__)
#define err(ctx, ...) xrepl_log_cond(ctx, LOG_ERR, __VA_ARGS__)

/*
 * What the backup takes from the primary's CONFIG (config_check.c): 0, or
 * a negative errno with the rule broken in *why. A guest's name must be
 * safe in file names, JSON and logs; a replica not named by --disk-map
 * must be a file under DIR; a device's script must be one of Xen's.
 */
int domain_name_check(const char *name, const char **why);
int replica_path_check(const char *path, const char *dir, const char **why);
int device_script_check(const char *script, const char **why);

/* S as a JSON string, quoted and escaped (json.c) */
void xrepl_json_string(FILE *f, const char *s);

/* Monotonic milliseconds, for timeouts and the figures the engine reports. */
static inline double xrepl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* An absolute CLOCK_MONOTONIC time ms from now, for timed waits. */
static inline struct timespec xrepl_deadline(unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

#endif
