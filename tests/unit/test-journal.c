// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The backup's disk journal under random cuts: a primary writes, zeroes and
 * trims through random epochs, dies at a random point (mid-epoch, or with an
 * epoch complete but not committed), and the replica must then equal the
 * primary's disk at the last committed epoch, byte for byte, whether the
 * journal held everything in memory or spilled to its file.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "blkrepl.h"
#include "xorshift.h"

#define SIZE (1u << 20)

struct replica {
	char path[64];
	struct blkrepl_ctx *ctx;
	struct blkrepl_image *img;
	struct blkrepl_journal *j;
};

static void replica_open(struct replica *r, uint64_t mem_limit)
{
	int fd;

	strcpy(r->path, "/tmp/test-journal.XXXXXX");
	fd = mkstemp(r->path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SIZE), 0);
	close(fd);
	assert_int_equal(blkrepl_ctx_new(&r->ctx, NULL, NULL), 0);
	assert_int_equal(blkrepl_image_open(r->ctx, r->path, 0, &r->img), 0);
	assert_int_equal(blkrepl_journal_new(r->img, "/tmp", mem_limit, &r->j),
			 0);
}

static void replica_close(struct replica *r)
{
	blkrepl_journal_free(r->j);
	blkrepl_image_close(r->img);
	blkrepl_ctx_free(r->ctx);
	unlink(r->path);
}

static void assert_replica_is(struct replica *r, const uint8_t *want)
{
	uint8_t *got = malloc(SIZE);
	int fd = open(r->path, O_RDONLY);

	assert_int_equal(pread(fd, got, SIZE, 0), SIZE);
	close(fd);
	assert_memory_equal(got, want, SIZE);
	free(got);
}

/* One random operation of EPOCH, on the primary's disk and the journal. */
static void random_op(struct replica *r, uint8_t *disk, uint64_t epoch)
{
	uint32_t len = 1 + next() % 65536, off = next() % (SIZE - len + 1);
	uint32_t kind = next() % 10, i;

	if (kind < 7) {
		for (i = 0; i < len; i++)
			disk[off + i] = (uint8_t)next();
		assert_int_equal(blkrepl_journal_write(r->j, epoch, off,
						       disk + off, len),
				 0);
		return;
	}
	memset(disk + off, 0, len);
	assert_int_equal(blkrepl_journal_zero(r->j, epoch, off, len), 0);
}

/* One primary's life from the current rng state. */
static void one_run(uint64_t mem_limit)
{
	uint8_t *disk = calloc(1, SIZE), *committed = calloc(1, SIZE);
	uint32_t epochs = 1 + next() % 12, cut = 1 + next() % epochs;
	struct replica r;
	uint32_t e, n, k, cut_at = 0;

	replica_open(&r, mem_limit);
	for (e = 1; e <= epochs; e++) {
		n = next() % 16;
		if (e == cut)
			cut_at =
				next() % (n + 1); /* n: complete, uncommitted */
		for (k = 0; k < n && !(e == cut && k == cut_at); k++)
			random_op(&r, disk, e);
		if (e == cut)
			break;
		assert_int_equal(blkrepl_journal_commit(r.j, e), 0);
		memcpy(committed, disk, SIZE);
	}
	blkrepl_journal_discard(r.j);
	assert_replica_is(&r, committed);
	replica_close(&r);
	free(disk);
	free(committed);
}

static void random_cuts_in_memory(void **state)
{
	uint64_t seed;

	for (seed = 1; seed <= 100; seed++) {
		rng = seed * 0x9e3779b97f4a7c15ull;
		one_run(64u << 20);
	}
}

static void random_cuts_spilling(void **state)
{
	uint64_t seed;

	for (seed = 1; seed <= 100; seed++) {
		rng = seed * 0xd1b54a32d192ed03ull;
		one_run(32768);
	}
}

static void spills_past_the_limit(void **state)
{
	struct blkrepl_journal_stats st;
	uint8_t data[8192], *want = calloc(1, SIZE);
	struct replica r;

	replica_open(&r, 10000);
	memset(data, 0x42, sizeof(data));
	assert_int_equal(blkrepl_journal_write(r.j, 1, 0, data, 8192), 0);
	assert_int_equal(blkrepl_journal_write(r.j, 1, 8192, data, 8192), 0);
	blkrepl_journal_stats(r.j, &st);
	assert_int_equal(st.held_bytes, 8192);
	assert_int_equal(st.spilled_bytes, 8192);
	assert_replica_is(&r, want); /* nothing applied before the commit */
	assert_int_equal(blkrepl_journal_commit(r.j, 1), 0);
	memset(want, 0x42, 16384);
	assert_replica_is(&r, want);
	blkrepl_journal_stats(r.j, &st);
	assert_int_equal(st.held_bytes, 0);
	assert_int_equal(st.applied_writes, 2);
	assert_int_equal(st.committed, 1);
	replica_close(&r);
	free(want);
}

/* Later epochs stay held when an earlier one commits. */
static void commit_is_per_epoch(void **state)
{
	uint8_t a[512], b[512], *want = calloc(1, SIZE);
	struct replica r;

	replica_open(&r, 1 << 20);
	memset(a, 0xaa, sizeof(a));
	memset(b, 0xbb, sizeof(b));
	assert_int_equal(blkrepl_journal_write(r.j, 1, 0, a, 512), 0);
	assert_int_equal(blkrepl_journal_write(r.j, 2, 0, b, 512), 0);
	assert_int_equal(blkrepl_journal_commit(r.j, 1), 0);
	memset(want, 0xaa, 512);
	assert_replica_is(&r, want);
	blkrepl_journal_discard(r.j);
	assert_replica_is(&r, want);
	replica_close(&r);
	free(want);
}

static void bad_writes_change_nothing(void **state)
{
	uint8_t data[512] = { 1 }, *want = calloc(1, SIZE);
	struct replica r;

	replica_open(&r, 1 << 20);
	assert_int_equal(blkrepl_journal_write(r.j, 1, SIZE - 100, data, 512),
			 -EINVAL);
	assert_int_equal(blkrepl_journal_write(r.j, 1, UINT64_MAX - 10, data,
					       512),
			 -EINVAL);
	assert_int_equal(blkrepl_journal_write(r.j, 1, 0, data, 0), -EINVAL);
	assert_int_equal(blkrepl_journal_commit(r.j, 1), 0);
	assert_int_equal(blkrepl_journal_write(r.j, 1, 0, data, 512), -EINVAL);
	assert_int_equal(blkrepl_journal_zero(r.j, 0, 0, 512), -EINVAL);
	assert_int_equal(blkrepl_journal_commit(r.j, 2), 0);
	assert_replica_is(&r, want);
	replica_close(&r);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(spills_past_the_limit),
		cmocka_unit_test(commit_is_per_epoch),
		cmocka_unit_test(bad_writes_change_nothing),
		cmocka_unit_test(random_cuts_in_memory),
		cmocka_unit_test(random_cuts_spilling),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
