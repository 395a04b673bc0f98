// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer: what a backup reads from an unauthenticated peer. The input is
 * the peer's bytes: the backup's side of the handshake runs on them, then
 * the frame parser takes the rest, and DISK, DISK_STATE, DISK_HASHES and
 * STOP frames are taken apart (a switchover's request too).
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
	static struct xrepl_ctx *ctx;
	static int null_fd;
	char vdev[XREPL_VDEV_MAX + 1];
	size_t pos = 0, at, used, disk_len;
	uint64_t id;
	const uint8_t *disk;
	const char *text;
	struct xrepl_switchover back;
	enum xrepl_stop reason;
	struct xrepl_frame f;
	struct xrepl_wire *w;
	const char *why;
	int fds[2], r;

	if (!ctx) {
		ctx = xrepl_new();
		xrepl_set_log_priority(ctx, 0);
		null_fd = open("/dev/null", O_WRONLY);
	}
	if (size > 60000 || pipe(fds) < 0)
		return 0;
	if (write(fds[1], data, size) != (ssize_t)size) {
		close(fds[0]);
		close(fds[1]);
		return 0;
	}
	close(fds[1]);
	w = xrepl_wire_new(ctx, fds[0], null_fd, key);
	xrepl_wire_accept(w, 1000);
	xrepl_wire_free(w);
	close(fds[0]);

	w = xrepl_wire_new(ctx, -1, -1, key);
	while (pos < size &&
	       (r = xrepl_wire_parse(w, data + pos, size - pos, &used, &f)) >=
		       0 &&
	       used) {
		if (r == 1 && f.type == XREPL_FRAME_DISK)
			xrepl_disk_frame_parse(&f, vdev, &disk, &disk_len,
					       &why);
		if (r == 1 && f.type == XREPL_FRAME_DISK_HASHES)
			xrepl_disk_hashes_parse(&f, vdev, &id, &disk, &disk_len,
						&why);
		if (r == 1 && f.type == XREPL_FRAME_STOP &&
		    !xrepl_stop_parse(&f, &reason, &text, &disk_len, &why) &&
		    reason == XREPL_STOP_SWITCHOVER)
			xrepl_switchover_parse(text, disk_len, &back, &why);
		for (at = 0;
		     r == 1 && f.type == XREPL_FRAME_DISK_STATE &&
		     xrepl_disk_state_next(&f, &at, vdev, &id, &why) == 1;)
			;
		pos += used;
	}
	xrepl_wire_free(w);
	return 0;
}
