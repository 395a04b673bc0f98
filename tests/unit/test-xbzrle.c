// SPDX-License-Identifier: LGPL-2.1-or-later
/* XBZRLE: every implementation agrees, round-trips, and decoding is safe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xbzrle.h"

#define PAGE XBZRLE_PAGE

static const char *const isas[] = { "scalar", "avx2", "avx512bw" };

static unsigned int seed = 1;

static unsigned int rnd(void)
{
	seed = seed * 1103515245u + 12345u;
	return seed >> 8;
}

/* Page pairs of every shape the encoder must handle. */
static void make_pair(int shape, uint8_t *old, uint8_t *new)
{
	unsigned int i, at;

	for (i = 0; i < PAGE; i++)
		old[i] = (uint8_t)rnd();
	memcpy(new, old, PAGE);
	switch (shape) {
	case 0: /* identical */
		break;
	case 1: /* every byte changed */
		for (i = 0; i < PAGE; i++)
			new[i] = (uint8_t)~old[i];
		break;
	case 2: /* first and last byte */
		new[0] ^= 1;
		new[PAGE - 1] ^= 1;
		break;
	case 3: /* alternate bytes: gaps of one are merged */
		for (i = 0; i < PAGE; i += 2)
			new[i] ^= 0x80;
		break;
	case 4: /* changes every third and fourth byte */
		for (i = 0; i < PAGE; i += 3 + (i & 1))
			new[i] ^= 0x40;
		break;
	case 5: /* scattered short runs, some across 64-byte words */
		for (i = 0; i < 100; i++) {
			at = rnd() % (PAGE - 8);
			new[at] ^= 0x11;
			new[at + 1 + rnd() % 6] ^= 0x22;
		}
		break;
	case 6: /* one long run to the end of the page */
		for (i = 1000; i < PAGE; i++)
			new[i] ^= 0xff;
		break;
	case 7: /* new is zero */
		memset(new, 0, PAGE);
		break;
	}
}

static void roundtrip_every_shape_and_isa(void **state)
{
	uint8_t old[PAGE], new[PAGE], enc[PAGE], ref[PAGE], page[PAGE];
	struct page_diff d;
	page_diff_fn fn;
	int shape, rep, n, nref;
	size_t k;

	for (shape = 0; shape < 8; shape++) {
		for (rep = 0; rep < 20; rep++) {
			make_pair(shape, old, new);
			page_diff_by_name("scalar")(old, new, &d, old, new);
			nref = xbzrle_encode(&d, new, ref, PAGE - 3);
			assert_int_equal(d.identical, shape == 0);
			if (shape == 0)
				assert_int_equal(nref, 0);
			for (k = 0; k < sizeof(isas) / sizeof(isas[0]); k++) {
				fn = page_diff_by_name(isas[k]);
				if (!fn)
					continue;
				fn(old, new, &d, old, new);
				assert_int_equal(d.new_is_zero, shape == 7);
				n = xbzrle_encode(&d, new, enc, PAGE - 3);
				/* every implementation emits the same bytes */
				assert_int_equal(n, nref);
				if (n > 0)
					assert_memory_equal(enc, ref,
							    (size_t)n);
			}
			if (nref < 0)
				continue;
			memcpy(page, old, PAGE);
			assert_int_equal(xbzrle_decode(ref, (size_t)nref, page),
					 0);
			assert_memory_equal(page, new, PAGE);
		}
	}
}

static void overflow_is_reported(void **state)
{
	uint8_t old[PAGE], new[PAGE], enc[PAGE];
	struct page_diff d;

	make_pair(1, old, new);
	page_diff_select(NULL)(old, new, &d, old, new);
	assert_int_equal(xbzrle_encode(&d, new, enc, PAGE - 3), -1);
	make_pair(5, old, new);
	page_diff_select(NULL)(old, new, &d, old, new);
	assert_int_equal(xbzrle_encode(&d, new, enc, 16), -1);
}

/* QEMU's decoder accepts these encodings; so must ours. */
static void decodes_qemu_format(void **state)
{
	/* zrun 0, nzrun 2 "ab"; zrun 200 (two-byte ULEB128), nzrun 1 "c" */
	static const uint8_t enc[] = { 0, 2, 'a', 'b', 0xc8, 0x01, 1, 'c' };
	uint8_t page[PAGE] = { 0 };

	assert_int_equal(xbzrle_decode(enc, sizeof(enc), page), 0);
	assert_int_equal(page[0], 'a');
	assert_int_equal(page[1], 'b');
	assert_int_equal(page[202], 'c');
	assert_int_equal(page[203], 0);
}

static void rejects_malformed(void **state)
{
	static const struct {
		const char *what;
		uint8_t enc[8];
		size_t len;
	} bad[] = {
		{ "zrun without nzrun", { 5 }, 1 },
		{ "empty nzrun", { 0, 0 }, 2 },
		{ "empty zrun after the first", { 0, 1, 'x', 0, 1, 'y' }, 6 },
		{ "nzrun longer than the data", { 0, 5, 'a' }, 3 },
		{ "three-byte ULEB128", { 0x80, 0x80, 0x01, 1, 'x' }, 5 },
		{ "cut ULEB128", { 0x80 }, 1 },
		{ "zrun past the page", { 0xff, 0x7f, 1, 'x' }, 4 },
		{ "nzrun past the page", { 0xff, 0x1f, 0x80, 0x01, 'x' }, 5 },
	};
	uint8_t page[PAGE], before[PAGE];
	size_t i;

	memset(before, 0x5a, PAGE);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(page, before, PAGE);
		if (xbzrle_decode(bad[i].enc, bad[i].len, page) != -1)
			fail_msg("accepted: %s", bad[i].what);
	}
}

/* Random bytes never make the decoder read or write out of bounds. */
static void random_input_is_safe(void **state)
{
	uint8_t enc[64], page[PAGE];
	int i, k;

	for (i = 0; i < 20000; i++) {
		for (k = 0; k < 64; k++)
			enc[k] = (uint8_t)rnd();
		xbzrle_decode(enc, 1 + rnd() % 64, page);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(roundtrip_every_shape_and_isa),
		cmocka_unit_test(overflow_is_reported),
		cmocka_unit_test(decodes_qemu_format),
		cmocka_unit_test(rejects_malformed),
		cmocka_unit_test(random_input_is_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
