/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef XREPL_XEN_LOG_H
#define XREPL_XEN_LOG_H

#include <xentoollog.h>

#include "libxrepl.h"

xentoollog_logger *xrepl_xtl_new(struct xrepl_ctx *ctx);

#endif
