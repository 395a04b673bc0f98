/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The adaptive checkpoint interval: as in the continuous-checkpointing
 * literature, the interval follows a moving average of the dirty rate so
 * that a checkpoint carries about the same number of pages whatever the
 * workload: a busy guest is checkpointed more often (its pause stays
 * short), an idle one less often (less work for nothing).
 */
#ifndef XREPL_ADAPTIVE_H
#define XREPL_ADAPTIVE_H

#include <stdint.h>

#define ADAPTIVE_TARGET_PAGES 2048 /* 8 MiB a checkpoint */
#define ADAPTIVE_ALPHA 0.3 /* weight of the newest epoch */

struct adaptive {
	unsigned int min_ms;
	unsigned int max_ms;
	double rate; /* pages per ms, moving average; 0 until the first epoch */
};

void adaptive_init(struct adaptive *a, unsigned int base_ms);
/* The next interval, given the pages epoch dirtied over elapsed_ms. */
unsigned int adaptive_next(struct adaptive *a, uint64_t dirty,
			   double elapsed_ms);

#endif
