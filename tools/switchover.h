/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef XREPL_SWITCHOVER_H
#define XREPL_SWITCHOVER_H

#include "credentials.h"
#include "libxrepl.h"

/*
 * After a switchover handed DOMAIN over on the connection FD: starts xrepl
 * protect of it back to the peer's host (its receiver on S's port, with
 * S's options, CRED and the options in EXTRA, NULL-terminated) in a
 * session of its own; says why if it cannot.
 */
void switchover_protect_back(int fd, const struct credentials *cred,
			     const char *const *extra,
			     const struct xrepl_switchover *s,
			     const char *domain);

#endif
