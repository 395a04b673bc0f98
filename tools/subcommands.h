/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef XREPL_SUBCOMMANDS_H
#define XREPL_SUBCOMMANDS_H

#include "libxrepl.h"

extern const char *prog_name;

int bench_main(struct xrepl_ctx *ctx, int argc, char *argv[]);
int genkey_main(struct xrepl_ctx *ctx, int argc, char *argv[]);
int version_main(struct xrepl_ctx *ctx, int argc, char *argv[]);

#endif
