/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef BLKREPL_PRIVATE_H
#define BLKREPL_PRIVATE_H

#include <pthread.h>
#include <syslog.h>

#include "blkrepl.h"

struct blkrepl_ctx {
	blkrepl_log_fn log;
	void *log_data;
};

struct dirty;

struct blkrepl_image {
	struct blkrepl_ctx *ctx;
	char *path;
	int fd;
	int readonly;
	int is_blockdev;
	uint64_t size;
	/* writes and their records land in one order */
	pthread_mutex_t lock;
	int repl_fd; /* the replicator's socket, or -1 */
	int frozen; /* its dirty chunks are saved: it changes no more */
	struct dirty *dirty; /* since the first replicator */
};

__attribute__((format(printf, 3, 4))) void
br_log(struct blkrepl_ctx *ctx, int priority, const char *fmt, ...);
#define br_err(ctx, ...) br_log(ctx, LOG_ERR, __VA_ARGS__)
#define br_info(ctx, ...) br_log(ctx, LOG_INFO, __VA_ARGS__)

/* image.c: each returns 0 or a negative errno */
int image_read(struct blkrepl_image *img, void *buf, uint32_t len,
	       uint64_t off);
int image_write(struct blkrepl_image *img, const void *buf, uint32_t len,
		uint64_t off);
int image_flush(struct blkrepl_image *img);
int image_trim(struct blkrepl_image *img, uint32_t len, uint64_t off);
int image_zero(struct blkrepl_image *img, uint32_t len, uint64_t off,
	       int may_trim);

/* replication.c: a write, zero or trim (BLKREPL_REC_*) and its record, in
 * one order; MAY_TRIM lets zeroes be holes */
int image_change(struct blkrepl_image *img, uint32_t type, const void *buf,
		 uint32_t len, uint64_t off, int may_trim);

/* dirty.c: chunks a replica may lack; all under the image's lock */
/* one chunk for the bitmap and the digests: either resync walks the same */
#define DIRTY_CHUNK BLKREPL_HASH_CHUNK
struct dirty *dirty_new(uint64_t size); /* everything dirty, a new id */
void dirty_free(struct dirty *d);
uint64_t dirty_id(const struct dirty *d);
void dirty_set(struct dirty *d, uint64_t off, uint64_t len);
int dirty_mark(struct dirty *d, uint64_t epoch);
void dirty_committed(struct dirty *d, uint64_t epoch);
uint64_t *dirty_resync(struct dirty *d);
size_t dirty_words(const struct dirty *d);
/* BITS (dirty_words() of them for SIZE) become its open bitmap */
struct dirty *dirty_restore(uint64_t size, uint64_t id, uint64_t *bits);

/* state_file.c: DIR/<PATH, %-escaped><EXT> */
char *state_path(const char *dir, const char *path, const char *ext);

/* checksum.c: chunk digests for a checksum resync */
int chunk_hash(const void *buf, size_t len, uint8_t out[BLKREPL_HASH_LEN]);
int image_is_hole(struct blkrepl_image *img, uint64_t off, uint64_t len);
/* chunk C's digest, and 1 if it is a hole (BUF, which holds a chunk, is
 * not read into), 0 if BUF holds its bytes */
int image_chunk_hash(struct blkrepl_image *img, uint64_t c, uint8_t *buf,
		     uint8_t out[BLKREPL_HASH_LEN]);
int image_hashes(struct blkrepl_image *img, blkrepl_hashes_fn each, void *data);

/* buffer.c: *BUF grown (doubling from MIN) to hold NEED bytes, or -ENOMEM */
int buffer_reserve(uint8_t **buf, size_t *cap, size_t need, size_t min);

/* fd_io.c: whole buffers or an error; 0 bytes read at once is -ECONNRESET */
int read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);

#endif
