// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer: what a peer sends before it is authenticated, to either side.
 * The first byte picks the side under attack (even: a backup accepting, odd:
 * a primary connecting); the rest is what the peer sends, then it hangs up.
 * OpenSSL's TLS 1.3 handshake and our reading of its failures run on it.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "libxrepl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[XREPL_KEY_LEN] = { 7 };
	static const struct xrepl_tls_opts opts = { .key = key };
	static struct xrepl_ctx *ctx;
	static struct xrepl_tls *tls;
	static int null_fd;
	struct xrepl_wire *w;
	int fds[2];

	if (!ctx) {
		ctx = xrepl_new();
		xrepl_set_log_priority(ctx, 0);
		tls = xrepl_tls_new(ctx, &opts);
		null_fd = open("/dev/null", O_WRONLY);
	}
	/* a pipe holds 64 KiB: the whole input fits before anyone reads */
	if (!size || size > 60000 || pipe(fds) < 0)
		return 0;
	if (write(fds[1], data + 1, size - 1) != (ssize_t)(size - 1)) {
		close(fds[0]);
		close(fds[1]);
		return 0;
	}
	close(fds[1]);
	w = xrepl_wire_new(ctx, fds[0], null_fd, tls);
	if (data[0] & 1)
		xrepl_wire_connect(w, 1000);
	else
		xrepl_wire_accept(w, 1000);
	xrepl_wire_free(w);
	close(fds[0]);
	return 0;
}
