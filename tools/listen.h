/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef XREPL_LISTEN_H
#define XREPL_LISTEN_H

#include <signal.h>

/* [ADDR:]PORT over TCP; the fd, or -1 with the reason printed */
int listen_tcp(const char *spec);
/* a unix socket at PATH, replacing a stale one; the fd, or -1 */
int listen_unix(const char *path);

/*
 * A stop signal that came between a loop's test of its flag and accept()
 * would wait for the next connection, forever. So SIGTERM, SIGINT and
 * SIGCHLD are blocked (in this thread and the ones it starts after) and let
 * in only while accept_or_signal() waits: WAIT_MASK is the mask to wait
 * under, the one before.
 */
void stop_signals_block(sigset_t *wait_mask);
/* the next connection; -1 with errno EINTR (a signal) or EAGAIN, or other */
int accept_or_signal(int lfd, const sigset_t *wait_mask);

#endif
