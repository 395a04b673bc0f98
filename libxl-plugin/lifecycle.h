/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef XREPL_LIFECYCLE_H
#define XREPL_LIFECYCLE_H

#include <libxl.h>
#include <stddef.h>
#include <xenstore.h>

#include "libxrepl.h"

enum guest_state {
	GUEST_RUNS,
	GUEST_PAUSED,
	GUEST_SUSPENDED,
	GUEST_GONE,
	GUEST_BUSY,
};

/*
 * Domain DOMID as protection sees it; when it is GUEST_GONE, *stop is what
 * the backup is told and WHY says what happened.
 */
enum guest_state guest_state_of(libxl_ctx *lx, uint32_t domid,
				enum xrepl_stop *stop, char *why, size_t len);

/*
 * 1 when an admin's shutdown request (xl shutdown, xl reboot) waits in the
 * guest's control/shutdown for the guest to read it, its text in REQ.
 */
int guest_request_pending(struct xs_handle *xs, uint32_t domid, char *req,
			  size_t len);

/*
 * 1 when a suspend request waits that is not a checkpoint's (between
 * checkpoints, the guest has read every one of ours): xl save or xl
 * migrate is taking the guest away.
 */
int guest_suspend_requested(struct xs_handle *xs, uint32_t domid);

/*
 * 1 while libxl's save helper copies the domain (xl save, xl migrate). It
 * starts before libxl asks the guest to suspend, which libxl may do by the
 * guest's suspend event channel, leaving no request in xenstore to see: a
 * checkpoint's suspend and theirs could then be taken for each other.
 * Looks only at processes above *SINCE (0: all; a scan of /proc costs
 * milliseconds in a dom0 under emulation) and leaves there the highest.
 */
int guest_being_saved(uint32_t domid, unsigned long *since);

/*
 * What protection was set up for: the domain's vifs and disks (their
 * backends in xenstore) and its memory target. A vif or disk plugged in
 * later would be neither buffered nor replicated, and memory changed under
 * the checkpoints is not what the backup was built for.
 */
struct guest_shape {
	unsigned int vifs, disks;
	unsigned long long target_kib;
};

void guest_shape_of(struct xs_handle *xs, uint32_t domid,
		    struct guest_shape *s);
/* 1 if NOW is not WAS, WHY saying how and what to do */
int guest_shape_changed(const struct guest_shape *was,
			const struct guest_shape *now, char *why, size_t len);

/*
 * Writes REQ again if it still waits: the guest's watch fires anew (one
 * fired while a checkpoint had it suspended can go unseen).
 */
void guest_request_repeat(struct xs_handle *xs, uint32_t domid,
			  const char *req);

/* Removes REQ if it still waits: the guest did not read it in time. */
void guest_request_drop(struct xs_handle *xs, uint32_t domid, const char *req);

/*
 * Asks the guest to suspend for a checkpoint (unless *ASKED: it was, and
 * took the request) and waits (at most TIMEOUT_MS of its running time)
 * until it has: GUEST_SUSPENDED. GUEST_PAUSED: an admin paused it; a
 * request it had not taken is taken back (*ASKED 0), so call again once it
 * runs. GUEST_BUSY: an admin's request waits for the guest to read it
 * (guest_request_pending), nothing was asked: call again once it has.
 * GUEST_GONE: it ended meanwhile (*stop, WHY). GUEST_RUNS: it did
 * not suspend (WHY). XS must watch @releaseDomain.
 */
enum guest_state guest_suspend(struct xs_handle *xs, libxl_ctx *lx,
			       uint32_t domid, unsigned int timeout_ms,
			       int *asked, enum xrepl_stop *stop, char *why,
			       size_t len);

/*
 * What xl's monitor would have done with a guest that shut down, rebooted
 * or crashed (its on_poweroff, on_reboot, on_crash): that monitor leaves at
 * the first checkpoint, which it takes for a save. 1 if the guest was
 * started again.
 */
int guest_shutdown_action(struct xrepl_ctx *ctx, libxl_ctx *lx, uint32_t domid,
			  enum xrepl_stop stop);

/* A status file's state after a stop for STOP (FAULT: the side's word) */
const char *guest_end_state(enum xrepl_stop stop, const char *fault);

#endif
