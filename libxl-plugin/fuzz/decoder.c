// SPDX-License-Identifier: LGPL-2.1-or-later
/* libFuzzer: the frame decoder (what a backup reads off the network). */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct xrepl_ctx *ctx;
	/* a small cache limit keeps each run cheap */
	struct xrepl_codec_opts opts = { XREPL_COMPRESS_NONE, 16 << 20 };
	struct xrepl_decoder *dec;
	size_t split;

	if (!ctx) {
		ctx = xrepl_new();
		xrepl_set_log_priority(ctx, 0);
	}
	dec = xrepl_decoder_new(ctx, &opts, touch, NULL);
	split = size ? (size_t)data[0] * size / 256 : 0;
	if (xrepl_decoder_feed(dec, data, split) == 0)
		xrepl_decoder_feed(dec, data + split, size - split);
	xrepl_decoder_free(dec);
	return 0;
}
