/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef XREPL_LISTEN_H
#define XREPL_LISTEN_H

/* [ADDR:]PORT over TCP; the fd, or -1 with the reason printed */
int listen_tcp(const char *spec);
/* a unix socket at PATH, replacing a stale one; the fd, or -1 */
int listen_unix(const char *path);

#endif
