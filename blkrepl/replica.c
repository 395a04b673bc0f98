// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The backup's end of a disk's replication: the records a primary's
 * replicator took, as they arrive in frames, into a journal over the
 * replica. Every record is checked before it is kept, and nothing reaches
 * the replica before its epoch is committed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blkrepl-private.h"

struct blkrepl_replica {
	struct blkrepl_ctx *ctx;
	char *path;
	char *state; /* the state file, or NULL */
	uint64_t resync_id; /* what the state file says, or 0 */
	uint64_t id; /* the replication's, from its ID record */
	int changed; /* changes came: the state file is gone */
	int broken; /* a bad stream or a failed commit: no state file again */
	char *spill_dir;
	uint64_t mem_limit;
	struct blkrepl_image *img;
	struct blkrepl_journal *j;
	uint8_t *buf; /* a record not wholly arrived */
	size_t len, cap;
	uint64_t marked;
};

static void read_state(struct blkrepl_replica *rp)
{
	unsigned long long id, epoch;
	FILE *f = fopen(rp->state, "re");

	if (!f)
		return;
	if (fscanf(f, "xrepl-replica id=%llx epoch=%llu", &id, &epoch) == 2)
		rp->resync_id = id;
	fclose(f);
}

int blkrepl_replica_new(struct blkrepl_ctx *ctx, const char *path,
			const char *state_dir, const char *spill_dir,
			uint64_t mem_limit, struct blkrepl_replica **out)
{
	struct blkrepl_replica *rp = calloc(1, sizeof(*rp));

	if (!rp)
		return -ENOMEM;
	rp->ctx = ctx;
	rp->mem_limit = mem_limit;
	rp->path = strdup(path);
	rp->spill_dir = strdup(spill_dir);
	if (state_dir)
		rp->state = state_path(state_dir, path, ".state");
	if (!rp->path || !rp->spill_dir || (state_dir && !rp->state)) {
		blkrepl_replica_free(rp);
		return -ENOMEM;
	}
	if (rp->state)
		read_state(rp);
	*out = rp;
	return 0;
}

void blkrepl_replica_free(struct blkrepl_replica *rp)
{
	if (!rp)
		return;
	blkrepl_journal_free(rp->j);
	blkrepl_image_close(rp->img);
	free(rp->buf);
	free(rp->path);
	free(rp->state);
	free(rp->spill_dir);
	free(rp);
}

uint64_t blkrepl_replica_resync_id(const struct blkrepl_replica *rp)
{
	return rp->resync_id;
}

int blkrepl_replica_hashes(struct blkrepl_replica *rp, blkrepl_hashes_fn each,
			   void *data)
{
	struct blkrepl_image *img;
	struct stat st;
	int r;

	if (stat(rp->path, &st) < 0 && errno == ENOENT)
		return 0;
	r = blkrepl_image_open(rp->ctx, rp->path, 1, &img);
	if (r < 0)
		return r;
	r = img->size ? image_hashes(img, each, data) : 0;
	if (!r && img->size)
		r = 1;
	blkrepl_image_close(img);
	return r;
}

/* A sparse file of the primary's size where there is nothing yet. */
static int create_file(struct blkrepl_replica *rp, uint64_t size)
{
	int fd = open(rp->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int r = 0;

	if (fd < 0)
		return errno == EEXIST ? 0 : -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		r = -errno;
	close(fd);
	if (!r)
		br_info(rp->ctx, "created replica %s (%llu bytes)", rp->path,
			(unsigned long long)size);
	return r;
}

static int open_replica(struct blkrepl_replica *rp, uint64_t size)
{
	int r;

	if (rp->img) {
		br_err(rp->ctx, "replication stream for %s: a second SIZE",
		       rp->path);
		return -EPROTO;
	}
	r = create_file(rp, size);
	if (r < 0) {
		br_err(rp->ctx, "cannot create replica %s: %s", rp->path,
		       strerror(-r));
		return r;
	}
	r = blkrepl_image_open(rp->ctx, rp->path, 0, &rp->img);
	if (r < 0)
		return r;
	if (rp->img->is_blockdev ? rp->img->size < size :
				   rp->img->size != size) {
		br_err(rp->ctx,
		       "replica %s has %llu bytes, the primary's disk %llu",
		       rp->path, (unsigned long long)rp->img->size,
		       (unsigned long long)size);
		blkrepl_image_close(rp->img);
		rp->img = NULL;
		return -EINVAL;
	}
	return blkrepl_journal_new(rp->img, rp->spill_dir, rp->mem_limit,
				   &rp->j);
}

/*
 * The replica is about to change: what the state file said stops being
 * true, and must stay untrue after a crash of this host (the directory is
 * synced), or a resync would build on a half-written replica.
 */
static int forget_state(struct blkrepl_replica *rp)
{
	char *slash;
	int dir, r;

	if (!rp->state)
		return 0;
	if (unlink(rp->state) < 0) {
		if (errno == ENOENT)
			return 0;
		br_err(rp->ctx, "cannot remove %s: %s", rp->state,
		       strerror(errno));
		return -EIO;
	}
	slash = strrchr(rp->state, '/');
	*slash = '\0';
	dir = open(rp->state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = dir < 0 || fsync(dir) < 0 ? -errno : 0;
	if (r < 0)
		br_err(rp->ctx, "cannot sync %s: %s", rp->state, strerror(-r));
	*slash = '/';
	if (dir >= 0)
		close(dir);
	return r;
}

static int stream_error(struct blkrepl_replica *rp, const char *why)
{
	br_err(rp->ctx, "replication stream for %s: %s", rp->path, why);
	return -EPROTO;
}

static int take_record(struct blkrepl_replica *rp,
		       const struct blkrepl_rec *rec)
{
	switch (rec->type) {
	case BLKREPL_REC_SIZE:
		return open_replica(rp, rec->offset);
	case BLKREPL_REC_ID:
		if (!rp->j || rp->id)
			return stream_error(rp, "ID out of place");
		rp->id = rec->offset;
		return 0;
	case BLKREPL_REC_MARKED:
		if (!rp->j)
			return stream_error(rp, "MARKED before SIZE");
		if (rec->offset <= rp->marked)
			return stream_error(rp, "MARKED epochs go backwards");
		rp->marked = rec->offset;
		return 0;
	case BLKREPL_REC_WRITE:
	case BLKREPL_REC_ZERO:
	case BLKREPL_REC_TRIM:
		if (!rp->j)
			return stream_error(rp, "a change before SIZE");
		if (!rp->changed && forget_state(rp) < 0)
			return -EIO;
		rp->changed = 1;
		return blkrepl_journal_record(rp->j, rp->marked + 1, rec) < 0 ?
			       -EPROTO :
			       0;
	}
	return stream_error(rp, "a command where records belong");
}

/* Whole records from P (N bytes); *used how many bytes they took. */
static int take_records(struct blkrepl_replica *rp, const uint8_t *p, size_t n,
			size_t *used)
{
	struct blkrepl_rec rec;
	const char *why;
	size_t one;
	int r;

	*used = 0;
	while ((r = blkrepl_rec_parse(p + *used, n - *used, &rec, &one,
				      &why)) == 1) {
		r = take_record(rp, &rec);
		if (r < 0)
			return r;
		*used += one;
	}
	return r < 0 ? stream_error(rp, why) : 0;
}

static int keep_rest(struct blkrepl_replica *rp, const uint8_t *p, size_t n)
{
	if (buffer_reserve(&rp->buf, &rp->cap, rp->len + n, 65536))
		return -ENOMEM;
	memcpy(rp->buf + rp->len, p, n);
	rp->len += n;
	return 0;
}

static int feed(struct blkrepl_replica *rp, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t used;
	int r;

	if (rp->len) {
		r = keep_rest(rp, p, len);
		if (r < 0)
			return r;
		r = take_records(rp, rp->buf, rp->len, &used);
		if (r < 0)
			return r;
		memmove(rp->buf, rp->buf + used, rp->len - used);
		rp->len -= used;
		return 0;
	}
	/* most frames end on a record boundary: no copy */
	r = take_records(rp, p, len, &used);
	if (r < 0)
		return r;
	return keep_rest(rp, p + used, len - used);
}

int blkrepl_replica_feed(struct blkrepl_replica *rp, const void *buf,
			 size_t len)
{
	int r = feed(rp, buf, len);

	rp->broken |= r < 0;
	return r;
}

int blkrepl_replica_commit(struct blkrepl_replica *rp, uint64_t epoch)
{
	int r;

	if (rp->marked < epoch) {
		br_err(rp->ctx,
		       "checkpoint %llu is complete but disk %s is only marked up to %llu",
		       (unsigned long long)epoch, rp->path,
		       (unsigned long long)rp->marked);
		return -EPROTO;
	}
	r = blkrepl_journal_commit(rp->j, epoch);
	rp->broken |= r < 0;
	return r;
}

void blkrepl_replica_discard(struct blkrepl_replica *rp)
{
	if (rp->j)
		blkrepl_journal_discard(rp->j);
	rp->len = 0;
	forget_state(rp);
}

static int write_state(struct blkrepl_replica *rp, uint64_t epoch)
{
	char tmp[4096];
	FILE *f;
	int r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", rp->state);
	f = fopen(tmp, "we");
	if (!f)
		r = -errno;
	if (f) {
		fprintf(f, "xrepl-replica id=%016llx epoch=%llu\n",
			(unsigned long long)rp->id, (unsigned long long)epoch);
		if (fflush(f) || fsync(fileno(f)))
			r = -errno;
		fclose(f);
	}
	if (!r && rename(tmp, rp->state) < 0)
		r = -errno;
	if (r < 0)
		br_err(rp->ctx, "cannot write %s: %s", rp->state, strerror(-r));
	return r;
}

int blkrepl_replica_finish(struct blkrepl_replica *rp)
{
	struct blkrepl_journal_stats st;
	int r;

	if (!rp->changed || rp->broken || !rp->state || !rp->id)
		return 0;
	blkrepl_journal_stats(rp->j, &st);
	/* nothing committed: the replica is what it was, its state gone */
	if (!st.committed)
		return 0;
	r = image_flush(rp->img);
	if (r < 0) {
		br_err(rp->ctx, "cannot flush %s: %s", rp->path, strerror(-r));
		return r;
	}
	return write_state(rp, st.committed);
}

int blkrepl_replica_stats(const struct blkrepl_replica *rp,
			  struct blkrepl_journal_stats *st)
{
	if (!rp->j)
		return -ENOENT;
	blkrepl_journal_stats(rp->j, st);
	return 0;
}
