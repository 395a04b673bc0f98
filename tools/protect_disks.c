// SPDX-License-Identifier: GPL-2.0-or-later
/* xrepl protect's disk replication: one replicator per block-xrepl disk. */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "blkrepl.h"
#include "protect_disks.h"
#include "subcommands.h"

struct disk {
	char vdev[XREPL_VDEV_MAX + 1];
	char control[256];
	struct blkrepl_replicator *rep; /* once the backup has a replica */
	uint8_t *hashes; /* the replica's digests, until the replicator starts */
	uint64_t n_hashes;
};

_Static_assert(XREPL_DISK_HASH_LEN == BLKREPL_HASH_LEN,
	       "the wire carries blkrepl's digests");

struct protect_disks {
	struct xrepl_ctx *xctx;
	struct blkrepl_ctx *ctx;
	unsigned int timeout_ms;
	int blackhole;
	struct disk *d;
	size_t n;
};

static void remove_all(struct protect_disks *pd)
{
	while (pd->n) {
		pd->n--;
		blkrepl_replicator_free(pd->d[pd->n].rep);
		free(pd->d[pd->n].hashes);
	}
	free(pd->d);
	pd->d = NULL;
}

/* block-xrepl's files for the vbd whose backend is vbd-D-N in sysfs */
static void disk_file(char *buf, size_t len, const char *sysfs_vbd,
		      const char *ext)
{
	unsigned int domid, devid;

	sscanf(strrchr(sysfs_vbd, '/') + 1, "vbd-%u-%u", &domid, &devid);
	snprintf(buf, len, "%s/backend-vbd-%u-%u.%s", XREPL_DISK_DIR, domid,
		 devid, ext);
}

static int read_vdev(const char *path, char vdev[XREPL_VDEV_MAX + 1])
{
	FILE *f = fopen(path, "re");
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%32s", vdev) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

static int add_disk(struct protect_disks *pd, const char *sysfs_vbd)
{
	struct disk *d = &pd->d[pd->n];
	char path[256];
	int r;

	disk_file(path, sizeof(path), sysfs_vbd, "vdev");
	if (access(path, F_OK) < 0) {
		fprintf(stderr,
			"%s: disk %s is not on block-xrepl (no %s): its writes cannot be replicated; put it on script=block-xrepl, or give up disk consistency with -F -d\n",
			prog_name, strrchr(sysfs_vbd, '/') + 1, path);
		return -ENOENT;
	}
	r = read_vdev(path, d->vdev);
	if (r < 0) {
		fprintf(stderr, "%s: cannot read %s: %s\n", prog_name, path,
			strerror(-r));
		return r;
	}
	disk_file(d->control, sizeof(d->control), sysfs_vbd, "ctl");
	pd->n++;
	return 0;
}

/* From here on the disk-server streams the disk's changes. */
static int start_replicator(struct protect_disks *pd, struct disk *d,
			    uint64_t resync_id)
{
	char msg[128];
	int r;

	if (d->rep) {
		fprintf(stderr, "%s: the backup named disk %s twice\n",
			prog_name, d->vdev);
		return -EPROTO;
	}
	r = blkrepl_replicator_new(pd->ctx, d->control, resync_id, d->hashes,
				   d->n_hashes, &d->rep);
	if (r < 0)
		return r;
	if (resync_id)
		snprintf(
			msg, sizeof(msg),
			"replicating disk %s (the backup offers its replica for a resync)",
			d->vdev);
	else if (d->n_hashes)
		snprintf(
			msg, sizeof(msg),
			"replicating disk %s (checksum resync: the backup sent the digests of %llu chunks)",
			d->vdev, (unsigned long long)d->n_hashes);
	else
		snprintf(msg, sizeof(msg), "replicating disk %s (full sync)",
			 d->vdev);
	log_library(pd->xctx, LOG_INFO, msg);
	free(d->hashes);
	d->hashes = NULL;
	return 0;
}

static struct disk *find_disk(struct protect_disks *pd, const char *vdev)
{
	size_t i;

	for (i = 0; i < pd->n; i++)
		if (!strcmp(pd->d[i].vdev, vdev))
			return &pd->d[i];
	fprintf(stderr,
		"%s: the backup replicates disk %s, which the domain does not have\n",
		prog_name, vdev);
	return NULL;
}

static int backup_disk(void *data, const char *vdev, uint64_t resync_id)
{
	struct protect_disks *pd = data;
	struct disk *d = find_disk(pd, vdev);

	return d ? start_replicator(pd, d, resync_id) : -ENOENT;
}

/* A checksum resync's digests, which come in order, before DISK_STATE. */
static int backup_disk_hashes(void *data, const char *vdev, uint64_t first,
			      const uint8_t *hashes, size_t n)
{
	struct protect_disks *pd = data;
	struct disk *d = find_disk(pd, vdev);
	uint8_t *grown;

	if (!d)
		return -ENOENT;
	if (d->rep || first != d->n_hashes) {
		fprintf(stderr,
			"%s: the backup sent the digests of disk %s out of order (from chunk %llu)\n",
			prog_name, vdev, (unsigned long long)first);
		return -EPROTO;
	}
	grown = realloc(d->hashes, (d->n_hashes + n) * BLKREPL_HASH_LEN);
	if (!grown)
		return -ENOMEM;
	memcpy(grown + d->n_hashes * BLKREPL_HASH_LEN, hashes,
	       n * BLKREPL_HASH_LEN);
	d->hashes = grown;
	d->n_hashes += n;
	return 0;
}

static int start(void *data, uint32_t domid)
{
	struct protect_disks *pd = data;
	char pattern[128];
	glob_t g;
	size_t i;
	int r = 0;

	snprintf(pattern, sizeof(pattern),
		 "/sys/bus/xen-backend/devices/vbd-%u-*", domid);
	if (glob(pattern, 0, NULL, &g)) {
		log_library(pd->xctx, LOG_INFO,
			    "the domain has no disk: nothing to replicate");
		return 0;
	}
	pd->d = calloc(g.gl_pathc, sizeof(*pd->d));
	if (!pd->d)
		r = -ENOMEM;
	for (i = 0; !r && i < g.gl_pathc; i++)
		r = add_disk(pd, g.gl_pathv[i]);
	globfree(&g);
	/* no backup to ask: its data goes nowhere anyway */
	for (i = 0; !r && pd->blackhole && i < pd->n; i++)
		r = start_replicator(pd, &pd->d[i], 0);
	if (r < 0)
		remove_all(pd);
	return r;
}

static int suspended(void *data, uint64_t epoch)
{
	struct protect_disks *pd = data;
	size_t i;

	for (i = 0; i < pd->n; i++) {
		if (!pd->d[i].rep) {
			fprintf(stderr,
				"%s: the backup has no replica for disk %s: is it on script=block-xrepl in the config the backup got?\n",
				prog_name, pd->d[i].vdev);
			return -ENOENT;
		}
		if (blkrepl_replicator_mark(pd->d[i].rep, epoch) < 0)
			return -EIO;
	}
	return 0;
}

/* The backup holds EPOCH: its servers may forget those changes. */
static int commit(void *data, uint64_t epoch)
{
	struct protect_disks *pd = data;
	size_t i;

	for (i = 0; i < pd->n; i++)
		if (blkrepl_replicator_committed(pd->d[i].rep, epoch) < 0)
			return -EIO;
	return 0;
}

/*
 * Epoch N's records of each disk: up to MARKED(N) (WAIT_MS for it), or
 * (WAIT_MS 0) those that have come so far; in parts when many wait, the
 * first sync of a large disk, say.
 */
static int send_disks(struct protect_disks *pd, uint64_t epoch, int wait_ms,
		      struct xrepl_wire *w)
{
	const uint8_t *buf;
	size_t i, len;
	int r = 0;

	for (i = 0; r >= 0 && i < pd->n; i++) {
		if (!pd->d[i].rep)
			continue;
		do {
			r = blkrepl_replicator_take(pd->d[i].rep, epoch,
						    wait_ms, &buf, &len);
			if (r >= 0 && w && len &&
			    xrepl_wire_send_disk(w, pd->d[i].vdev, buf, len) <
				    0)
				r = -EPIPE;
		} while (!r && wait_ms);
	}
	return r < 0 ? r : 0;
}

static int send_epoch(void *data, uint64_t epoch, struct xrepl_wire *w)
{
	struct protect_disks *pd = data;

	return send_disks(pd, epoch, (int)pd->timeout_ms, w);
}

static int send_early(void *data, uint64_t epoch, struct xrepl_wire *w)
{
	struct protect_disks *pd = data;

	return send_disks(pd, epoch, 0, w);
}

static void abandon(void *data, int release)
{
	remove_all(data);
}

static void report(void *data, FILE *f)
{
	struct protect_disks *pd = data;
	struct blkrepl_replicator *rep;
	size_t i;

	fputs(", \"disks\": [", f);
	for (i = 0; i < pd->n; i++) {
		rep = pd->d[i].rep;
		fprintf(f,
			"%s{\"vdev\": \"%s\", \"sent_bytes\": %llu, \"held_max_bytes\": %llu}",
			i ? ", " : "", pd->d[i].vdev,
			rep ? (unsigned long long)blkrepl_replicator_bytes(
				      rep) :
			      0ull,
			rep ? (unsigned long long)blkrepl_replicator_held_max(
				      rep) :
			      0ull);
	}
	fputc(']', f);
}

struct protect_disks *protect_disks_new(struct xrepl_ctx *ctx,
					unsigned int timeout_ms, int blackhole,
					struct xrepl_epoch_hooks *hooks)
{
	struct protect_disks *pd = calloc(1, sizeof(*pd));

	if (!pd)
		return NULL;
	if (blkrepl_ctx_new(&pd->ctx, log_library, ctx) < 0) {
		free(pd);
		return NULL;
	}
	pd->xctx = ctx;
	pd->timeout_ms = timeout_ms;
	pd->blackhole = blackhole;
	*hooks = (struct xrepl_epoch_hooks){
		.start = start,
		.backup_disk = backup_disk,
		.backup_disk_hashes = backup_disk_hashes,
		.suspended = suspended,
		.send = send_epoch,
		.send_early = send_early,
		.commit = commit,
		.abandon = abandon,
		.report = report,
		.data = pd,
	};
	return pd;
}

void protect_disks_free(struct protect_disks *pd)
{
	if (!pd)
		return;
	remove_all(pd);
	blkrepl_ctx_free(pd->ctx);
	free(pd);
}
