// SPDX-License-Identifier: LGPL-2.1-or-later
/* libFuzzer: the checkpoint stream parser on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "libxrepl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

static int touch(void *data, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (len)
		sink ^= p[0] ^ p[len - 1];
	return 0;
}

static int touch_page(void *data, uint64_t pfn, unsigned int type,
		      const void *page)
{
	return touch(data, page, 4096);
}

static const struct xrepl_stream_ops ops = {
	.bytes = touch,
	.page = touch_page,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct xrepl_ctx *ctx;
	struct xrepl_stream *s;
	size_t split;

	if (!ctx) {
		ctx = xrepl_new();
		xrepl_set_log_priority(ctx, 0);
	}
	s = xrepl_stream_new(ctx, &ops, NULL);
	/* two chunks, split where the first byte says: chunking must not matter */
	split = size ? (size_t)data[0] * size / 256 : 0;
	if (xrepl_stream_feed(s, data, split) == 0)
		xrepl_stream_feed(s, data + split, size - split);
	xrepl_stream_finish(s);
	xrepl_stream_free(s);
	return 0;
}
