// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The protected guest's own life as Xen reports it: running, paused by an
 * admin, or gone (shut down, rebooting, crashed, destroyed), and what each
 * means for its backup. A rebooting guest comes back as a new domain under
 * the same name (xl destroys the old one and builds a new one), which the
 * tool protects again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libxl.h>
#include <libxl_utils.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libxrepl-private.h"
#include "lifecycle.h"
#include "xen_log.h"

/* how often a suspend request's fate is looked at besides watch events */
#define SUSPEND_TICK_MS 20

static enum xrepl_stop shutdown_stop(libxl_shutdown_reason reason)
{
	switch (reason) {
	case LIBXL_SHUTDOWN_REASON_POWEROFF:
		return XREPL_STOP_SHUTDOWN;
	case LIBXL_SHUTDOWN_REASON_REBOOT:
		return XREPL_STOP_REBOOT;
	case LIBXL_SHUTDOWN_REASON_CRASH:
	case LIBXL_SHUTDOWN_REASON_WATCHDOG:
		return XREPL_STOP_CRASH;
	default:
		/* soft reset and the like keep the domain: not protectable */
		return XREPL_STOP_FAULT;
	}
}

enum guest_state guest_state_of(libxl_ctx *lx, uint32_t domid,
				enum xrepl_stop *stop, char *why, size_t len)
{
	enum guest_state st = GUEST_GONE;
	libxl_dominfo info;

	libxl_dominfo_init(&info);
	if (libxl_domain_info(lx, &info, domid)) {
		*stop = XREPL_STOP_DESTROYED;
		snprintf(why, len, "domain %u no longer exists", domid);
	} else if (info.shutdown &&
		   info.shutdown_reason == LIBXL_SHUTDOWN_REASON_SUSPEND) {
		st = GUEST_SUSPENDED;
	} else if (info.shutdown) {
		*stop = shutdown_stop(info.shutdown_reason);
		snprintf(why, len, "the guest shut down (%s)",
			 libxl_shutdown_reason_to_string(info.shutdown_reason));
	} else if (info.dying) {
		*stop = XREPL_STOP_DESTROYED;
		snprintf(why, len, "domain %u is being destroyed", domid);
	} else {
		st = info.paused ? GUEST_PAUSED : GUEST_RUNS;
	}
	libxl_dominfo_dispose(&info);
	return st;
}

/* the guest's control/shutdown, or NULL if there is none or it is empty */
static char *shutdown_request(struct xs_handle *xs, uint32_t domid)
{
	char path[64];
	unsigned int n;
	char *v;

	snprintf(path, sizeof(path), "/local/domain/%u/control/shutdown",
		 domid);
	v = xs_read(xs, XBT_NULL, path, &n);
	if (v && !n) {
		free(v);
		return NULL;
	}
	return v;
}

int guest_request_pending(struct xs_handle *xs, uint32_t domid, char *req,
			  size_t len)
{
	char *v = shutdown_request(xs, domid);
	int r = v && strcmp(v, "suspend");

	if (r)
		snprintf(req, len, "%s", v);
	free(v);
	return r;
}

int guest_suspend_requested(struct xs_handle *xs, uint32_t domid)
{
	char *v = shutdown_request(xs, domid);
	int r = v && !strcmp(v, "suspend");

	free(v);
	return r;
}

/* 1 if process PID runs "libxl-save-helper --save-domain FD FD DOMID ..." */
static int saves(const char *pid, uint32_t domid)
{
	char path[64], cmd[512], want[16], *arg[5];
	ssize_t n;
	int fd, i;
	char *p;

	snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	cmd[n] = '\0';
	for (i = 0, p = cmd; i < 5 && p < cmd + n; i++, p += strlen(p) + 1)
		arg[i] = p;
	if (i < 5)
		return 0;
	p = strrchr(arg[0], '/');
	snprintf(want, sizeof(want), "%u", domid);
	return !strcmp(p ? p + 1 : arg[0], "libxl-save-helper") &&
	       !strcmp(arg[1], "--save-domain") && !strcmp(arg[4], want);
}

int guest_being_saved(uint32_t domid, unsigned long *since)
{
	unsigned long pid, highest = 0;
	struct dirent *e;
	DIR *d = opendir("/proc");
	int r = 0;

	while (d && !r && (e = readdir(d))) {
		pid = strtoul(e->d_name, NULL, 10);
		if (pid > highest)
			highest = pid;
		if (pid > *since)
			r = saves(e->d_name, domid);
	}
	if (d)
		closedir(d);
	if (!r && highest < *since) {
		/* the pids wrapped around: all are new */
		*since = 0;
		return guest_being_saved(domid, since);
	}
	if (highest > *since)
		*since = highest;
	return r;
}

/*
 * EXPECT in the guest's control/shutdown replaced by WITH, in one xenstore
 * transaction: xl shutdown and xl reboot write their request outside any,
 * the guest reads and clears it inside one, and a plain write of ours
 * between the two would replace the admin's request before the guest read
 * it. "" is also a node that is not there. 1 if replaced, 0 if something
 * else is there, -errno.
 */
static int replace_request(struct xs_handle *xs, uint32_t domid,
			   const char *expect, const char *with)
{
	xs_transaction_t t;
	char path[64];
	unsigned int n;
	char *v;
	int same, e;

	snprintf(path, sizeof(path), "/local/domain/%u/control/shutdown",
		 domid);
	for (;;) {
		t = xs_transaction_start(xs);
		if (t == XBT_NULL)
			return -errno;
		v = xs_read(xs, t, path, &n);
		same = v ? n == strlen(expect) && !memcmp(v, expect, n) :
			   !*expect;
		free(v);
		if (same && !xs_write(xs, t, path, with, strlen(with))) {
			e = errno;
			xs_transaction_end(xs, t, 1);
			return -e;
		}
		if (xs_transaction_end(xs, t, !same))
			return same;
		if (errno != EAGAIN)
			return -errno;
	}
}

void guest_request_repeat(struct xs_handle *xs, uint32_t domid, const char *req)
{
	replace_request(xs, domid, req, req);
}

void guest_request_drop(struct xs_handle *xs, uint32_t domid, const char *req)
{
	replace_request(xs, domid, req, "");
}

static void drain_watches(struct xs_handle *xs)
{
	char **ev;

	while ((ev = xs_check_watch(xs)))
		free(ev);
}

/*
 * libxl's suspend (libxl_domain_suspend_only) blocks for up to a minute on
 * a guest that an admin paused, destroyed or shut down meanwhile, and two
 * minutes of held output and a backup that promotes are the result; this
 * one watches for each. PVH guests take the request on their PV control
 * node, as libxl asks them.
 */
enum guest_state guest_suspend(struct xs_handle *xs, libxl_ctx *lx,
			       uint32_t domid, unsigned int timeout_ms,
			       int *asked, enum xrepl_stop *stop, char *why,
			       size_t len)
{
	struct pollfd pfd = { .fd = xs_fileno(xs), .events = POLLIN };
	double waited = 0, t;
	enum guest_state st;

	drain_watches(xs);
	if (!*asked) {
		/* only where no request waits: an admin's goes first */
		int r = replace_request(xs, domid, "", "suspend");

		if (r < 0) {
			snprintf(
				why, len,
				"cannot ask domain %u to suspend (xenstore): %s",
				domid, strerror(-r));
			return GUEST_RUNS;
		}
		if (!r)
			return GUEST_BUSY;
	}
	*asked = 1;
	for (;;) {
		st = guest_state_of(lx, domid, stop, why, len);
		if (st == GUEST_SUSPENDED || st == GUEST_GONE)
			return st;
		if (st == GUEST_PAUSED) {
			/* taken, it is carried out once the guest runs */
			if (replace_request(xs, domid, "suspend", "") > 0)
				*asked = 0;
			return GUEST_PAUSED;
		}
		if (waited > timeout_ms) {
			replace_request(xs, domid, "suspend", "");
			snprintf(why, len,
				 "domain %u did not suspend within %u ms",
				 domid, timeout_ms);
			return GUEST_RUNS;
		}
		t = xrepl_now_ms();
		if (poll(&pfd, 1, SUSPEND_TICK_MS) > 0)
			drain_watches(xs);
		/* a paused guest's time does not count */
		if (st == GUEST_RUNS)
			waited += xrepl_now_ms() - t;
	}
}

static unsigned int backends(struct xs_handle *xs, const char *kind,
			     uint32_t domid)
{
	char path[64];
	unsigned int n = 0;
	char **dir;

	snprintf(path, sizeof(path), "/local/domain/0/backend/%s/%u", kind,
		 domid);
	dir = xs_directory(xs, XBT_NULL, path, &n);
	free(dir);
	return dir ? n : 0;
}

void guest_shape_of(struct xs_handle *xs, uint32_t domid, struct guest_shape *s)
{
	char path[64];
	unsigned int n;
	char *v;

	s->vifs = backends(xs, "vif", domid);
	/* qdisk and the like too: a disk added on any backend is seen */
	s->disks = backends(xs, "vbd", domid) + backends(xs, "qdisk", domid) +
		   backends(xs, "vbd3", domid);
	snprintf(path, sizeof(path), "/local/domain/%u/memory/target", domid);
	v = xs_read(xs, XBT_NULL, path, &n);
	s->target_kib = v ? strtoull(v, NULL, 10) : 0;
	free(v);
}

int guest_shape_changed(const struct guest_shape *was,
			const struct guest_shape *now, char *why, size_t len)
{
	if (now->vifs != was->vifs)
		snprintf(
			why, len,
			"the guest has %u vif(s), not the %u protection was set up for (xl network-attach/detach): a new vif's output would not be held; protect it again",
			now->vifs, was->vifs);
	else if (now->disks != was->disks)
		snprintf(
			why, len,
			"the guest has %u disk(s), not the %u protection was set up for (xl block-attach/detach): a new disk's writes would not be replicated; protect it again",
			now->disks, was->disks);
	else if (now->target_kib != was->target_kib)
		snprintf(
			why, len,
			"the guest's memory target went from %llu to %llu KiB (xl mem-set), which its backup was not built for; protect it again",
			was->target_kib, now->target_kib);
	else
		return 0;
	return 1;
}

const char *guest_end_state(enum xrepl_stop stop, const char *fault)
{
	switch (stop) {
	case XREPL_STOP_SHUTDOWN:
		return "guest-shutdown";
	case XREPL_STOP_DESTROYED:
		return "guest-destroyed";
	case XREPL_STOP_CRASH:
		return "guest-crashed";
	case XREPL_STOP_REBOOT:
		return "guest-rebooting";
	case XREPL_STOP_MOVED:
		return "guest-saved-or-migrated";
	case XREPL_STOP_FAULT:
		return fault;
	default:
		return "stopped";
	}
}

static libxl_action_on_shutdown shutdown_action(const libxl_domain_config *dc,
						enum xrepl_stop stop)
{
	switch (stop) {
	case XREPL_STOP_SHUTDOWN:
		return dc->on_poweroff;
	case XREPL_STOP_REBOOT:
		return dc->on_reboot;
	case XREPL_STOP_CRASH:
		return dc->on_crash;
	default:
		return LIBXL_ACTION_ON_SHUTDOWN_PRESERVE;
	}
}

static void core_dump(struct xrepl_ctx *ctx, libxl_ctx *lx, uint32_t domid,
		      const char *name)
{
	char file[256];

	snprintf(file, sizeof(file), "/var/lib/xen/dump/%s.%ld.core", name,
		 (long)time(NULL));
	if (libxl_domain_core_dump(lx, domid, file, NULL))
		warn(ctx, "cannot dump the core of %s into %s", name, file);
	else
		info(ctx, "core of %s dumped into %s", name, file);
}

static int restart(struct xrepl_ctx *ctx, libxl_ctx *lx,
		   libxl_domain_config *dc)
{
	uint32_t domid = (uint32_t)INVALID_DOMID;

	if (libxl_domain_create_new(lx, dc, &domid, NULL, NULL) ||
	    libxl_domain_unpause(lx, domid, NULL)) {
		err(ctx, "cannot start %s again (see above)", dc->c_info.name);
		if (domid != (uint32_t)INVALID_DOMID)
			libxl_domain_destroy(lx, domid, NULL);
		return 0;
	}
	info(ctx, "%s started again as domain %u", dc->c_info.name, domid);
	return 1;
}

int guest_shutdown_action(struct xrepl_ctx *ctx, libxl_ctx *lx, uint32_t domid,
			  enum xrepl_stop stop)
{
	libxl_action_on_shutdown a;
	libxl_domain_config dc;
	char old[300];
	int again = 0;

	libxl_domain_config_init(&dc);
	if (libxl_retrieve_domain_configuration(lx, domid, &dc, NULL)) {
		warn(ctx, "domain %u is gone: nothing of its on_%s to do",
		     domid, stop == XREPL_STOP_REBOOT ? "reboot" : "poweroff");
		goto out;
	}
	a = shutdown_action(&dc, stop);
	info(ctx, "%s: %s, as its configuration says", dc.c_info.name,
	     libxl_action_on_shutdown_to_string(a));
	switch (a) {
	case LIBXL_ACTION_ON_SHUTDOWN_COREDUMP_DESTROY:
	case LIBXL_ACTION_ON_SHUTDOWN_COREDUMP_RESTART:
		core_dump(ctx, lx, domid, dc.c_info.name);
		break;
	case LIBXL_ACTION_ON_SHUTDOWN_RESTART_RENAME:
		snprintf(old, sizeof(old), "%s-%u", dc.c_info.name, domid);
		if (libxl_domain_rename(lx, domid, dc.c_info.name, old)) {
			err(ctx, "cannot rename domain %u to %s", domid, old);
			goto out;
		}
		libxl_uuid_generate(&dc.c_info.uuid);
		again = restart(ctx, lx, &dc);
		goto out;
	case LIBXL_ACTION_ON_SHUTDOWN_PRESERVE:
	case LIBXL_ACTION_ON_SHUTDOWN_SOFT_RESET:
		goto out;
	default:
		break;
	}
	libxl_domain_destroy(lx, domid, NULL);
	if (a == LIBXL_ACTION_ON_SHUTDOWN_RESTART ||
	    a == LIBXL_ACTION_ON_SHUTDOWN_COREDUMP_RESTART)
		again = restart(ctx, lx, &dc);
out:
	libxl_domain_config_dispose(&dc);
	return again;
}

XREPL_EXPORT int xrepl_domain_running(struct xrepl_ctx *ctx, const char *name,
				      uint32_t *domid)
{
	xentoollog_logger *xtl = xrepl_xtl_new(ctx);
	enum xrepl_stop stop;
	libxl_ctx *lx;
	char why[128];
	int r = 0;

	if (!xtl)
		return -ENOMEM;
	if (libxl_ctx_alloc(&lx, LIBXL_VERSION, 0, xtl)) {
		err(ctx, "cannot open libxl: is this a Xen control domain?");
		xtl_logger_destroy(xtl);
		return -EIO;
	}
	if (!libxl_name_to_domid(lx, name, domid))
		r = guest_state_of(lx, *domid, &stop, why, sizeof(why)) !=
		    GUEST_GONE;
	libxl_ctx_free(lx);
	xtl_logger_destroy(xtl);
	return r;
}
