// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Which chunks of a served image its replica may lack, so that a replicator
 * that comes back resyncs those instead of the whole image. A chunk is
 * dirty from the change that touches it until the replicator says the
 * epoch holding that change is committed on the backup: the changes since
 * the last MARK are in the open bitmap, each marked but uncommitted epoch
 * keeps its own. A replicator that comes back with the same id gets
 * everything still dirty; one with another id (another replica, or none)
 * gets a full sync and a new id.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "blkrepl-private.h"

/* marked epochs a replicator may leave uncommitted before the oldest two
 * are folded into one (still dirty, just no longer told apart) */
#define PENDING_MAX 8

struct epoch_bits {
	uint64_t epoch;
	uint64_t *bits;
};

struct dirty {
	uint64_t id;
	size_t words;
	uint64_t *open;
	struct epoch_bits pending[PENDING_MAX];
	size_t n;
};

static uint64_t *bits_new(size_t words, int all)
{
	uint64_t *b = malloc(words * sizeof(*b));

	if (b)
		memset(b, all ? 0xff : 0, words * sizeof(*b));
	return b;
}

struct dirty *dirty_new(uint64_t size)
{
	struct dirty *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	/* at least one word, so that an empty image needs no special case */
	d->words = (size_t)(size / (DIRTY_CHUNK * 64) + 1);
	d->open = bits_new(d->words, 1);
	/* 0 is no id: a replicator asking for a full sync */
	if (!d->open || getrandom(&d->id, sizeof(d->id), 0) != sizeof(d->id)) {
		dirty_free(d);
		return NULL;
	}
	d->id |= 1;
	return d;
}

void dirty_free(struct dirty *d)
{
	if (!d)
		return;
	while (d->n)
		free(d->pending[--d->n].bits);
	free(d->open);
	free(d);
}

uint64_t dirty_id(const struct dirty *d)
{
	return d->id;
}

void dirty_set(struct dirty *d, uint64_t off, uint64_t len)
{
	uint64_t c, last;

	if (!len)
		return;
	last = (off + len - 1) / DIRTY_CHUNK;
	for (c = off / DIRTY_CHUNK; c <= last; c++)
		d->open[c / 64] |= 1ull << (c % 64);
}

static void fold(uint64_t *into, const uint64_t *from, size_t words)
{
	size_t i;

	for (i = 0; i < words; i++)
		into[i] |= from[i];
}

int dirty_mark(struct dirty *d, uint64_t epoch)
{
	uint64_t *fresh = bits_new(d->words, 0);

	if (!fresh)
		return -ENOMEM;
	if (d->n == PENDING_MAX) {
		fold(d->pending[1].bits, d->pending[0].bits, d->words);
		free(d->pending[0].bits);
		memmove(d->pending, d->pending + 1,
			--d->n * sizeof(*d->pending));
	}
	d->pending[d->n++] = (struct epoch_bits){ epoch, d->open };
	d->open = fresh;
	return 0;
}

void dirty_committed(struct dirty *d, uint64_t epoch)
{
	size_t k = 0;

	while (k < d->n && d->pending[k].epoch <= epoch)
		free(d->pending[k++].bits);
	memmove(d->pending, d->pending + k, (d->n - k) * sizeof(*d->pending));
	d->n -= k;
}

/*
 * A replicator is back: every pending epoch is dirty again, in the open
 * bitmap, since the new session numbers its epochs afresh. Returns a copy
 * of it (what to resync), or NULL.
 */
uint64_t *dirty_resync(struct dirty *d)
{
	uint64_t *copy = bits_new(d->words, 0);

	if (!copy)
		return NULL;
	while (d->n) {
		d->n--;
		fold(d->open, d->pending[d->n].bits, d->words);
		free(d->pending[d->n].bits);
	}
	memcpy(copy, d->open, d->words * sizeof(*copy));
	return copy;
}

size_t dirty_words(const struct dirty *d)
{
	return d->words;
}

struct dirty *dirty_restore(uint64_t size, uint64_t id, uint64_t *bits)
{
	struct dirty *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->words = (size_t)(size / (DIRTY_CHUNK * 64) + 1);
	d->open = bits;
	d->id = id;
	return d;
}
