/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * blkrepl: the block side of xrepl. Serves a guest's raw image or block
 * device over NBD (fixed newstyle; READ, WRITE, FLUSH, FUA, TRIM,
 * WRITE_ZEROES, DISC) to the kernel's nbd client under blkback.
 */
#ifndef BLKREPL_H
#define BLKREPL_H

#include <stddef.h>
#include <stdint.h>

struct blkrepl_ctx;
struct blkrepl_image;

/* priority is a syslog priority (LOG_ERR, LOG_INFO, ...) */
typedef void (*blkrepl_log_fn)(void *data, int priority, const char *msg);

int blkrepl_ctx_new(struct blkrepl_ctx **ctx, blkrepl_log_fn log, void *data);
void blkrepl_ctx_free(struct blkrepl_ctx *ctx);

/* A raw image file or a block device; read-only if READONLY. */
int blkrepl_image_open(struct blkrepl_ctx *ctx, const char *path, int readonly,
		       struct blkrepl_image **img);
void blkrepl_image_close(struct blkrepl_image *img);
uint64_t blkrepl_image_size(const struct blkrepl_image *img);

/*
 * Serves one NBD client on FD (which it does not close) until it
 * disconnects. EXPORT is the one export's name; a client may also ask for
 * "". Returns 0 after NBD_CMD_DISC or NBD_OPT_ABORT, -ECONNRESET if the
 * client went away, -EPROTO (logged, naming what was wrong) if it broke the
 * protocol, which ends the connection; the image is never touched by a
 * request that was not valid as a whole.
 */
int blkrepl_nbd_serve(struct blkrepl_image *img, const char *export, int fd);

/*
 * Replication of a served image. A replicator (the engine) connects to the
 * server's control socket and sends START: the server answers SIZE and ID,
 * streams the image (WRITE records, ZERO for chunks of zeroes), then every
 * write, zero and trim as it lands, in the order they land. MARK(N) ends
 * epoch N: MARKED(N) follows the records of every write that landed before
 * it. COMMITTED(N) says the backup's replica holds epochs up to N.
 *
 * The server keeps, from its first replicator on, which 64 KiB chunks a
 * replica may lack: changed since the last epoch committed. START carrying
 * the ID of an earlier replication (its replica holds what was committed
 * then) streams only those chunks: a resync. Any other START streams the
 * whole image under a new ID.
 *
 * A replica that holds the disk under no id the server knows (the old
 * primary's disk, back after a failover) may still hold most of it: HASHES
 * before START(0) give the SHA-256 of its BLKREPL_HASH_CHUNK chunks, and
 * the sync streams only the chunks whose digest differs: a checksum
 * resync.
 *
 * Records and commands share one 16-byte little-endian header (u32 type,
 * u32 length, u64 offset; or the epoch for MARK, MARKED and COMMITTED, the
 * image's size for SIZE, the replication's id for ID and START, the first
 * chunk for HASHES); a WRITE's data or HASHES' digests follow it.
 */
enum blkrepl_rec_type {
	BLKREPL_REC_WRITE = 1,
	BLKREPL_REC_ZERO,
	BLKREPL_REC_TRIM,
	BLKREPL_REC_MARKED,
	BLKREPL_REC_SIZE,
	BLKREPL_REC_ID,
	BLKREPL_CMD_START = 16,
	BLKREPL_CMD_MARK,
	BLKREPL_CMD_COMMITTED,
	BLKREPL_CMD_HASHES,
};
#define BLKREPL_REC_HDR 16
#define BLKREPL_REC_MAX_DATA (32u << 20)
#define BLKREPL_HASH_CHUNK (64u << 10)
#define BLKREPL_HASH_LEN 32

/* digests of chunks FIRST.. FIRST+N-1, BLKREPL_HASH_LEN bytes each */
typedef int (*blkrepl_hashes_fn)(void *data, uint64_t first,
				 const uint8_t *hashes, size_t n);

struct blkrepl_rec {
	uint32_t type;
	uint32_t length;
	uint64_t offset;
	const uint8_t *data; /* into the parsed buffer, for WRITE */
};

/*
 * 1 and *rec if BUF starts with a whole record (*used bytes), 0 if more is
 * needed, -EINVAL with *why naming the field if it is not a record.
 */
int blkrepl_rec_parse(const uint8_t *buf, size_t len, struct blkrepl_rec *rec,
		      size_t *used, const char **why);
void blkrepl_rec_header(uint8_t hdr[BLKREPL_REC_HDR], uint32_t type,
			uint32_t length, uint64_t offset);

/*
 * What a replica may lack outlives the image's server (a guest's reboot, a
 * clean shutdown of its host), so that the next server resyncs rather than
 * syncs the whole image: save_dirty() as the server ends (the image takes
 * no change after it) writes it to a file in STATE_DIR; load_dirty(), before
 * anything is served, takes that file away and keeps what it says only if
 * the image is a regular file of the size and modification time it had.
 */
int blkrepl_image_save_dirty(struct blkrepl_image *img, const char *state_dir);
int blkrepl_image_load_dirty(struct blkrepl_image *img, const char *state_dir);

/* Serves one replicator on FD until it goes away; one at a time. */
int blkrepl_replicate(struct blkrepl_image *img, int fd);

/*
 * The engine's end of a replication: connects to a server's control socket,
 * sends START (with RESYNC_ID, the id the backup's replica was last
 * committed under, or 0 for a full sync, which N_HASHES digests of the
 * replica's chunks, if any, make a checksum resync) and reads the records into memory
 * as they come, so that the server never waits on it. mark(N) asks for
 * MARKED(N) (the guest is suspended: every write it has seen complete is
 * before the mark); committed(N) tells the server the backup holds N;
 * take(N) hands over epoch N's records, ready for a replica's feed (*buf
 * is valid until the next take): 1 with those up to and including
 * MARKED(N); 0 with a part of them, when so many wait that the server
 * would (with TIMEOUT_MS 0: whatever has come, at once, perhaps nothing);
 * it waits up to TIMEOUT_MS for either.
 */
struct blkrepl_replicator;
int blkrepl_replicator_new(struct blkrepl_ctx *ctx, const char *control,
			   uint64_t resync_id, const uint8_t *hashes,
			   uint64_t n_hashes, struct blkrepl_replicator **rep);
void blkrepl_replicator_free(struct blkrepl_replicator *rep);
int blkrepl_replicator_mark(struct blkrepl_replicator *rep, uint64_t epoch);
int blkrepl_replicator_committed(struct blkrepl_replicator *rep,
				 uint64_t epoch);
int blkrepl_replicator_take(struct blkrepl_replicator *rep, uint64_t epoch,
			    int timeout_ms, const uint8_t **buf, size_t *len);
/* bytes taken so far */
uint64_t blkrepl_replicator_bytes(const struct blkrepl_replicator *rep);
/* the most bytes it has held at once, taken or not */
size_t blkrepl_replicator_held_max(const struct blkrepl_replicator *rep);

/*
 * The backup's journal of a replica's uncommitted writes, per epoch: held in
 * memory up to MEM_LIMIT bytes of data, past it in an unnamed file in
 * SPILL_DIR; applied at commit, dropped at discard. A write outside the
 * replica or for an epoch already committed is refused (-EINVAL, logged)
 * and changes nothing.
 */
struct blkrepl_journal;
struct blkrepl_journal_stats {
	uint64_t committed; /* the last committed epoch */
	uint64_t held_bytes; /* write data held in memory now */
	uint64_t spilled_bytes; /* ever written to the spill file */
	uint64_t held_writes, applied_writes, discarded_writes;
};

int blkrepl_journal_new(struct blkrepl_image *replica, const char *spill_dir,
			uint64_t mem_limit, struct blkrepl_journal **j);
void blkrepl_journal_free(struct blkrepl_journal *j);
int blkrepl_journal_write(struct blkrepl_journal *j, uint64_t epoch,
			  uint64_t offset, const void *data, uint32_t length);
/* zeroes, or a trim: the replica reads both back as zeroes */
int blkrepl_journal_zero(struct blkrepl_journal *j, uint64_t epoch,
			 uint64_t offset, uint32_t length);
/* A WRITE, ZERO or TRIM record as part of EPOCH */
int blkrepl_journal_record(struct blkrepl_journal *j, uint64_t epoch,
			   const struct blkrepl_rec *rec);
/* Applies every held write of epochs up to EPOCH, in order. */
int blkrepl_journal_commit(struct blkrepl_journal *j, uint64_t epoch);
/* Failover: drops everything not committed, flushes the replica. */
void blkrepl_journal_discard(struct blkrepl_journal *j);
void blkrepl_journal_stats(const struct blkrepl_journal *j,
			   struct blkrepl_journal_stats *st);

/*
 * The backup's end: a replication stream, in pieces of any size and cut
 * anywhere, into a journal over the replica at PATH. SIZE opens the replica,
 * creating a sparse file of that size if there is none (a replica of
 * another size is refused); a change belongs to the epoch after the last
 * MARKED. commit(N) applies epochs up to N and needs MARKED(N) first;
 * discard() (failover: the replica is the guest's disk from now on) drops
 * the rest. A stream that breaks the rules is -EPROTO, logged, and changes
 * nothing in the replica.
 *
 * A state file in STATE_DIR (NULL: none) remembers, while nothing touches
 * the replica, the id of the replication it was last committed under:
 * resync_id() is that id (0 if there is none), for the primary's START.
 * The file goes as soon as the first change arrives (a backup that dies
 * from then on leaves none, and the next protection syncs in full);
 * finish() (reception ended without a failover, every commit applied)
 * flushes the replica and writes it again.
 *
 * hashes() hands EACH the digests of the replica as it is, for a checksum
 * resync where there is no id to resync from: 1 once they are all handed
 * over, 0 if there is no replica to hash.
 */
struct blkrepl_replica;
int blkrepl_replica_new(struct blkrepl_ctx *ctx, const char *path,
			const char *state_dir, const char *spill_dir,
			uint64_t mem_limit, struct blkrepl_replica **rp);
void blkrepl_replica_free(struct blkrepl_replica *rp);
uint64_t blkrepl_replica_resync_id(const struct blkrepl_replica *rp);
int blkrepl_replica_hashes(struct blkrepl_replica *rp, blkrepl_hashes_fn each,
			   void *data);
int blkrepl_replica_finish(struct blkrepl_replica *rp);
int blkrepl_replica_feed(struct blkrepl_replica *rp, const void *buf,
			 size_t len);
int blkrepl_replica_commit(struct blkrepl_replica *rp, uint64_t epoch);
void blkrepl_replica_discard(struct blkrepl_replica *rp);
/* 0 and *st once SIZE has opened the replica, else -ENOENT */
int blkrepl_replica_stats(const struct blkrepl_replica *rp,
			  struct blkrepl_journal_stats *st);

#endif
