// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The backup's per-epoch write journal. Writes of epochs the backup has not
 * committed yet are held here, in memory up to a limit and in a spill file
 * past it, never in the replica: commit(N) applies every held write of
 * epochs up to N in arrival order; discard() (at failover) drops the rest
 * and flushes the replica, so the replica is always exactly the primary's
 * disk at the last committed epoch. Commits are not flushed one by one:
 * the backup acknowledges a checkpoint once it holds it, in memory like
 * the guest's pages, and the promoted guest reads the replica through the
 * same page cache; a backup host that crashes has nothing to fail over.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blkrepl-private.h"

enum op { OP_WRITE, OP_ZERO };

struct entry {
	uint64_t epoch;
	uint64_t offset;
	uint32_t length;
	uint8_t op;
	uint8_t in_memory; /* at data_off in the arena, else in the spill file */
	uint64_t data_off;
};

struct blkrepl_journal {
	struct blkrepl_ctx *ctx;
	struct blkrepl_image *replica;
	struct entry *e;
	size_t n, cap;
	uint64_t committed;
	/* write data in arrival order, reused once it is all applied: no
	 * allocation and no fresh pages per write */
	uint8_t *arena;
	size_t arena_len, arena_cap;
	uint64_t mem_limit;
	int spill_fd;
	uint64_t spill_end;
	struct blkrepl_journal_stats st;
};

int blkrepl_journal_new(struct blkrepl_image *replica, const char *spill_dir,
			uint64_t mem_limit, struct blkrepl_journal **out)
{
	struct blkrepl_journal *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->ctx = replica->ctx;
	j->replica = replica;
	j->mem_limit = mem_limit;
	j->spill_fd = open(spill_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (j->spill_fd < 0) {
		br_err(j->ctx, "cannot make a spill file in %s: %s", spill_dir,
		       strerror(errno));
		free(j);
		return -errno;
	}
	*out = j;
	return 0;
}

/* Forgets the COUNT oldest entries (applied or discarded). */
static void drop_first(struct blkrepl_journal *j, size_t count)
{
	if (!count)
		return;
	memmove(j->e, j->e + count, (j->n - count) * sizeof(*j->e));
	j->n -= count;
	if (!j->n)
		j->arena_len = 0;
	if (!j->n && j->spill_end) {
		j->spill_end = 0;
		if (ftruncate(j->spill_fd, 0) < 0)
			br_err(j->ctx, "cannot empty the spill file: %s",
			       strerror(errno));
	}
}

void blkrepl_journal_free(struct blkrepl_journal *j)
{
	if (!j)
		return;
	drop_first(j, j->n);
	free(j->e);
	free(j->arena);
	close(j->spill_fd);
	free(j);
}

static int arena_fits(struct blkrepl_journal *j, uint32_t length)
{
	return j->arena_len + length <= j->mem_limit &&
	       !buffer_reserve(&j->arena, &j->arena_cap, j->arena_len + length,
			       1u << 20);
}

static int keep_data(struct blkrepl_journal *j, struct entry *e,
		     const void *data)
{
	ssize_t n;

	if (arena_fits(j, e->length)) {
		memcpy(j->arena + j->arena_len, data, e->length);
		e->in_memory = 1;
		e->data_off = j->arena_len;
		j->arena_len += e->length;
		return 0;
	}
	n = pwrite(j->spill_fd, data, e->length, (off_t)j->spill_end);
	if (n != (ssize_t)e->length) {
		br_err(j->ctx, "cannot spill %u bytes: %s", e->length,
		       n < 0 ? strerror(errno) : "short write");
		return -EIO;
	}
	e->data_off = j->spill_end;
	j->spill_end += e->length;
	j->st.spilled_bytes += e->length;
	return 0;
}

static int add(struct blkrepl_journal *j, uint8_t op, uint64_t epoch,
	       uint64_t offset, const void *data, uint32_t length)
{
	struct entry *e;
	int r;

	if (epoch <= j->committed) {
		br_err(j->ctx,
		       "disk write for epoch %llu, but epoch %llu is committed",
		       (unsigned long long)epoch,
		       (unsigned long long)j->committed);
		return -EINVAL;
	}
	if (!length || offset > j->replica->size ||
	    length > j->replica->size - offset) {
		br_err(j->ctx,
		       "disk write of %u bytes at %llu is outside the %llu-byte replica",
		       length, (unsigned long long)offset,
		       (unsigned long long)j->replica->size);
		return -EINVAL;
	}
	if (j->n == j->cap) {
		size_t cap = j->cap ? 2 * j->cap : 64;
		struct entry *p = realloc(j->e, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		j->e = p;
		j->cap = cap;
	}
	e = &j->e[j->n];
	*e = (struct entry){
		.epoch = epoch, .offset = offset, .length = length, .op = op
	};
	if (op == OP_WRITE) {
		r = keep_data(j, e, data);
		if (r < 0)
			return r;
	}
	j->n++;
	j->st.held_writes++;
	return 0;
}

int blkrepl_journal_write(struct blkrepl_journal *j, uint64_t epoch,
			  uint64_t offset, const void *data, uint32_t length)
{
	return add(j, OP_WRITE, epoch, offset, data, length);
}

int blkrepl_journal_record(struct blkrepl_journal *j, uint64_t epoch,
			   const struct blkrepl_rec *rec)
{
	switch (rec->type) {
	case BLKREPL_REC_WRITE:
		return add(j, OP_WRITE, epoch, rec->offset, rec->data,
			   rec->length);
	case BLKREPL_REC_ZERO:
	case BLKREPL_REC_TRIM:
		return add(j, OP_ZERO, epoch, rec->offset, NULL, rec->length);
	}
	br_err(j->ctx, "record type %u is not a change to the disk", rec->type);
	return -EINVAL;
}

int blkrepl_journal_zero(struct blkrepl_journal *j, uint64_t epoch,
			 uint64_t offset, uint32_t length)
{
	return add(j, OP_ZERO, epoch, offset, NULL, length);
}

static int apply(struct blkrepl_journal *j, const struct entry *e,
		 uint8_t **buf, uint32_t *cap)
{
	uint8_t *p;

	/*
	 * Zeroes and trims alike: holes where the replica allows them. A hole
	 * reads as the zeroes the primary has (and a trimmed range must read
	 * back as zeroes on every replica); written zeroes would cost the
	 * whole range, on tmpfs (no ZERO_RANGE) a full sync's worth.
	 */
	if (e->op != OP_WRITE)
		return image_zero(j->replica, e->length, e->offset, 1);
	if (e->in_memory)
		return image_write(j->replica, j->arena + e->data_off,
				   e->length, e->offset);
	if (e->length > *cap) {
		p = realloc(*buf, e->length);
		if (!p)
			return -ENOMEM;
		*buf = p;
		*cap = e->length;
	}
	if (pread(j->spill_fd, *buf, e->length, (off_t)e->data_off) !=
	    (ssize_t)e->length)
		return -EIO;
	return image_write(j->replica, *buf, e->length, e->offset);
}

int blkrepl_journal_commit(struct blkrepl_journal *j, uint64_t epoch)
{
	uint8_t *buf = NULL;
	uint32_t cap = 0;
	size_t i;
	int r = 0;

	for (i = 0; !r && i < j->n && j->e[i].epoch <= epoch; i++)
		r = apply(j, &j->e[i], &buf, &cap);
	free(buf);
	if (r < 0) {
		br_err(j->ctx, "cannot commit epoch %llu to the replica: %s",
		       (unsigned long long)epoch, strerror(-r));
		return r;
	}
	j->st.applied_writes += i;
	drop_first(j, i);
	if (epoch > j->committed)
		j->committed = epoch;
	return 0;
}

void blkrepl_journal_discard(struct blkrepl_journal *j)
{
	int r;

	j->st.discarded_writes += j->n;
	drop_first(j, j->n);
	r = image_flush(j->replica);
	if (r < 0)
		br_err(j->ctx, "cannot flush the replica %s: %s",
		       j->replica->path, strerror(-r));
}

void blkrepl_journal_stats(const struct blkrepl_journal *j,
			   struct blkrepl_journal_stats *st)
{
	*st = j->st;
	st->held_bytes = j->arena_len;
	st->committed = j->committed;
}
