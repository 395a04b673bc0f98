// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target: a disk replication stream as the backup reads it from
 * DISK frames, into a replica over a 64 KiB image, in two pieces cut where
 * the first byte says; then every epoch the stream may have marked is
 * committed and the rest discarded, as a failover would.
 */
#include <stdint.h>
#include <unistd.h>

#include "blkrepl.h"
#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct blkrepl_replica *rp;
	struct blkrepl_ctx *ctx;
	const char *path;
	size_t cut;
	uint64_t e;

	if (!len || !fuzz_image(&ctx, &path))
		return 0;
	cut = data[0] < len ? data[0] : len;
	if (blkrepl_replica_new(ctx, path, NULL, "/tmp", 16384, &rp) < 0)
		return 0;
	if (!blkrepl_replica_feed(rp, data, cut) &&
	    !blkrepl_replica_feed(rp, data + cut, len - cut))
		for (e = 1; e <= 4; e++)
			blkrepl_replica_commit(rp, e);
	blkrepl_replica_discard(rp);
	blkrepl_replica_free(rp);
	return 0;
}
