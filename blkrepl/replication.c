// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The primary side of disk replication: every change to the image and its
 * record go out under one lock, so the record stream is the image's history
 * in order, and MARKED(N), written under the same lock, cuts it exactly
 * between the writes that landed before MARK(N) and those after. The same
 * lock keeps the dirty chunks (dirty.c) in step with the records.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "blkrepl-private.h"

#define SYNC_CHUNK (1u << 20)
/* how long the guest's writes wait on a replicator that does not read */
#define REPLICATOR_STALL_S 5

void blkrepl_rec_header(uint8_t hdr[BLKREPL_REC_HDR], uint32_t type,
			uint32_t length, uint64_t offset)
{
	uint32_t t = htole32(type), l = htole32(length);
	uint64_t o = htole64(offset);

	memcpy(hdr, &t, 4);
	memcpy(hdr + 4, &l, 4);
	memcpy(hdr + 8, &o, 8);
}

int blkrepl_rec_parse(const uint8_t *buf, size_t len, struct blkrepl_rec *rec,
		      size_t *used, const char **why)
{
	size_t need = BLKREPL_REC_HDR;

	if (len < BLKREPL_REC_HDR)
		return 0;
	memcpy(&rec->type, buf, 4);
	memcpy(&rec->length, buf + 4, 4);
	memcpy(&rec->offset, buf + 8, 8);
	rec->type = le32toh(rec->type);
	rec->length = le32toh(rec->length);
	rec->offset = le64toh(rec->offset);
	rec->data = NULL;
	switch (rec->type) {
	case BLKREPL_REC_WRITE:
		if (rec->length > BLKREPL_REC_MAX_DATA) {
			*why = "WRITE record longer than 32 MiB";
			return -EINVAL;
		}
		need += rec->length;
		rec->data = buf + BLKREPL_REC_HDR;
		/* fall through */
	case BLKREPL_REC_ZERO:
	case BLKREPL_REC_TRIM:
		if (!rec->length) {
			*why = "record of length 0";
			return -EINVAL;
		}
		break;
	case BLKREPL_CMD_HASHES:
		if (!rec->length || rec->length % BLKREPL_HASH_LEN ||
		    rec->length > BLKREPL_REC_MAX_DATA) {
			*why = "HASHES not a whole number of digests, or over 32 MiB";
			return -EINVAL;
		}
		need += rec->length;
		rec->data = buf + BLKREPL_REC_HDR;
		break;
	case BLKREPL_REC_MARKED:
	case BLKREPL_REC_SIZE:
	case BLKREPL_REC_ID:
	case BLKREPL_CMD_START:
	case BLKREPL_CMD_MARK:
	case BLKREPL_CMD_COMMITTED:
		if (rec->length) {
			*why = "a mark, size, id or command with a length";
			return -EINVAL;
		}
		break;
	default:
		*why = "unknown record type";
		return -EINVAL;
	}
	if (len < need)
		return 0;
	*used = need;
	return 1;
}

/* Under img->lock. A replicator that reads nothing for REPLICATOR_STALL_S
 * is dropped, not waited for forever: the guest's writes must go on. */
static void send_record(struct blkrepl_image *img, uint32_t type,
			const void *data, uint32_t len, uint64_t off)
{
	uint8_t hdr[BLKREPL_REC_HDR];
	int r;

	if (img->repl_fd < 0)
		return;
	blkrepl_rec_header(hdr, type, len, off);
	r = write_full(img->repl_fd, hdr, sizeof(hdr));
	if (!r && type == BLKREPL_REC_WRITE)
		r = write_full(img->repl_fd, data, len);
	if (r < 0) {
		br_err(img->ctx, "replicator of %s lost: %s", img->path,
		       strerror(-r));
		img->repl_fd = -1;
	}
}

int image_change(struct blkrepl_image *img, uint32_t type, const void *buf,
		 uint32_t len, uint64_t off, int may_trim)
{
	int r;

	pthread_mutex_lock(&img->lock);
	if (img->frozen) {
		pthread_mutex_unlock(&img->lock);
		return -EROFS;
	}
	switch (type) {
	case BLKREPL_REC_WRITE:
		r = image_write(img, buf, len, off);
		break;
	case BLKREPL_REC_TRIM:
		r = image_trim(img, len, off);
		break;
	default:
		r = image_zero(img, len, off, may_trim);
	}
	if (!r && img->dirty)
		dirty_set(img->dirty, off, len);
	if (!r)
		send_record(img, type, buf, len, off);
	pthread_mutex_unlock(&img->lock);
	return r;
}

static int all_zero(const uint8_t *buf, uint32_t n)
{
	return !buf[0] && !memcmp(buf, buf + 1, n - 1);
}

/*
 * N bytes at OFF as they are now, under the lock, so that guest writes
 * interleave: a chunk read after a write carries it, a write after a chunk
 * follows it. Zeroes go as ZERO: fresh and sparse images cost next to
 * nothing.
 */
static int sync_range(struct blkrepl_image *img, int fd, uint8_t *buf,
		      uint64_t off, uint32_t n)
{
	int r;

	pthread_mutex_lock(&img->lock);
	r = img->repl_fd == fd ? image_read(img, buf, n, off) : -EPIPE;
	if (!r)
		send_record(img,
			    all_zero(buf, n) ? BLKREPL_REC_ZERO :
					       BLKREPL_REC_WRITE,
			    buf, n, off);
	pthread_mutex_unlock(&img->lock);
	return r;
}

static int is_dirty(const uint64_t *todo, uint64_t chunk)
{
	return todo[chunk / 64] >> (chunk % 64) & 1;
}

/* what a sync sends: everything, the dirty chunks, or what differs */
struct plan {
	uint64_t *todo; /* a resync: the chunks still dirty */
	uint8_t *have; /* a checksum resync: the replica's digests */
	uint64_t n_have;
};

/*
 * Chunk C unless the replica's digest says it holds it, under the lock as
 * sync_range's runs are; *SENT grows by what went.
 */
static int sync_compared(struct blkrepl_image *img, int fd, uint8_t *buf,
			 const struct plan *pl, uint64_t c, uint64_t *sent)
{
	uint64_t off = c * DIRTY_CHUNK;
	uint32_t n = off + DIRTY_CHUNK <= img->size ?
			     DIRTY_CHUNK :
			     (uint32_t)(img->size - off);
	uint8_t h[BLKREPL_HASH_LEN];
	int r;

	pthread_mutex_lock(&img->lock);
	r = img->repl_fd == fd ? image_chunk_hash(img, c, buf, h) : -EPIPE;
	if (r >= 0 &&
	    !(c < pl->n_have &&
	      !memcmp(h, pl->have + c * BLKREPL_HASH_LEN, BLKREPL_HASH_LEN))) {
		send_record(img,
			    r == 1 || all_zero(buf, n) ? BLKREPL_REC_ZERO :
							 BLKREPL_REC_WRITE,
			    buf, n, off);
		*sent += n;
	}
	pthread_mutex_unlock(&img->lock);
	return r < 0 ? r : 0;
}

static int sync_by_checksum(struct blkrepl_image *img, int fd, uint8_t *buf,
			    const struct plan *pl, uint64_t *sent)
{
	uint64_t chunks = (img->size + DIRTY_CHUNK - 1) / DIRTY_CHUNK, c;
	int r = 0;

	for (c = 0; !r && c < chunks; c++)
		r = sync_compared(img, fd, buf, pl, c, sent);
	return r;
}

/* The whole image (no todo) or its dirty chunks, in runs of at most
 * SYNC_CHUNK bytes. */
static int sync_runs(struct blkrepl_image *img, int fd, uint8_t *buf,
		     const uint64_t *todo, uint64_t *sent)
{
	uint64_t chunks = (img->size + DIRTY_CHUNK - 1) / DIRTY_CHUNK, c, end;
	uint64_t off, len;
	int r = 0;

	for (c = 0; !r && c < chunks; c = end) {
		if (todo && !is_dirty(todo, c)) {
			end = c + 1;
			continue;
		}
		for (end = c + 1;
		     end < chunks && end - c < SYNC_CHUNK / DIRTY_CHUNK &&
		     (!todo || is_dirty(todo, end));
		     end++)
			;
		off = c * DIRTY_CHUNK;
		len = end * DIRTY_CHUNK < img->size ? (end - c) * DIRTY_CHUNK :
						      img->size - off;
		r = sync_range(img, fd, buf, off, (uint32_t)len);
		*sent += len;
	}
	return r;
}

static int sync_image(struct blkrepl_image *img, int fd, const struct plan *pl)
{
	uint8_t *buf = malloc(SYNC_CHUNK);
	uint64_t sent = 0;
	int r;

	if (!buf)
		return -ENOMEM;
	if (pl->have)
		r = sync_by_checksum(img, fd, buf, pl, &sent);
	else
		r = sync_runs(img, fd, buf, pl->todo, &sent);
	free(buf);
	if (!r)
		br_info(img->ctx, "%s %llu of %llu bytes of %s",
			pl->todo ? "resynced" :
			pl->have ? "resynced by checksum" :
				   "synced",
			(unsigned long long)sent, (unsigned long long)img->size,
			img->path);
	return r;
}

/*
 * Under the lock: a resync if RESYNC_ID is the id of the dirty chunks kept
 * (pl->todo: which), else a full sync under a new id (which the replica's
 * digests, if it sent them, cut down to what differs).
 */
static int begin(struct blkrepl_image *img, int fd, uint64_t resync_id,
		 struct plan *pl)
{
	if (img->dirty && resync_id == dirty_id(img->dirty)) {
		pl->todo = dirty_resync(img->dirty);
		if (!pl->todo)
			return -ENOMEM;
	} else {
		dirty_free(img->dirty);
		img->dirty = dirty_new(img->size);
		if (!img->dirty)
			return -ENOMEM;
	}
	img->repl_fd = fd;
	/* first, before any change can be recorded */
	send_record(img, BLKREPL_REC_SIZE, NULL, 0, img->size);
	send_record(img, BLKREPL_REC_ID, NULL, 0, dirty_id(img->dirty));
	return 0;
}

static int attach(struct blkrepl_image *img, int fd, uint64_t resync_id,
		  struct plan *pl)
{
	struct timeval stall = { REPLICATOR_STALL_S, 0 };
	int busy, r = 0;

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &stall, sizeof(stall));
	pthread_mutex_lock(&img->lock);
	busy = img->repl_fd >= 0;
	if (!busy)
		r = begin(img, fd, resync_id, pl);
	pthread_mutex_unlock(&img->lock);
	if (busy) {
		br_err(img->ctx, "%s already has a replicator", img->path);
		return -EBUSY;
	}
	if (r < 0)
		return r;
	if (pl->todo) {
		free(pl->have);
		pl->have = NULL;
	}
	return sync_image(img, fd, pl);
}

/*
 * HASHES: the replica's digests, in order from chunk 0; those past the
 * image's last chunk (a larger replica) are read and dropped.
 */
static int take_hashes(struct blkrepl_image *img, int fd,
		       const struct blkrepl_rec *cmd, struct plan *pl)
{
	uint64_t chunks = (img->size + DIRTY_CHUNK - 1) / DIRTY_CHUNK;
	uint64_t n = cmd->length / BLKREPL_HASH_LEN, keep;
	uint8_t *data = malloc(cmd->length);
	int r;

	if (!data)
		return -ENOMEM;
	r = read_full(fd, data, cmd->length);
	if (!r && cmd->offset != pl->n_have) {
		br_err(img->ctx,
		       "bad replicator command: HASHES from chunk %llu, %llu expected",
		       (unsigned long long)cmd->offset,
		       (unsigned long long)pl->n_have);
		r = -EPROTO;
	}
	if (!r && !pl->have) {
		pl->have = malloc(chunks * BLKREPL_HASH_LEN + 1);
		if (!pl->have)
			r = -ENOMEM;
	}
	keep = pl->n_have < chunks ? chunks - pl->n_have : 0;
	keep = n < keep ? n : keep;
	if (!r) {
		memcpy(pl->have + pl->n_have * BLKREPL_HASH_LEN, data,
		       keep * BLKREPL_HASH_LEN);
		pl->n_have += n;
	}
	free(data);
	return r;
}

static int mark(struct blkrepl_image *img, int fd, uint64_t epoch)
{
	int r = 0;

	pthread_mutex_lock(&img->lock);
	if (img->repl_fd != fd)
		r = -EPIPE;
	else
		r = dirty_mark(img->dirty, epoch);
	if (!r)
		send_record(img, BLKREPL_REC_MARKED, NULL, 0, epoch);
	pthread_mutex_unlock(&img->lock);
	return r;
}

static void committed(struct blkrepl_image *img, uint64_t epoch)
{
	pthread_mutex_lock(&img->lock);
	dirty_committed(img->dirty, epoch);
	pthread_mutex_unlock(&img->lock);
}

int blkrepl_replicate(struct blkrepl_image *img, int fd)
{
	uint8_t hdr[BLKREPL_REC_HDR];
	struct plan pl = { 0 };
	struct blkrepl_rec cmd;
	const char *why = "";
	int started = 0, r;
	size_t used;

	for (;;) {
		r = read_full(fd, hdr, sizeof(hdr));
		if (r < 0)
			break;
		r = blkrepl_rec_parse(hdr, sizeof(hdr), &cmd, &used, &why);
		/* HASHES' digests are not in HDR: parse says more is needed */
		if (!r && cmd.type == BLKREPL_CMD_HASHES && !started) {
			r = take_hashes(img, fd, &cmd, &pl);
		} else if (r == 1 && cmd.type == BLKREPL_CMD_START &&
			   !started) {
			r = attach(img, fd, cmd.offset, &pl);
			started = !r;
		} else if (r == 1 && cmd.type == BLKREPL_CMD_MARK && started) {
			r = mark(img, fd, cmd.offset);
		} else if (r == 1 && cmd.type == BLKREPL_CMD_COMMITTED &&
			   started) {
			committed(img, cmd.offset);
		} else {
			br_err(img->ctx, "bad replicator command: %s",
			       r < 0 ? why :
				       "HASHES, START, then MARKs and COMMITTEDs expected");
			r = -EPROTO;
		}
		if (r < 0)
			break;
	}
	pthread_mutex_lock(&img->lock);
	if (img->repl_fd == fd)
		img->repl_fd = -1;
	pthread_mutex_unlock(&img->lock);
	free(pl.todo);
	free(pl.have);
	return r == -ECONNRESET ? 0 : r;
}
