// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target: a disk replication stream as the backup reads it,
 * parsed record by record into a journal over a 64 KiB replica; MARKED
 * commits, the end discards, as a failover would.
 */
#include <stdint.h>
#include <unistd.h>

#include "blkrepl.h"
#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct blkrepl_image *img;
	struct blkrepl_journal *j;
	struct blkrepl_rec rec;
	const char *why;
	uint64_t epoch = 1;
	size_t used;

	img = fuzz_image();
	if (!img)
		return 0;
	if (blkrepl_journal_new(img, "/tmp", 16384, &j) < 0)
		return 0;
	while (blkrepl_rec_parse(data, len, &rec, &used, &why) == 1) {
		if (rec.type == BLKREPL_REC_MARKED) {
			if (blkrepl_journal_commit(j, epoch) < 0)
				break;
			epoch++;
		} else if (blkrepl_journal_record(j, epoch, &rec) < 0) {
			break;
		}
		data += used;
		len -= used;
	}
	blkrepl_journal_discard(j);
	blkrepl_journal_free(j);
	return 0;
}
