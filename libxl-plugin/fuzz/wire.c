// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer: the frames a peer sends inside the TLS channel (what it sends
 * before, the handshake, is fuzz/handshake.c's). The frame parser takes the
 * input, and DISK, DISK_STATE, DISK_HASHES and STOP frames are taken apart
 * (a switchover's request too).
 */
#include <stddef.h>
#include <stdint.h>

#include "libxrepl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct xrepl_ctx *ctx;
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
	int r;

	if (!ctx) {
		ctx = xrepl_new();
		xrepl_set_log_priority(ctx, 0);
	}
	w = xrepl_wire_new(ctx, -1, -1, NULL);
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
