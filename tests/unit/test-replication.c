// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Disk replication end to end without Xen, through the pieces the engine
 * uses: changes land on a served image while a replicator (over the
 * server's control socket) takes them an epoch at a time after the full
 * sync; a replica is fed that stream, committing each epoch once it has all
 * of it, as the backup does at EPOCH_END, and is cut at a random byte.
 * Its file must then equal the primary's image at the last epoch it
 * committed, byte for byte; before any commit it holds nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "blkrepl-private.h"
#include "xorshift.h"

#define SIZE ((3u << 20) + 12345)
#define MAX_EPOCHS 8

struct server {
	struct blkrepl_image *img;
	int lfd;
};

/* disk-server's control socket: one replicator */
static void *server_main(void *data)
{
	struct server *s = data;
	int fd = accept(s->lfd, NULL, NULL);

	assert_true(fd >= 0);
	blkrepl_replicate(s->img, fd);
	close(fd);
	return NULL;
}

static int listen_control(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, path);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	return fd;
}

static void fill_file(const char *path, int random)
{
	uint8_t *buf = calloc(1, SIZE);
	uint32_t i;
	int fd = open(path, O_WRONLY | O_CREAT, 0600);

	for (i = 0; random && i < SIZE; i++)
		buf[i] = (uint8_t)next();
	assert_int_equal(pwrite(fd, buf, SIZE, 0), SIZE);
	close(fd);
	free(buf);
}

static void read_file_n(const char *path, uint8_t *buf, size_t n)
{
	int fd = open(path, O_RDONLY);

	assert_int_equal(pread(fd, buf, n, 0), (ssize_t)n);
	close(fd);
}

static void read_file(const char *path, uint8_t *buf)
{
	read_file_n(path, buf, SIZE);
}

static void random_change(struct blkrepl_image *img)
{
	uint32_t len = 1 + next() % 65536, off = next() % (SIZE - len + 1);
	uint32_t kind = next() % 10, i;
	uint8_t *data = malloc(len);

	for (i = 0; i < len; i++)
		data[i] = (uint8_t)next();
	if (kind < 7)
		assert_int_equal(image_change(img, BLKREPL_REC_WRITE, data, len,
					      off, 0),
				 0);
	else
		assert_int_equal(image_change(img, BLKREPL_REC_ZERO, NULL, len,
					      off, kind == 9),
				 0);
	free(data);
}

static void command(int fd, uint32_t type, uint64_t epoch)
{
	uint8_t hdr[BLKREPL_REC_HDR];

	blkrepl_rec_header(hdr, type, 0, epoch);
	assert_int_equal(write_full(fd, hdr, sizeof(hdr)), 0);
}

struct files {
	char primary[64], replica[64], control[64];
	uint8_t *snap[MAX_EPOCHS + 1], *got;
};

/*
 * Feeds what is left of the cut budget; 1 if all of BUF went in (the
 * epoch may commit), 0 if the cut fell inside it.
 */
static int feed_until_cut(struct blkrepl_replica *rp, const uint8_t *buf,
			  size_t len, size_t *budget)
{
	size_t n = len < *budget ? len : *budget;
	size_t step;

	/* in uneven pieces, as frames and reads cut it */
	for (; n; n -= step, buf += step, *budget -= step) {
		step = 1 + next() % 300000;
		step = step < n ? step : n;
		assert_int_equal(blkrepl_replica_feed(rp, buf, step), 0);
	}
	return *budget > 0;
}

static void one_cut(struct blkrepl_ctx *ctx, struct files *f)
{
	uint32_t epochs = 1 + next() % MAX_EPOCHS, e, k, n;
	size_t budget = next() % (SIZE + (2u << 20)), len;
	uint64_t committed = 0;
	struct blkrepl_replicator *rep;
	struct blkrepl_replica *rp;
	struct server s;
	const uint8_t *buf;
	pthread_t ts;
	int cut = 0;

	fill_file(f->primary, 1);
	unlink(f->replica);
	memset(f->snap[0], 0, SIZE);
	assert_int_equal(blkrepl_image_open(ctx, f->primary, 0, &s.img), 0);
	s.lfd = listen_control(f->control);
	pthread_create(&ts, NULL, server_main, &s);
	assert_int_equal(
		blkrepl_replicator_new(ctx, f->control, 0, NULL, 0, &rep), 0);
	assert_int_equal(blkrepl_replica_new(ctx, f->replica, NULL, "/tmp",
					     1u << 20, &rp),
			 0);

	for (e = 1; e <= epochs; e++) {
		n = next() % 12;
		for (k = 0; k < n; k++)
			random_change(s.img);
		read_file(f->primary, f->snap[e]);
		assert_int_equal(blkrepl_replicator_mark(rep, e), 0);
		assert_int_equal(
			blkrepl_replicator_take(rep, e, 10000, &buf, &len), 1);
		if (!cut && feed_until_cut(rp, buf, len, &budget)) {
			assert_int_equal(blkrepl_replica_commit(rp, e), 0);
			committed = e;
		} else {
			cut = 1;
		}
	}
	for (k = next() % 6; k; k--)
		random_change(s.img); /* an epoch that never ends */
	blkrepl_replica_discard(rp);
	blkrepl_replica_free(rp);
	blkrepl_replicator_free(rep);
	pthread_join(ts, NULL);
	close(s.lfd);

	if (access(f->replica, F_OK) == 0)
		read_file(f->replica, f->got);
	else
		memset(f->got, 0, SIZE);
	assert_memory_equal(f->got, f->snap[committed], SIZE);
	blkrepl_image_close(s.img);
}

static void random_cuts(void **state)
{
	struct blkrepl_ctx *ctx;
	struct files f;
	uint64_t seed;
	int i, fd;

	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(blkrepl_ctx_new(&ctx, NULL, NULL), 0);
	strcpy(f.primary, "/tmp/test-replication.XXXXXX");
	fd = mkstemp(f.primary);
	close(fd);
	snprintf(f.replica, sizeof(f.replica), "%s.replica", f.primary);
	snprintf(f.control, sizeof(f.control), "%s.ctl", f.primary);
	for (i = 0; i <= MAX_EPOCHS; i++)
		f.snap[i] = malloc(SIZE);
	f.got = malloc(SIZE);
	for (seed = 1; seed <= 60; seed++) {
		rng = seed * 0x9e3779b97f4a7c15ull;
		one_cut(ctx, &f);
	}
	for (i = 0; i <= MAX_EPOCHS; i++)
		free(f.snap[i]);
	free(f.got);
	unlink(f.primary);
	unlink(f.replica);
	unlink(f.control);
	blkrepl_ctx_free(ctx);
}

/* One protection's worth of epochs over a replica, for resync_sessions. */
struct session {
	struct blkrepl_replica *rp;
	struct blkrepl_replicator *rep;
	uint64_t committed;
	size_t first_len; /* what epoch 1 (the sync) took */
	int cut;
	int died; /* after an ACK, before applying it */
};

static void run_session(struct files *f, struct server *s, struct session *ss,
			uint8_t *expect)
{
	uint32_t epochs = 1 + next() % 5, e, k, n;
	size_t budget = next() % 2 ? SIZE_MAX : next() % (SIZE + (1u << 20));
	const uint8_t *buf;
	size_t len;

	for (e = 1; e <= epochs; e++) {
		/* epoch 1 only syncs: its size is the sync's */
		n = e > 1 ? next() % 8 : 0;
		for (k = 0; k < n; k++)
			random_change(s->img);
		read_file(f->primary, f->snap[e]);
		assert_int_equal(blkrepl_replicator_mark(ss->rep, e), 0);
		assert_int_equal(blkrepl_replicator_take(ss->rep, e, 10000,
							 &buf, &len),
				 1);
		if (e == 1)
			ss->first_len = len;
		if (ss->cut || !feed_until_cut(ss->rp, buf, len, &budget)) {
			ss->cut = 1;
			continue;
		}
		if (next() % 12 == 0) {
			/* acknowledged, then the backup died before it applied */
			assert_int_equal(
				blkrepl_replicator_committed(ss->rep, e), 0);
			ss->cut = ss->died = 1;
			continue;
		}
		assert_int_equal(blkrepl_replica_commit(ss->rp, e), 0);
		assert_int_equal(blkrepl_replicator_committed(ss->rep, e), 0);
		ss->committed = e;
		memcpy(expect, f->snap[e], SIZE);
	}
}

struct digests {
	uint8_t *h;
	uint64_t n;
};

static int keep_digests(void *data, uint64_t first, const uint8_t *hashes,
			size_t n)
{
	struct digests *d = data;

	assert_int_equal(first, d->n);
	d->h = realloc(d->h, (d->n + n) * BLKREPL_HASH_LEN);
	memcpy(d->h + d->n * BLKREPL_HASH_LEN, hashes, n * BLKREPL_HASH_LEN);
	d->n += n;
	return 0;
}

/* chunks in which the replica differs from the primary now */
static uint32_t chunks_differing(struct files *f)
{
	uint8_t *p = malloc(SIZE);
	uint32_t c, n, k = 0;

	read_file(f->primary, p);
	read_file(f->replica, f->got);
	for (c = 0; c * DIRTY_CHUNK < SIZE; c++) {
		n = SIZE - c * DIRTY_CHUNK < DIRTY_CHUNK ?
			    SIZE - c * DIRTY_CHUNK :
			    DIRTY_CHUNK;
		k += !!memcmp(p + c * DIRTY_CHUNK, f->got + c * DIRTY_CHUNK, n);
	}
	free(p);
	return k;
}

/* What the promoted guest of a failover writes over its disk. */
static void write_over(const char *path)
{
	uint32_t k = 1 + next() % 4, len, off, i;
	uint8_t data[8192];
	int fd = open(path, O_WRONLY);

	for (; k; k--) {
		len = 1 + next() % sizeof(data);
		off = next() % (SIZE - len + 1);
		for (i = 0; i < len; i++)
			data[i] = (uint8_t)next();
		assert_int_equal(pwrite(fd, data, len, off), (ssize_t)len);
	}
	close(fd);
}

/*
 * Protections come and go over one served image and one replica: each ends
 * cleanly (the replica's state is kept), with the backup killed (maybe
 * between an ACK and applying it), or with a failover (the promoted guest
 * writes over the replica); the primary's
 * guest writes on in between. The next protection resyncs from the
 * bitmap when the state allows, else by checksum from the replica's
 * digests, and the replica must then equal the primary's image at its last
 * committed epoch; either resync carries only what differs.
 */
static void resync_sessions(void **state)
{
	char state_dir[] = "/tmp/test-replication-state.XXXXXX", rm[64];
	uint8_t *expect = calloc(1, SIZE);
	struct blkrepl_ctx *ctx;
	struct session ss;
	struct server s;
	struct files f;
	uint32_t round, k, between = 0, resyncs = 0, how, clean = 0;
	uint32_t by_checksum = 0, differ = 0;
	struct digests d;
	uint64_t id;
	pthread_t ts;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	rng = 0x5eed;
	assert_int_equal(blkrepl_ctx_new(&ctx, NULL, NULL), 0);
	assert_non_null(mkdtemp(state_dir));
	strcpy(f.primary, "/tmp/test-replication.XXXXXX");
	fd = mkstemp(f.primary);
	close(fd);
	snprintf(f.replica, sizeof(f.replica), "%s.replica", f.primary);
	snprintf(f.control, sizeof(f.control), "%s.ctl", f.primary);
	for (k = 1; k <= 5; k++)
		f.snap[k] = malloc(SIZE);
	f.got = malloc(SIZE);
	fill_file(f.primary, 1);
	unlink(f.replica);
	assert_int_equal(blkrepl_image_open(ctx, f.primary, 0, &s.img), 0);
	s.lfd = listen_control(f.control);

	for (round = 0; round < 60; round++) {
		memset(&ss, 0, sizeof(ss));
		assert_int_equal(blkrepl_replica_new(ctx, f.replica, state_dir,
						     "/tmp", 1u << 20, &ss.rp),
				 0);
		id = blkrepl_replica_resync_id(ss.rp);
		memset(&d, 0, sizeof(d));
		if (!id && blkrepl_replica_hashes(ss.rp, keep_digests, &d)) {
			assert_int_equal(d.n, (SIZE + DIRTY_CHUNK - 1) /
						      DIRTY_CHUNK);
			differ = chunks_differing(&f);
		}
		pthread_create(&ts, NULL, server_main, &s);
		assert_int_equal(blkrepl_replicator_new(ctx, f.control, id, d.h,
							d.n, &ss.rep),
				 0);
		free(d.h);
		run_session(&f, &s, &ss, expect);
		if (d.n) {
			by_checksum++;
			/* SIZE, ID, the chunks that differ, MARKED */
			assert_true(ss.first_len <=
				    differ * (DIRTY_CHUNK + BLKREPL_REC_HDR) +
					    3 * BLKREPL_REC_HDR);
		}
		if (id) {
			resyncs++;
			/* SIZE, ID, the chunks touched in between, MARKED */
			if (clean)
				assert_true(ss.first_len <=
					    between * 2 *
							    (DIRTY_CHUNK +
							     BLKREPL_REC_HDR) +
						    3 * BLKREPL_REC_HDR);
		}
		how = ss.died ? 1 : ss.cut ? 1 + next() % 2 : next() % 3;
		if (how == 0)
			assert_int_equal(blkrepl_replica_finish(ss.rp), 0);
		else if (how == 2)
			blkrepl_replica_discard(ss.rp);
		blkrepl_replica_free(ss.rp);
		blkrepl_replicator_free(ss.rep);
		pthread_join(ts, NULL);

		if (access(f.replica, F_OK) == 0)
			read_file(f.replica, f.got);
		else
			memset(f.got, 0, SIZE);
		assert_memory_equal(f.got, expect, SIZE);
		if (how == 2 && access(f.replica, F_OK) == 0) {
			/* the promoted guest writes its own things */
			write_over(f.replica);
			read_file(f.replica, expect);
		}
		clean = how == 0;
		between = next() % 4;
		for (k = 0; k < between; k++)
			random_change(s.img);
	}
	print_message("%u resyncs, %u by checksum, in 60 protections\n",
		      resyncs, by_checksum);
	assert_true(resyncs > 5);
	assert_true(by_checksum > 5);
	close(s.lfd);
	blkrepl_image_close(s.img);
	for (k = 1; k <= 5; k++)
		free(f.snap[k]);
	free(f.got);
	free(expect);
	unlink(f.primary);
	unlink(f.replica);
	unlink(f.control);
	snprintf(rm, sizeof(rm), "rm -rf %s", state_dir);
	assert_int_equal(system(rm), 0);
	blkrepl_ctx_free(ctx);
}

/* START(ID) on the served image; what epoch 1 (the sync) took */
static size_t sync_len(struct blkrepl_ctx *ctx, struct server *s,
		       const char *control, uint64_t id, uint64_t *new_id)
{
	struct blkrepl_replicator *rep;
	struct blkrepl_rec rec;
	const uint8_t *buf;
	const char *why;
	pthread_t ts;
	size_t len, used;

	s->lfd = listen_control(control);
	pthread_create(&ts, NULL, server_main, s);
	assert_int_equal(
		blkrepl_replicator_new(ctx, control, id, NULL, 0, &rep), 0);
	assert_int_equal(blkrepl_replicator_mark(rep, 1), 0);
	assert_int_equal(blkrepl_replicator_take(rep, 1, 10000, &buf, &len), 1);
	/* SIZE, then ID */
	assert_int_equal(blkrepl_rec_parse(buf + BLKREPL_REC_HDR,
					   len - BLKREPL_REC_HDR, &rec, &used,
					   &why),
			 1);
	*new_id = rec.offset;
	assert_int_equal(blkrepl_replicator_committed(rep, 1), 0);
	blkrepl_replicator_free(rep);
	pthread_join(ts, NULL);
	close(s->lfd);
	return len;
}

/*
 * The dirty chunks outlive the server (a guest's reboot): the next server
 * of the image resyncs them under the same id, unless the image changed in
 * between; the ended server takes no change after saving them.
 */
static void dirty_chunks_outlive_the_server(void **state)
{
	char dir[] = "/tmp/test-replication-dirty.XXXXXX", rm[64];
	char control[96];
	struct blkrepl_ctx *ctx;
	struct files f;
	struct server s;
	uint64_t id, again;
	uint8_t data[512] = { 1 };
	size_t full;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	rng = 0xd1e7;
	assert_int_equal(blkrepl_ctx_new(&ctx, NULL, NULL), 0);
	assert_non_null(mkdtemp(dir));
	snprintf(f.primary, sizeof(f.primary), "%s/disk.img", dir);
	snprintf(control, sizeof(control), "%s/ctl", dir);
	fill_file(f.primary, 1);

	assert_int_equal(blkrepl_image_open(ctx, f.primary, 0, &s.img), 0);
	assert_int_equal(blkrepl_image_load_dirty(s.img, dir), 0);
	full = sync_len(ctx, &s, control, 0, &id);
	assert_true(full > SIZE);
	/* two chunks change after the last commit, then the server ends */
	assert_int_equal(
		image_change(s.img, BLKREPL_REC_WRITE, data, 512, 0, 0), 0);
	assert_int_equal(image_change(s.img, BLKREPL_REC_WRITE, data, 512,
				      5 * DIRTY_CHUNK, 0),
			 0);
	assert_int_equal(blkrepl_image_save_dirty(s.img, dir), 0);
	assert_int_equal(image_change(s.img, BLKREPL_REC_WRITE, data, 512, 0,
				      0),
			 -EROFS);
	blkrepl_image_close(s.img);

	assert_int_equal(blkrepl_image_open(ctx, f.primary, 0, &s.img), 0);
	assert_int_equal(blkrepl_image_load_dirty(s.img, dir), 0);
	/* SIZE, ID, two chunks, MARKED */
	assert_int_equal(sync_len(ctx, &s, control, id, &again),
			 2 * (DIRTY_CHUNK + BLKREPL_REC_HDR) +
				 3 * BLKREPL_REC_HDR);
	assert_true(again == id);
	assert_int_equal(blkrepl_image_save_dirty(s.img, dir), 0);
	blkrepl_image_close(s.img);

	/* written by something else in between: the saved chunks say nothing */
	fd = open(f.primary, O_WRONLY);
	usleep(10000);
	assert_int_equal(pwrite(fd, data, 512, 9 * DIRTY_CHUNK), 512);
	close(fd);
	assert_int_equal(blkrepl_image_open(ctx, f.primary, 0, &s.img), 0);
	assert_int_equal(blkrepl_image_load_dirty(s.img, dir), 0);
	assert_int_equal(sync_len(ctx, &s, control, id, &again), full);
	assert_true(again != id);
	blkrepl_image_close(s.img);

	snprintf(rm, sizeof(rm), "rm -rf %s", dir);
	assert_int_equal(system(rm), 0);
	blkrepl_ctx_free(ctx);
}

/* A zero image goes over as ZERO records, not 3 MiB of zeroes. */
static void zeroes_sync_as_zero(void **state)
{
	char path[] = "/tmp/test-replication.XXXXXX", control[64];
	struct blkrepl_replicator *rep;
	struct blkrepl_ctx *ctx;
	struct server s;
	const uint8_t *buf;
	pthread_t ts;
	size_t len;
	int fd = mkstemp(path);

	assert_int_equal(ftruncate(fd, SIZE), 0);
	close(fd);
	snprintf(control, sizeof(control), "%s.ctl", path);
	assert_int_equal(blkrepl_ctx_new(&ctx, NULL, NULL), 0);
	assert_int_equal(blkrepl_image_open(ctx, path, 0, &s.img), 0);
	s.lfd = listen_control(control);
	pthread_create(&ts, NULL, server_main, &s);
	assert_int_equal(blkrepl_replicator_new(ctx, control, 0, NULL, 0, &rep),
			 0);
	assert_int_equal(blkrepl_replicator_mark(rep, 1), 0);
	assert_int_equal(blkrepl_replicator_take(rep, 1, 10000, &buf, &len), 1);
	/* SIZE, ID, four chunks, MARKED */
	assert_int_equal(len, 7 * BLKREPL_REC_HDR);
	blkrepl_replicator_free(rep);
	pthread_join(ts, NULL);
	close(s.lfd);
	blkrepl_image_close(s.img);
	blkrepl_ctx_free(ctx);
	unlink(path);
	unlink(control);
}

static size_t put(uint8_t *p, uint32_t type, uint32_t len, uint64_t off)
{
	blkrepl_rec_header(p, type, len, off);
	memset(p + BLKREPL_REC_HDR, 0xab, type == BLKREPL_REC_WRITE ? len : 0);
	return BLKREPL_REC_HDR + (type == BLKREPL_REC_WRITE ? len : 0);
}

/* Each broken stream is refused and the replica keeps what it had. */
static void replica_refuses(void **state)
{
	char path[] = "/tmp/test-replication.XXXXXX";
	struct blkrepl_replica *rp;
	struct blkrepl_ctx *ctx;
	uint8_t buf[4096], got[1024], zero[1024] = { 0 };
	int fd = mkstemp(path);
	size_t n;

	assert_int_equal(ftruncate(fd, 1024), 0);
	assert_int_equal(blkrepl_ctx_new(&ctx, NULL, NULL), 0);

	/* a change before SIZE */
	assert_int_equal(
		blkrepl_replica_new(ctx, path, NULL, "/tmp", 4096, &rp), 0);
	n = put(buf, BLKREPL_REC_WRITE, 512, 0);
	assert_int_equal(blkrepl_replica_feed(rp, buf, n), -EPROTO);
	blkrepl_replica_free(rp);

	/* another size */
	assert_int_equal(
		blkrepl_replica_new(ctx, path, NULL, "/tmp", 4096, &rp), 0);
	n = put(buf, BLKREPL_REC_SIZE, 0, 2048);
	assert_int_equal(blkrepl_replica_feed(rp, buf, n), -EINVAL);
	blkrepl_replica_free(rp);

	/* outside the replica, marks going back, a command, commit too early */
	assert_int_equal(
		blkrepl_replica_new(ctx, path, NULL, "/tmp", 4096, &rp), 0);
	n = put(buf, BLKREPL_REC_SIZE, 0, 1024);
	n += put(buf + n, BLKREPL_REC_WRITE, 512, 512);
	n += put(buf + n, BLKREPL_REC_MARKED, 0, 2);
	assert_int_equal(blkrepl_replica_feed(rp, buf, n), 0);
	assert_int_equal(blkrepl_replica_commit(rp, 3), -EPROTO);
	n = put(buf, BLKREPL_REC_WRITE, 512, 768);
	assert_int_equal(blkrepl_replica_feed(rp, buf, n), -EPROTO);
	n = put(buf, BLKREPL_REC_MARKED, 0, 2);
	assert_int_equal(blkrepl_replica_feed(rp, buf, n), -EPROTO);
	n = put(buf, BLKREPL_CMD_MARK, 0, 3);
	assert_int_equal(blkrepl_replica_feed(rp, buf, n), -EPROTO);
	blkrepl_replica_discard(rp);
	blkrepl_replica_free(rp);

	assert_int_equal(pread(fd, got, sizeof(got), 0), sizeof(got));
	assert_memory_equal(got, zero, sizeof(got));
	close(fd);
	unlink(path);
	blkrepl_ctx_free(ctx);
}

/* A second replicator is refused; a MARK before START ends the control
 * connection. */
static void one_replicator_and_start_first(void **state)
{
	struct blkrepl_ctx *ctx;
	struct blkrepl_image *img;
	char path[] = "/tmp/test-replication.XXXXXX";
	uint8_t hdr[BLKREPL_REC_HDR], digest[BLKREPL_HASH_LEN];
	int fd = mkstemp(path), sv[2];

	assert_int_equal(ftruncate(fd, 4096), 0);
	close(fd);
	assert_int_equal(blkrepl_ctx_new(&ctx, NULL, NULL), 0);
	assert_int_equal(blkrepl_image_open(ctx, path, 0, &img), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	command(sv[1], BLKREPL_CMD_MARK, 1);
	assert_int_equal(blkrepl_replicate(img, sv[0]), -EPROTO);
	close(sv[0]);
	close(sv[1]);

	img->repl_fd = 1000; /* someone else's */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	command(sv[1], BLKREPL_CMD_START, 0);
	assert_int_equal(blkrepl_replicate(img, sv[0]), -EBUSY);
	assert_int_equal(img->repl_fd, 1000);
	img->repl_fd = -1;
	close(sv[0]);
	close(sv[1]);

	blkrepl_rec_header(hdr, 99, 0, 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write_full(sv[1], hdr, sizeof(hdr)), 0);
	assert_int_equal(blkrepl_replicate(img, sv[0]), -EPROTO);
	close(sv[0]);
	close(sv[1]);

	/* digests that skip chunks, and digests after START */
	memset(digest, 0, sizeof(digest));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	blkrepl_rec_header(hdr, BLKREPL_CMD_HASHES, BLKREPL_HASH_LEN, 1);
	assert_int_equal(write_full(sv[1], hdr, sizeof(hdr)), 0);
	assert_int_equal(write_full(sv[1], digest, sizeof(digest)), 0);
	assert_int_equal(blkrepl_replicate(img, sv[0]), -EPROTO);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	command(sv[1], BLKREPL_CMD_START, 0);
	blkrepl_rec_header(hdr, BLKREPL_CMD_HASHES, BLKREPL_HASH_LEN, 0);
	assert_int_equal(write_full(sv[1], hdr, sizeof(hdr)), 0);
	assert_int_equal(write_full(sv[1], digest, sizeof(digest)), 0);
	assert_int_equal(blkrepl_replicate(img, sv[0]), -EPROTO);
	assert_int_equal(img->repl_fd, -1);
	close(sv[0]);
	close(sv[1]);
	blkrepl_image_close(img);
	blkrepl_ctx_free(ctx);
	unlink(path);
}

static void records_are_checked(void **state)
{
	uint8_t buf[BLKREPL_REC_HDR + 4] = { 0 };
	struct blkrepl_rec rec;
	const char *why = NULL;
	size_t used;

	blkrepl_rec_header(buf, BLKREPL_REC_WRITE, 4, 512);
	assert_int_equal(
		blkrepl_rec_parse(buf, BLKREPL_REC_HDR, &rec, &used, &why), 0);
	assert_int_equal(blkrepl_rec_parse(buf, sizeof(buf), &rec, &used, &why),
			 1);
	assert_int_equal(used, sizeof(buf));
	assert_true(rec.offset == 512 && rec.length == 4);
	blkrepl_rec_header(buf, BLKREPL_REC_WRITE, 64u << 20, 0);
	assert_int_equal(blkrepl_rec_parse(buf, sizeof(buf), &rec, &used, &why),
			 -EINVAL);
	assert_string_equal(why, "WRITE record longer than 32 MiB");
	blkrepl_rec_header(buf, BLKREPL_REC_ZERO, 0, 0);
	assert_int_equal(blkrepl_rec_parse(buf, sizeof(buf), &rec, &used, &why),
			 -EINVAL);
	blkrepl_rec_header(buf, BLKREPL_REC_MARKED, 4, 1);
	assert_int_equal(blkrepl_rec_parse(buf, sizeof(buf), &rec, &used, &why),
			 -EINVAL);
	blkrepl_rec_header(buf, 7, 0, 0);
	assert_int_equal(blkrepl_rec_parse(buf, sizeof(buf), &rec, &used, &why),
			 -EINVAL);
	assert_string_equal(why, "unknown record type");
	blkrepl_rec_header(buf, BLKREPL_REC_SIZE, 0, 1 << 20);
	assert_int_equal(blkrepl_rec_parse(buf, sizeof(buf), &rec, &used, &why),
			 1);
	blkrepl_rec_header(buf, BLKREPL_CMD_HASHES, BLKREPL_HASH_LEN + 4, 0);
	assert_int_equal(blkrepl_rec_parse(buf, sizeof(buf), &rec, &used, &why),
			 -EINVAL);
	assert_string_equal(
		why, "HASHES not a whole number of digests, or over 32 MiB");
}

/*
 * A sync far larger than what the replicator holds goes in parts as it is
 * read: the replica fed part by part holds the image, and the replicator
 * never held much more than one part.
 */
static void large_sync_goes_in_parts(void **state)
{
	char path[] = "/tmp/test-replication.XXXXXX", control[64], rpath[64];
	const size_t size = 48u << 20, hold = 16u << 20;
	uint8_t *want = malloc(size), *got = malloc(size);
	struct blkrepl_replicator *rep;
	struct blkrepl_replica *rp;
	struct blkrepl_ctx *ctx;
	size_t len, total = 0, i;
	struct server s;
	const uint8_t *buf;
	int fd = mkstemp(path), r, parts = 0;
	pthread_t ts;

	for (i = 0; i < size; i++)
		want[i] = (uint8_t)(next() | 1);
	assert_int_equal(write(fd, want, size), (ssize_t)size);
	close(fd);
	snprintf(control, sizeof(control), "%s.ctl", path);
	snprintf(rpath, sizeof(rpath), "%s.replica", path);
	assert_int_equal(blkrepl_ctx_new(&ctx, NULL, NULL), 0);
	assert_int_equal(blkrepl_image_open(ctx, path, 0, &s.img), 0);
	s.lfd = listen_control(control);
	pthread_create(&ts, NULL, server_main, &s);
	assert_int_equal(blkrepl_replicator_new(ctx, control, 0, NULL, 0, &rep),
			 0);
	assert_int_equal(blkrepl_replica_new(ctx, rpath, NULL, "/tmp",
					     64u << 20, &rp),
			 0);
	assert_int_equal(blkrepl_replicator_mark(rep, 1), 0);
	do {
		r = blkrepl_replicator_take(rep, 1, 10000, &buf, &len);
		assert_true(r >= 0);
		assert_int_equal(blkrepl_replica_feed(rp, buf, len), 0);
		total += len;
		parts++;
	} while (!r);
	assert_int_equal(blkrepl_replica_commit(rp, 1), 0);
	assert_true(parts >= 3);
	assert_true(total > size);
	assert_true(blkrepl_replicator_held_max(rep) < hold + (2u << 20));
	read_file_n(rpath, got, size);
	assert_memory_equal(got, want, size);
	blkrepl_replica_free(rp);
	blkrepl_replicator_free(rep);
	pthread_join(ts, NULL);
	close(s.lfd);
	blkrepl_image_close(s.img);
	blkrepl_ctx_free(ctx);
	unlink(path);
	unlink(rpath);
	unlink(control);
	free(want);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(records_are_checked),
		cmocka_unit_test(one_replicator_and_start_first),
		cmocka_unit_test(random_cuts),
		cmocka_unit_test(resync_sessions),
		cmocka_unit_test(zeroes_sync_as_zero),
		cmocka_unit_test(dirty_chunks_outlive_the_server),
		cmocka_unit_test(replica_refuses),
		cmocka_unit_test(large_sync_goes_in_parts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
