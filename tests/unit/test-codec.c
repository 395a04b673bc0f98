// SPDX-License-Identifier: LGPL-2.1-or-later
/* The page-delta codec: byte-exact round trips and hostile frames. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "libxrepl.h"
#include "stream-builder.h"

#define NPAGES 6

static int collect(void *data, const void *buf, size_t len)
{
	sb_put(data, buf, len);
	return 0;
}

static void random_page(uint8_t *page, unsigned int seed)
{
	unsigned int i;

	srand(seed);
	for (i = 0; i < 4096; i++)
		page[i] = (uint8_t)rand();
}

/*
 * Two checkpoints over pfns 0-4 and 0x40000, which shares pfn 0's slot in
 * a 1 MiB (256-slot) cache. Checkpoint 1, all first seen: random pages
 * (raw), a zero page, a nearly zero page (delta against zero). Checkpoint
 * 2: pfn 0 again (evicted by 0x40000: raw), pfn 1 still zero and pfn 4 as
 * before (unchanged), two bytes of pfn 2 (delta), every byte of pfn 3
 * (overflow: raw), pfn 0x40000 partly zeroed (evicted by pfn 0: delta
 * against zero).
 */
static struct sb codec_stream(void)
{
	uint64_t pfns[NPAGES] = { 0, 1, 2, 3, 4, 0x40000 };
	unsigned int types[NPAGES] = { 0 }, i;
	uint8_t pages[NPAGES * 4096] = { 0 };
	struct sb b = { 0 };

	random_page(pages, 1);
	pages[2 * 4096 + 100] = 1;
	random_page(pages + 3 * 4096, 3);
	random_page(pages + 4 * 4096, 4);
	random_page(pages + 5 * 4096, 5);
	sb_start(&b);
	sb_page_data(&b, pfns, types, NPAGES, pages);
	sb_checkpoint_end(&b);

	pages[2 * 4096 + 200] = 2;
	for (i = 0; i < 4096; i++)
		pages[3 * 4096 + i] ^= 0xff;
	memset(pages + 5 * 4096 + 64, 0, 512);
	sb_page_data(&b, pfns, types, NPAGES, pages);
	sb_checkpoint_end(&b);
	sb_record(&b, LIBXC_REC_END, NULL, 0);
	sb_record(&b, LIBXL_REC_END, NULL, 0);
	return b;
}

static struct xrepl_ctx *quiet_ctx(void)
{
	struct xrepl_ctx *ctx = xrepl_new();

	xrepl_set_log_priority(ctx, 0);
	return ctx;
}

static struct sb encode(const struct sb *in, enum xrepl_compress mode,
			size_t chunk, struct xrepl_codec_stats *stats)
{
	struct xrepl_codec_opts opts = { mode, 1 << 20 };
	struct xrepl_ctx *ctx = quiet_ctx();
	struct sb wire = { 0 };
	struct xrepl_encoder *enc =
		xrepl_encoder_new(ctx, &opts, collect, &wire);
	size_t pos, n;

	assert_non_null(enc);
	for (pos = 0; pos < in->len; pos += n) {
		n = in->len - pos < chunk ? in->len - pos : chunk;
		assert_int_equal(xrepl_encoder_feed(enc, in->data + pos, n), 0);
	}
	assert_int_equal(xrepl_encoder_flush(enc), 0);
	if (stats)
		xrepl_encoder_stats(enc, stats);
	xrepl_encoder_free(enc);
	xrepl_unref(ctx);
	return wire;
}

static int decode(const struct sb *wire, size_t chunk, struct sb *out,
		  char *msg, size_t msglen)
{
	struct xrepl_codec_opts opts = { XREPL_COMPRESS_NONE, 1 << 20 };
	struct xrepl_ctx *ctx = quiet_ctx();
	struct xrepl_decoder *dec = xrepl_decoder_new(ctx, &opts, collect, out);
	size_t pos, n;
	int r = 0;

	for (pos = 0; pos < wire->len && !r; pos += n) {
		n = wire->len - pos < chunk ? wire->len - pos : chunk;
		r = xrepl_decoder_feed(dec, wire->data + pos, n);
	}
	if (msg)
		snprintf(msg, msglen, "%s", xrepl_decoder_strerror(dec));
	xrepl_decoder_free(dec);
	xrepl_unref(ctx);
	return r;
}

static void roundtrip_every_mode(void **state)
{
	static const size_t chunks[] = { 1, 13, 4096, 1 << 20 };
	struct sb in = codec_stream(), wire, out;
	struct xrepl_codec_stats st;
	int mode;
	size_t c;

	for (mode = XREPL_COMPRESS_NONE; mode <= XREPL_COMPRESS_XBZRLE_LZ4;
	     mode++) {
		for (c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			wire = encode(&in, mode, chunks[c], &st);
			out = (struct sb){ 0 };
			assert_int_equal(
				decode(&wire,
				       chunks[sizeof(chunks) / sizeof(chunks[0]) -
					      1 - c],
				       &out, NULL, 0),
				0);
			assert_int_equal(out.len, in.len);
			assert_memory_equal(out.data, in.data, in.len);
			assert_int_equal(st.checkpoints, 2);
			assert_int_equal(st.stream_bytes, in.len);
			free(wire.data);
			free(out.data);
		}
	}
	free(in.data);
}

static void page_kinds(void **state)
{
	struct sb in = codec_stream(), wire;
	struct xrepl_codec_stats st;

	wire = encode(&in, XREPL_COMPRESS_XBZRLE, 4096, &st);
	/* see codec_stream() */
	assert_int_equal(st.pages[XREPL_PAGE_UNCHANGED], 2);
	assert_int_equal(st.pages[XREPL_PAGE_ZERO], 1);
	assert_int_equal(st.pages[XREPL_PAGE_XBZRLE], 1);
	assert_int_equal(st.pages[XREPL_PAGE_ZDELTA], 2);
	assert_int_equal(st.pages[XREPL_PAGE_RAW], 6);
	assert_int_equal(st.overflows, 1);
	assert_int_equal(st.cache_lookups, 12);
	assert_int_equal(st.cache_hits, 4);
	assert_true(st.wire_bytes < in.len);
	free(wire.data);
	free(in.data);
}

/* Flips one thing in an otherwise valid wire and expects a named error. */
static void expect_rejected(const struct sb *good, size_t off, uint8_t xor,
			    const char *text)
{
	struct sb wire = { 0 }, out = { 0 };
	char msg[256];

	sb_put(&wire, good->data, good->len);
	wire.data[off] ^= xor;
	assert_int_equal(decode(&wire, 1 << 20, &out, msg, sizeof(msg)),
			 -EINVAL);
	if (!strstr(msg, text))
		fail_msg("error \"%s\" lacks \"%s\"", msg, text);
	free(wire.data);
	free(out.data);
}

static void hostile_frames(void **state)
{
	struct sb in = codec_stream(),
		  wire = encode(&in, XREPL_COMPRESS_XBZRLE, 1 << 20, NULL);
	const size_t data = 12 + 16; /* the first DATA frame's header */
	struct sb out = { 0 };
	struct xrepl_codec_opts opts = { XREPL_COMPRESS_NONE, 4096 };
	struct xrepl_ctx *ctx = quiet_ctx();
	struct xrepl_decoder *dec;

	expect_rejected(&wire, 0, 0x10, "unknown frame type");
	expect_rejected(&wire, 1, 0x80, "unknown flags");
	expect_rejected(&wire, 12, 0x7, "codec version");
	expect_rejected(&wire, data + 0, 0x7, "unknown frame type");
	expect_rejected(&wire, data + 7, 0x10, "at most");
	expect_rejected(&wire, data + 12, 0xff,
			"the rebuilt stream is invalid");

	/* a peer asking for more cache than we allow is refused */
	dec = xrepl_decoder_new(ctx, &opts, collect, &out);
	assert_int_equal(xrepl_decoder_feed(dec, wire.data, wire.len), -EINVAL);
	assert_non_null(
		strstr(xrepl_decoder_strerror(dec), "exceeds the limit"));
	assert_int_equal(out.len, 0);
	xrepl_decoder_free(dec);
	xrepl_unref(ctx);
	free(wire.data);
	free(in.data);
}

/* Any single corrupted byte: an error or a stream, never a crash. */
static void every_byte_flipped(void **state)
{
	struct sb in = codec_stream(),
		  wire = encode(&in, XREPL_COMPRESS_XBZRLE_LZ4, 1 << 20, NULL);
	struct sb out;
	size_t off;

	for (off = 0; off < wire.len; off++) {
		struct sb bad = { 0 };

		sb_put(&bad, wire.data, wire.len);
		bad.data[off] ^= 0x5a;
		out = (struct sb){ 0 };
		decode(&bad, 1 << 20, &out, NULL, 0);
		free(out.data);
		free(bad.data);
	}
	free(wire.data);
	free(in.data);
}

static void compress_names(void **state)
{
	enum xrepl_compress m;

	assert_int_equal(xrepl_compress_parse("xbzrle+lz4", &m), 0);
	assert_int_equal(m, XREPL_COMPRESS_XBZRLE_LZ4);
	assert_string_equal(xrepl_compress_name(XREPL_COMPRESS_LZ4), "lz4");
	assert_int_equal(xrepl_compress_parse("gzip", &m), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(roundtrip_every_mode),
		cmocka_unit_test(page_kinds),
		cmocka_unit_test(hostile_frames),
		cmocka_unit_test(every_byte_flipped),
		cmocka_unit_test(compress_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
