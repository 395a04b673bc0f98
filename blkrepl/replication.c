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

/* The whole image (TODO NULL) or its dirty chunks, in runs of at most
 * SYNC_CHUNK bytes. */
static int sync_image(struct blkrepl_image *img, int fd, const uint64_t *todo)
{
	uint64_t chunks = (img->size + DIRTY_CHUNK - 1) / DIRTY_CHUNK, c, end;
	uint8_t *buf = malloc(SYNC_CHUNK);
	uint64_t off, len, sent = 0;
	int r = 0;

	if (!buf)
		return -ENOMEM;
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
		sent += len;
	}
	free(buf);
	if (!r)
		br_info(img->ctx, "%s %llu of %llu bytes of %s",
			todo ? "resynced" : "synced", (unsigned long long)sent,
			(unsigned long long)img->size, img->path);
	return r;
}

/*
 * Under the lock: a resync if RESYNC_ID is the id of the dirty chunks kept
 * (*todo: which), else a full sync under a new id (*todo NULL).
 */
static int begin(struct blkrepl_image *img, int fd, uint64_t resync_id,
		 uint64_t **todo)
{
	*todo = NULL;
	if (img->dirty && resync_id == dirty_id(img->dirty)) {
		*todo = dirty_resync(img->dirty);
		if (!*todo)
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

static int attach(struct blkrepl_image *img, int fd, uint64_t resync_id)
{
	struct timeval stall = { REPLICATOR_STALL_S, 0 };
	uint64_t *todo;
	int busy, r = 0;

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &stall, sizeof(stall));
	pthread_mutex_lock(&img->lock);
	busy = img->repl_fd >= 0;
	if (!busy)
		r = begin(img, fd, resync_id, &todo);
	pthread_mutex_unlock(&img->lock);
	if (busy) {
		br_err(img->ctx, "%s already has a replicator", img->path);
		return -EBUSY;
	}
	if (r < 0)
		return r;
	r = sync_image(img, fd, todo);
	free(todo);
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
	struct blkrepl_rec cmd;
	const char *why = "";
	int started = 0, r;
	size_t used;

	for (;;) {
		r = read_full(fd, hdr, sizeof(hdr));
		if (r < 0)
			break;
		r = blkrepl_rec_parse(hdr, sizeof(hdr), &cmd, &used, &why);
		if (r == 1 && cmd.type == BLKREPL_CMD_START && !started) {
			r = attach(img, fd, cmd.offset);
			started = !r;
		} else if (r == 1 && cmd.type == BLKREPL_CMD_MARK && started) {
			r = mark(img, fd, cmd.offset);
		} else if (r == 1 && cmd.type == BLKREPL_CMD_COMMITTED &&
			   started) {
			committed(img, cmd.offset);
		} else {
			br_err(img->ctx, "bad replicator command: %s",
			       r < 0 ? why :
				       "START, then MARKs and COMMITTEDs expected");
			r = -EPROTO;
		}
		if (r < 0)
			break;
	}
	pthread_mutex_lock(&img->lock);
	if (img->repl_fd == fd)
		img->repl_fd = -1;
	pthread_mutex_unlock(&img->lock);
	return r == -ECONNRESET ? 0 : r;
}
