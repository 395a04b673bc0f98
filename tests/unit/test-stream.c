// SPDX-License-Identifier: LGPL-2.1-or-later
/* The checkpoint stream parser on crafted streams. */
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

struct seen {
	struct sb out; /* bytes and pages, in order: must equal input */
	unsigned int pages;
	unsigned int checkpoints;
	uint64_t last_pfn;
};

static int on_bytes(void *data, const void *buf, size_t len)
{
	sb_put(&((struct seen *)data)->out, buf, len);
	return 0;
}

static int on_page(void *data, uint64_t pfn, unsigned int type,
		   const void *page)
{
	struct seen *s = data;

	sb_put(&s->out, page, 4096);
	s->pages++;
	s->last_pfn = pfn;
	return 0;
}

static int on_checkpoint(void *data, unsigned int n)
{
	((struct seen *)data)->checkpoints = n;
	return 0;
}

static const struct xrepl_stream_ops ops = {
	.bytes = on_bytes,
	.page = on_page,
	.checkpoint = on_checkpoint,
};

static struct xrepl_ctx *quiet_ctx(void)
{
	struct xrepl_ctx *ctx = xrepl_new();

	xrepl_set_log_priority(ctx, 0);
	return ctx;
}

/* Two checkpoints of a checkpointed (Remus) stream, cut after them. */
static struct sb remus_stream(void)
{
	uint64_t pfns[3] = { 0x10, 0x11, 0xfeff0 };
	unsigned int types[3] = { 0, PFN_TYPE_XTAB, 0 };
	uint8_t pages[2 * 4096];
	struct sb b = { 0 };

	memset(pages, 0xab, sizeof(pages));
	sb_start(&b);
	sb_page_data(&b, pfns, types, 3, pages);
	sb_checkpoint_end(&b);
	sb_page_data(&b, pfns, types, 1, pages);
	sb_checkpoint_end(&b);
	return b;
}

/* A plain xl save stream: libxc END, then libxl END. */
static struct sb save_stream(void)
{
	struct sb b = remus_stream();

	sb_record(&b, LIBXC_REC_END, NULL, 0);
	sb_record(&b, LIBXL_REC_END, NULL, 0);
	return b;
}

static int parse(struct sb *in, size_t chunk, struct seen *seen, char *msg,
		 size_t msglen)
{
	struct xrepl_ctx *ctx = quiet_ctx();
	struct xrepl_stream *s = xrepl_stream_new(ctx, &ops, seen);
	size_t pos, n;
	int r = 0;

	for (pos = 0; pos < in->len && !r; pos += n) {
		n = in->len - pos < chunk ? in->len - pos : chunk;
		r = xrepl_stream_feed(s, in->data + pos, n);
	}
	if (!r)
		r = xrepl_stream_finish(s);
	if (msg)
		snprintf(msg, msglen, "%s", xrepl_stream_strerror(s));
	xrepl_stream_free(s);
	xrepl_unref(ctx);
	return r;
}

static void whole_stream_in_any_chunks(void **state)
{
	static const size_t chunks[] = { 1, 3, 7, 8, 4095, 4096, 4097, 1 << 20 };
	struct sb in = save_stream();
	size_t i;

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct seen seen = { 0 };

		assert_int_equal(parse(&in, chunks[i], &seen, NULL, 0), 0);
		assert_int_equal(seen.out.len, in.len);
		assert_memory_equal(seen.out.data, in.data, in.len);
		assert_int_equal(seen.pages, 3);
		assert_int_equal(seen.checkpoints, 2);
		free(seen.out.data);
	}
	free(in.data);
}

static void page_pfns_and_types(void **state)
{
	struct sb in = save_stream();
	struct seen seen = { 0 };

	assert_int_equal(parse(&in, 1 << 20, &seen, NULL, 0), 0);
	/* the last data page of the last checkpoint is pfn 0x10 */
	assert_int_equal(seen.last_pfn, 0x10);
	free(seen.out.data);
	free(in.data);
}

/* Cut anywhere: never an error, always "N complete checkpoints". */
static void truncation_is_not_corruption(void **state)
{
	struct sb in = remus_stream();
	size_t cut, first_end = 0;
	char msg[256], want[64];

	{
		struct seen seen = { 0 };
		struct xrepl_ctx *ctx = quiet_ctx();
		struct xrepl_stream *s = xrepl_stream_new(ctx, &ops, &seen);

		for (cut = 0; cut < in.len && !first_end; cut++) {
			xrepl_stream_feed(s, in.data + cut, 1);
			if (xrepl_stream_checkpoints(s) == 1)
				first_end = cut + 1;
		}
		assert_int_equal(xrepl_stream_checkpoint_offset(s), first_end);
		xrepl_stream_free(s);
		xrepl_unref(ctx);
		free(seen.out.data);
	}
	for (cut = 0; cut < in.len; cut += 5) {
		struct sb part = { in.data, cut, cut };
		struct seen seen = { 0 };

		assert_int_equal(parse(&part, 4096, &seen, msg, sizeof(msg)),
				 -EPIPE);
		snprintf(want, sizeof(want),
			 "%u complete checkpoints, then truncated",
			 cut >= first_end ? 1u : 0u);
		assert_non_null(strstr(msg, want));
		free(seen.out.data);
	}
	free(in.data);
}

/* Replaces 4 bytes at off, parses, expects -EINVAL and text in the error. */
static void expect_invalid(struct sb *in, size_t off, uint32_t v,
			   const char *text)
{
	struct seen seen = { 0 };
	char msg[256];

	if (off != SIZE_MAX) {
		v = htole32(v);
		memcpy(in->data + off, &v, 4);
	}
	assert_int_equal(parse(in, 4096, &seen, msg, sizeof(msg)), -EINVAL);
	if (!strstr(msg, text))
		fail_msg("error \"%s\" lacks \"%s\"", msg, text);
	free(seen.out.data);
}

/* Offsets in remus_stream(): the xl header with its config first. */
static size_t libxl_start(const struct sb *in)
{
	return (size_t)(memmem(in->data, in->len, LIBXL_IDENT, 8) -
			(void *)in->data);
}

static size_t first_page_data(const struct sb *in)
{
	/* libxl header 16, LIBXC_CONTEXT 8, libxc headers 40, cpuid 16, sde 8 */
	return libxl_start(in) + 16 + 8 + 40 + 16 + 8;
}

static void bad_headers(void **state)
{
	struct sb in;

	in = remus_stream();
	expect_invalid(&in, 0, 0x12345678, "neither xl's magic");
	free(in.data);

	in = remus_stream();
	expect_invalid(&in, 32, 0x04030201, "byte order mark");
	free(in.data);

	in = remus_stream();
	expect_invalid(&in, 36, XL_FLAG_JSON, "not a v2 stream");
	free(in.data);

	in = remus_stream();
	/* the libxl header is big-endian: version 3 */
	expect_invalid(&in, libxl_start(&in) + 8, htole32(htobe32(3)),
		       "the libxl stream header: version 3");
	free(in.data);

	in = remus_stream();
	expect_invalid(&in, libxl_start(&in) + 24, 0, "marker");
	free(in.data);

	in = remus_stream();
	expect_invalid(&in, libxl_start(&in) + 24 + 8, 0x46454e58,
		       "is not \"XENF\"");
	free(in.data);
}

static void bad_records(void **state)
{
	struct sb in;
	size_t pd;

	in = remus_stream();
	pd = first_page_data(&in);
	expect_invalid(&in, pd + 4, (128u << 20) + 1,
		       "length 134217729 exceeds");
	free(in.data);

	in = remus_stream();
	expect_invalid(&in, pd + 8, 0, "count 0, must be 1 to 1024");
	free(in.data);

	in = remus_stream();
	expect_invalid(&in, pd + 8, 1025, "count 1025");
	free(in.data);

	in = remus_stream();
	expect_invalid(&in, pd + 8, 2, "but 2 pfns with 1 data pages need");
	free(in.data);

	/* page type 5 does not exist */
	in = remus_stream();
	expect_invalid(&in, pd + 16 + 4, 5u << 28, "invalid page type 0x5");
	free(in.data);

	in = remus_stream();
	expect_invalid(&in, pd + 16 + 4, 1u << 20, "reserved bits");
	free(in.data);

	/* an unknown mandatory libxc record type */
	in = remus_stream();
	expect_invalid(&in, pd, 0x7f, "libxc record unknown (0x7f) at offset");
	free(in.data);
}

static void errors_name_record_and_offset(void **state)
{
	struct sb in = remus_stream();
	size_t pd = first_page_data(&in);
	char want[128];

	snprintf(want, sizeof(want),
		 "libxc record PAGE_DATA (0x1) at offset %zu", pd);
	expect_invalid(&in, pd + 8, 0, want);
	free(in.data);
}

static void data_after_end(void **state)
{
	struct sb in = save_stream();

	sb_put(&in, "junk", 4);
	expect_invalid(&in, SIZE_MAX, 0, "4 bytes after libxl's END record");
	free(in.data);
}

static void next_reports_pages_and_bytes(void **state)
{
	struct sb in = remus_stream();
	struct seen seen = { 0 };
	struct xrepl_ctx *ctx = quiet_ctx();
	struct xrepl_stream *s = xrepl_stream_new(ctx, &ops, &seen);
	size_t pos = 0, n;
	unsigned int pages = 0;
	uint64_t pfn;

	while (pos < in.len) {
		n = xrepl_stream_next(s, &pfn);
		if (!n) {
			pages++;
			n = 4096;
		}
		assert_true(n != SIZE_MAX);
		n = n < in.len - pos ? n : in.len - pos;
		assert_int_equal(xrepl_stream_feed(s, in.data + pos, n), 0);
		pos += n;
	}
	assert_int_equal(pages, 3);
	assert_int_equal(seen.pages, 3);
	xrepl_stream_free(s);
	xrepl_unref(ctx);
	free(seen.out.data);
	free(in.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(whole_stream_in_any_chunks),
		cmocka_unit_test(page_pfns_and_types),
		cmocka_unit_test(truncation_is_not_corruption),
		cmocka_unit_test(bad_headers),
		cmocka_unit_test(bad_records),
		cmocka_unit_test(errors_name_record_and_offset),
		cmocka_unit_test(data_after_end),
		cmocka_unit_test(next_reports_pages_and_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
