// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Chunk checksums for a checksum resync: a replica that holds most of a
 * disk but under no replication the server knows (the old primary's disk
 * after a failover: it may even hold writes past the last checkpoint)
 * sends one SHA-256 per chunk, and the server sends the chunks whose
 * digest differs. SHA-256, not a fast non-cryptographic hash: the guest
 * chooses what is on its disk, and must not be able to make two different
 * chunks look the same.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blkrepl-private.h"

#define HASH_BATCH 4096

int chunk_hash(const void *buf, size_t len, uint8_t out[BLKREPL_HASH_LEN])
{
	return EVP_Digest(buf, len, out, NULL, EVP_sha256(), NULL) ? 0 : -EIO;
}

static uint8_t zero_chunk_hash[BLKREPL_HASH_LEN];
static int zero_chunk_hashed;
static pthread_once_t zero_once = PTHREAD_ONCE_INIT;

/* SHA-256 of LEN zero bytes, for the holes no byte of which is read */
static int zero_hash_of(size_t len, uint8_t out[BLKREPL_HASH_LEN])
{
	void *z = calloc(1, len);
	int r;

	if (!z)
		return -ENOMEM;
	r = chunk_hash(z, len, out);
	free(z);
	return r;
}

static void hash_zero_chunk(void)
{
	zero_chunk_hashed = !zero_hash_of(BLKREPL_HASH_CHUNK, zero_chunk_hash);
}

/* A whole chunk's is worked out once: a sparse disk is mostly holes. */
static int zero_hash(size_t len, uint8_t out[BLKREPL_HASH_LEN])
{
	if (len != BLKREPL_HASH_CHUNK)
		return zero_hash_of(len, out);
	pthread_once(&zero_once, hash_zero_chunk);
	if (!zero_chunk_hashed)
		return -ENOMEM;
	memcpy(out, zero_chunk_hash, BLKREPL_HASH_LEN);
	return 0;
}

/*
 * 1 if the LEN bytes at OFF of a file are a hole (they read as zeroes and
 * need not be read), 0 if they may hold data, and 0 for a block device.
 */
int image_is_hole(struct blkrepl_image *img, uint64_t off, uint64_t len)
{
	off_t data;

	if (img->is_blockdev)
		return 0;
	data = lseek(img->fd, (off_t)off, SEEK_DATA);
	if (data < 0)
		return errno == ENXIO;
	return (uint64_t)data >= off + len;
}

/* Digest of chunk C of IMG (BUF holds BLKREPL_HASH_CHUNK bytes). */
int image_chunk_hash(struct blkrepl_image *img, uint64_t c, uint8_t *buf,
		     uint8_t out[BLKREPL_HASH_LEN])
{
	uint64_t off = c * BLKREPL_HASH_CHUNK;
	uint32_t n = off + BLKREPL_HASH_CHUNK <= img->size ?
			     BLKREPL_HASH_CHUNK :
			     (uint32_t)(img->size - off);
	int r;

	if (image_is_hole(img, off, n)) {
		r = zero_hash(n, out);
		return r < 0 ? r : 1;
	}
	r = image_read(img, buf, n, off);
	return r < 0 ? r : chunk_hash(buf, n, out);
}

int image_hashes(struct blkrepl_image *img, blkrepl_hashes_fn each, void *data)
{
	uint64_t chunks = (img->size + BLKREPL_HASH_CHUNK - 1) /
			  BLKREPL_HASH_CHUNK,
		 c, first = 0;
	uint8_t *h = malloc((size_t)HASH_BATCH * BLKREPL_HASH_LEN);
	uint8_t *buf = malloc(BLKREPL_HASH_CHUNK);
	int r = h && buf ? 0 : -ENOMEM;

	for (c = 0; !r && c < chunks; c++) {
		r = image_chunk_hash(img, c, buf,
				     h + (c - first) * BLKREPL_HASH_LEN);
		if (r == 1)
			r = 0;
		if (r < 0)
			br_err(img->ctx, "cannot read %s at %llu: %s",
			       img->path,
			       (unsigned long long)c * BLKREPL_HASH_CHUNK,
			       strerror(-r));
		else if (c + 1 - first == HASH_BATCH || c + 1 == chunks)
			r = each(data, first, h, (size_t)(c + 1 - first));
		if (c + 1 - first == HASH_BATCH)
			first = c + 1;
	}
	free(buf);
	free(h);
	return r < 0 ? r : 0;
}
