// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The primary side of disk replication: every change to the image and its
 * record go out under one lock, so the record stream is the image's history
 * in order, and MARKED(N), written under the same lock, cuts it exactly
 * between the writes that landed before MARK(N) and those after.
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
	case BLKREPL_CMD_START:
	case BLKREPL_CMD_MARK:
		if (rec->length) {
			*why = "MARK, MARKED, SIZE or START with a length";
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
	if (!r)
		send_record(img, type, buf, len, off);
	pthread_mutex_unlock(&img->lock);
	return r;
}

static int all_zero(const uint8_t *buf, uint32_t n)
{
	return !buf[0] && !memcmp(buf, buf + 1, n - 1);
}

/* The whole image, a chunk at a time so that guest writes interleave: a
 * chunk read after a write carries it, a write after a chunk follows it.
 * Zeroes go as ZERO: fresh and sparse images cost next to nothing. */
static int full_sync(struct blkrepl_image *img, int fd)
{
	uint8_t *buf = malloc(SYNC_CHUNK);
	uint64_t off;
	uint32_t n;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	for (off = 0; !r && off < img->size; off += n) {
		n = img->size - off < SYNC_CHUNK ? (uint32_t)(img->size - off) :
						   SYNC_CHUNK;
		pthread_mutex_lock(&img->lock);
		r = img->repl_fd == fd ? image_read(img, buf, n, off) : -EPIPE;
		if (!r)
			send_record(img,
				    all_zero(buf, n) ? BLKREPL_REC_ZERO :
						       BLKREPL_REC_WRITE,
				    buf, n, off);
		pthread_mutex_unlock(&img->lock);
	}
	free(buf);
	return r;
}

static int attach(struct blkrepl_image *img, int fd)
{
	struct timeval stall = { REPLICATOR_STALL_S, 0 };
	int busy;

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &stall, sizeof(stall));
	pthread_mutex_lock(&img->lock);
	busy = img->repl_fd >= 0;
	if (!busy) {
		img->repl_fd = fd;
		/* first, before any change can be recorded */
		send_record(img, BLKREPL_REC_SIZE, NULL, 0, img->size);
	}
	pthread_mutex_unlock(&img->lock);
	if (busy) {
		br_err(img->ctx, "%s already has a replicator", img->path);
		return -EBUSY;
	}
	return full_sync(img, fd);
}

static int mark(struct blkrepl_image *img, int fd, uint64_t epoch)
{
	int r = 0;

	pthread_mutex_lock(&img->lock);
	if (img->repl_fd == fd)
		send_record(img, BLKREPL_REC_MARKED, NULL, 0, epoch);
	else
		r = -EPIPE;
	pthread_mutex_unlock(&img->lock);
	return r;
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
			r = attach(img, fd);
			started = !r;
		} else if (r == 1 && cmd.type == BLKREPL_CMD_MARK && started) {
			r = mark(img, fd, cmd.offset);
		} else {
			br_err(img->ctx, "bad replicator command: %s",
			       r < 0 ? why : "START then MARKs expected");
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
