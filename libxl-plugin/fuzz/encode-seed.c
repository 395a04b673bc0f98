// SPDX-License-Identifier: LGPL-2.1-or-later
/* Seeds for the decoder fuzzer: stream bytes on stdin, frames on stdout. */
#include <stdio.h>

#include "libxrepl.h"

static int out(void *data, const void *buf, size_t len)
{
	return fwrite(buf, 1, len, stdout) == len ? 0 : -1;
}

int main(void)
{
	struct xrepl_codec_opts opts = { XREPL_COMPRESS_XBZRLE_LZ4, 1 << 20 };
	struct xrepl_ctx *ctx = xrepl_new();
	struct xrepl_encoder *enc = xrepl_encoder_new(ctx, &opts, out, NULL);
	char buf[1 << 16];
	size_t n;

	xrepl_set_log_priority(ctx, 0);
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		xrepl_encoder_feed(enc, buf, n);
	xrepl_encoder_flush(enc);
	xrepl_encoder_free(enc);
	xrepl_unref(ctx);
	return 0;
}
