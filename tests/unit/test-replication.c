// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Disk replication end to end without Xen: changes land on a served image
 * while a replicator streams them (after the full sync) with epoch marks;
 * a backup reads the stream into a journal over its replica, committing at
 * every MARKED, and is cut at a random byte of the stream. Its replica must
 * then equal the primary's image at the last epoch it committed, byte for
 * byte; before any commit it holds nothing.
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
#include <unistd.h>

#include <cmocka.h>

#include "blkrepl-private.h"
#include "xorshift.h"

#define SIZE ((3u << 20) + 12345)
#define MAX_EPOCHS 8

struct backup {
	struct blkrepl_image *replica;
	struct blkrepl_journal *j;
	int fd;
	size_t cut; /* bytes of the stream it reads before it is cut */
	uint64_t committed;
	int done;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void backup_saw(struct backup *b, uint64_t committed, int done)
{
	pthread_mutex_lock(&b->lock);
	b->committed = committed;
	b->done = done;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* The backup: records into the journal, MARKED commits, the cut discards. */
static void *backup_main(void *data)
{
	struct backup *b = data;
	size_t cap = 8u << 20, have = 0, seen = 0, used, want;
	uint8_t *buf = malloc(cap);
	uint64_t committed = 0;
	struct blkrepl_rec rec;
	const char *why;
	ssize_t n;

	while (seen < b->cut) {
		want = cap - have < b->cut - seen ? cap - have : b->cut - seen;
		n = read(b->fd, buf + have, want);
		if (n <= 0)
			break;
		have += (size_t)n;
		seen += (size_t)n;
		while (blkrepl_rec_parse(buf, have, &rec, &used, &why) == 1) {
			if (rec.type == BLKREPL_REC_MARKED) {
				assert_int_equal(blkrepl_journal_commit(
							 b->j, rec.offset),
						 0);
				committed = rec.offset;
				backup_saw(b, committed, 0);
			} else {
				assert_int_equal(blkrepl_journal_record(
							 b->j, committed + 1,
							 &rec),
						 0);
			}
			memmove(buf, buf + used, have - used);
			have -= used;
		}
	}
	/* cut: the primary's further records go nowhere */
	shutdown(b->fd, SHUT_RD);
	blkrepl_journal_discard(b->j);
	free(buf);
	backup_saw(b, committed, 1);
	return NULL;
}

struct server {
	struct blkrepl_image *img;
	int fd;
};

static void *server_main(void *data)
{
	struct server *s = data;

	blkrepl_replicate(s->img, s->fd);
	return NULL;
}

static void fill_file(const char *path, int random)
{
	uint8_t *buf = calloc(1, SIZE);
	uint32_t i;
	int fd = open(path, O_WRONLY);

	for (i = 0; random && i < SIZE; i++)
		buf[i] = (uint8_t)next();
	assert_int_equal(pwrite(fd, buf, SIZE, 0), SIZE);
	close(fd);
	free(buf);
}

static void read_file(const char *path, uint8_t *buf)
{
	int fd = open(path, O_RDONLY);

	assert_int_equal(pread(fd, buf, SIZE, 0), SIZE);
	close(fd);
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

/* The engine at suspend: MARK, then wait for MARKED (or a dead backup). */
static void command(int fd, uint32_t type, uint64_t epoch)
{
	uint8_t hdr[BLKREPL_REC_HDR];

	blkrepl_rec_header(hdr, type, 0, epoch);
	assert_int_equal(write_full(fd, hdr, sizeof(hdr)), 0);
}

static void mark(struct backup *b, int fd, uint64_t epoch)
{
	command(fd, BLKREPL_CMD_MARK, epoch);
	pthread_mutex_lock(&b->lock);
	while (!b->done && b->committed < epoch)
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
}

struct files {
	char primary[64], replica[64];
	uint8_t *snap[MAX_EPOCHS + 1], *got;
};

static void one_cut(struct blkrepl_ctx *ctx, struct files *f)
{
	uint32_t epochs = 1 + next() % MAX_EPOCHS, e, k, n;
	struct backup b = { .cut = next() % (SIZE + (2u << 20)) };
	struct server s;
	pthread_t tb, ts;
	int sv[2];

	fill_file(f->primary, 1);
	fill_file(f->replica, 0);
	memset(f->snap[0], 0, SIZE);
	assert_int_equal(blkrepl_image_open(ctx, f->primary, 0, &s.img), 0);
	assert_int_equal(blkrepl_image_open(ctx, f->replica, 0, &b.replica), 0);
	assert_int_equal(blkrepl_journal_new(b.replica, "/tmp", 1u << 20, &b.j),
			 0);
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.cond, NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	s.fd = sv[0];
	b.fd = sv[1];
	pthread_create(&ts, NULL, server_main, &s);
	pthread_create(&tb, NULL, backup_main, &b);

	command(sv[1], BLKREPL_CMD_START, 0);
	for (e = 1; e <= epochs; e++) {
		n = next() % 12;
		for (k = 0; k < n; k++)
			random_change(s.img);
		read_file(f->primary, f->snap[e]);
		mark(&b, sv[1], e);
	}
	for (k = next() % 6; k; k--)
		random_change(s.img); /* an epoch that never ends */
	shutdown(sv[1], SHUT_WR);
	pthread_join(ts, NULL);
	close(sv[0]);
	pthread_join(tb, NULL);
	close(sv[1]);

	read_file(f->replica, f->got);
	assert_true(b.committed <= epochs);
	assert_memory_equal(f->got, f->snap[b.committed], SIZE);
	blkrepl_journal_free(b.j);
	blkrepl_image_close(b.replica);
	blkrepl_image_close(s.img);
	pthread_cond_destroy(&b.cond);
	pthread_mutex_destroy(&b.lock);
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
	strcpy(f.replica, "/tmp/test-replication.XXXXXX");
	fd = mkstemp(f.primary);
	close(fd);
	fd = mkstemp(f.replica);
	close(fd);
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
	blkrepl_ctx_free(ctx);
}

/* A second replicator is refused; a MARK before START ends the control
 * connection. */
static void one_replicator_and_start_first(void **state)
{
	struct blkrepl_ctx *ctx;
	struct blkrepl_image *img;
	char path[] = "/tmp/test-replication.XXXXXX";
	uint8_t hdr[BLKREPL_REC_HDR];
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
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(records_are_checked),
		cmocka_unit_test(one_replicator_and_start_first),
		cmocka_unit_test(random_cuts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
