/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef XREPL_SUBCOMMANDS_H
#define XREPL_SUBCOMMANDS_H

#include "libxrepl.h"

#define XREPL_DEFAULT_KEY "/etc/xrepl/xrepl.key"

extern const char *prog_name;

/* netbuf's and blkrepl's log function: CTX is the xrepl context, whose
 * priority (XREPL_LOG) filters them like xrepl's own messages */
void log_library(void *ctx, int priority, const char *msg);

int disk_server_main(struct xrepl_ctx *ctx, int argc, char *argv[]);
int failover_main(struct xrepl_ctx *ctx, int argc, char *argv[]);
int protect_main(struct xrepl_ctx *ctx, int argc, char *argv[]);
int receive_main(struct xrepl_ctx *ctx, int argc, char *argv[]);
int switchover_main(struct xrepl_ctx *ctx, int argc, char *argv[]);
int status_main(struct xrepl_ctx *ctx, int argc, char *argv[]);
int unprotect_main(struct xrepl_ctx *ctx, int argc, char *argv[]);
int bench_main(struct xrepl_ctx *ctx, int argc, char *argv[]);
/* xrepl bench channel, which bench_main hands over to */
int bench_channel_main(struct xrepl_ctx *ctx, int argc, char *argv[]);
int genkey_main(struct xrepl_ctx *ctx, int argc, char *argv[]);
int version_main(struct xrepl_ctx *ctx, int argc, char *argv[]);

#endif
