// SPDX-License-Identifier: GPL-2.0-or-later
/* xrepl receive's disk replication: one replica per block-xrepl disk. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "blkrepl.h"
#include "receive_disks.h"
#include "subcommands.h"

struct replica {
	char vdev[XREPL_VDEV_MAX + 1];
	char *path;
	struct blkrepl_replica *rp;
};

struct receive_disks {
	struct xrepl_ctx *xctx;
	struct blkrepl_ctx *ctx;
	const char *state_dir;
	const char *spill_dir;
	uint64_t mem_limit;
	struct replica *r;
	size_t n;
};

static void say(struct receive_disks *rd, int priority, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct receive_disks *rd, int priority, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_library(rd->xctx, priority, msg);
}

static int disk(void *data, const char *vdev, const char *path,
		uint64_t *resync_id)
{
	struct receive_disks *rd = data;
	struct replica *grown, *r;

	if (strlen(vdev) > XREPL_VDEV_MAX)
		return -EINVAL;
	grown = realloc(rd->r, (rd->n + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	rd->r = grown;
	r = &rd->r[rd->n];
	strcpy(r->vdev, vdev);
	r->path = strdup(path);
	if (!r->path ||
	    blkrepl_replica_new(rd->ctx, path, rd->state_dir, rd->spill_dir,
				rd->mem_limit, &r->rp) < 0) {
		free(r->path);
		return -ENOMEM;
	}
	rd->n++;
	*resync_id = blkrepl_replica_resync_id(r->rp);
	say(rd, LOG_INFO, "disk %s: replica %s (%s)", vdev, path,
	    *resync_id ? "resync" : "full sync");
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct hashes_out {
	const char *vdev;
	int (*send)(void *arg, const char *vdev, uint64_t first,
		    const uint8_t *hashes, size_t n);
	void *arg;
	uint64_t n;
};

static int send_hashes(void *data, uint64_t first, const uint8_t *hashes,
		       size_t n)
{
	struct hashes_out *o = data;

	o->n += n;
	return o->send(o->arg, o->vdev, first, hashes, n);
}

/* No id to resync from: what the replica holds may still spare a sync. */
static int disk_hashes(void *data, const char *vdev,
		       int (*send)(void *arg, const char *vdev, uint64_t first,
				   const uint8_t *hashes, size_t n),
		       void *arg)
{
	struct receive_disks *rd = data;
	struct hashes_out o = { vdev, send, arg, 0 };
	double t0 = now_s();
	size_t i;
	int r;

	for (i = 0; i < rd->n && strcmp(rd->r[i].vdev, vdev); i++)
		;
	if (i == rd->n)
		return -ENOENT;
	r = blkrepl_replica_hashes(rd->r[i].rp, send_hashes, &o);
	if (r < 0) {
		say(rd, LOG_ERR, "disk %s: cannot hash replica %s: %s", vdev,
		    rd->r[i].path, strerror(-r));
		return r;
	}
	if (r)
		say(rd, LOG_INFO,
		    "disk %s: replica %s hashed for a checksum resync (%llu chunks, %.1f s)",
		    vdev, rd->r[i].path, (unsigned long long)o.n, now_s() - t0);
	return 0;
}

static int disk_data(void *data, const char *vdev, const void *buf, size_t len)
{
	struct receive_disks *rd = data;
	size_t i;

	for (i = 0; i < rd->n; i++)
		if (!strcmp(rd->r[i].vdev, vdev))
			return blkrepl_replica_feed(rd->r[i].rp, buf, len);
	say(rd, LOG_ERR,
	    "the primary sent writes for disk %s, which is not on block-xrepl in the guest's config",
	    vdev);
	return -EPROTO;
}

static int commit(void *data, uint64_t epoch)
{
	struct receive_disks *rd = data;
	size_t i;

	for (i = 0; i < rd->n; i++)
		if (blkrepl_replica_commit(rd->r[i].rp, epoch) < 0)
			return -EIO;
	return 0;
}

static void close_all(struct receive_disks *rd)
{
	while (rd->n) {
		rd->n--;
		blkrepl_replica_free(rd->r[rd->n].rp);
		free(rd->r[rd->n].path);
	}
	free(rd->r);
	rd->r = NULL;
}

static void end(void *data, int failover)
{
	struct receive_disks *rd = data;
	struct blkrepl_journal_stats st;
	struct replica *r;
	size_t i;

	for (i = 0; i < rd->n; i++) {
		r = &rd->r[i];
		if (failover)
			blkrepl_replica_discard(r->rp);
		else
			blkrepl_replica_finish(r->rp);
		if (blkrepl_replica_stats(r->rp, &st) < 0) {
			say(rd, LOG_WARNING,
			    "disk %s: nothing was replicated to %s", r->vdev,
			    r->path);
			continue;
		}
		say(rd, LOG_NOTICE,
		    "disk %s: %s holds epoch %llu (%llu writes applied, %llu not committed and dropped)",
		    r->vdev, r->path, (unsigned long long)st.committed,
		    (unsigned long long)st.applied_writes,
		    (unsigned long long)st.discarded_writes);
	}
	close_all(rd);
}

static void report(void *data, FILE *f)
{
	struct receive_disks *rd = data;
	struct blkrepl_journal_stats st;
	size_t i;

	fputs(", \"disks\": [", f);
	for (i = 0; i < rd->n; i++) {
		memset(&st, 0, sizeof(st));
		blkrepl_replica_stats(rd->r[i].rp, &st);
		fprintf(f,
			"%s{\"vdev\": \"%s\", \"replica\": \"%s\", \"committed\": %llu, "
			"\"held_bytes\": %llu, \"spilled_bytes\": %llu, \"applied_writes\": %llu}",
			i ? ", " : "", rd->r[i].vdev, rd->r[i].path,
			(unsigned long long)st.committed,
			(unsigned long long)st.held_bytes,
			(unsigned long long)st.spilled_bytes,
			(unsigned long long)st.applied_writes);
	}
	fputc(']', f);
}

struct receive_disks *receive_disks_new(struct xrepl_ctx *ctx,
					const char *state_dir,
					const char *spill_dir,
					uint64_t mem_limit,
					struct xrepl_receive_hooks *hooks)
{
	struct receive_disks *rd = calloc(1, sizeof(*rd));

	if (!rd)
		return NULL;
	if (blkrepl_ctx_new(&rd->ctx, log_library, ctx) < 0) {
		free(rd);
		return NULL;
	}
	rd->xctx = ctx;
	rd->state_dir = state_dir;
	rd->spill_dir = spill_dir;
	rd->mem_limit = mem_limit;
	*hooks = (struct xrepl_receive_hooks){
		.disk = disk,
		.disk_hashes = disk_hashes,
		.disk_data = disk_data,
		.commit = commit,
		.end = end,
		.report = report,
		.data = rd,
	};
	return rd;
}

void receive_disks_free(struct receive_disks *rd)
{
	if (!rd)
		return;
	close_all(rd);
	blkrepl_ctx_free(rd->ctx);
	free(rd);
}
