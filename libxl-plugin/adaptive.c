// SPDX-License-Identifier: LGPL-2.1-or-later
#include "adaptive.h"

/* From a quarter to four times the interval the administrator chose. */
void adaptive_init(struct adaptive *a, unsigned int base_ms)
{
	a->min_ms = base_ms / 4 > 10 ? base_ms / 4 : 10;
	a->max_ms = base_ms * 4;
	a->rate = 0;
}

unsigned int adaptive_next(struct adaptive *a, uint64_t dirty,
			   double elapsed_ms)
{
	double rate, ms;

	if (elapsed_ms <= 0)
		return a->max_ms;
	rate = (double)dirty / elapsed_ms;
	a->rate = a->rate ? ADAPTIVE_ALPHA * rate +
				    (1 - ADAPTIVE_ALPHA) * a->rate :
			    rate;
	if (a->rate <= 0)
		return a->max_ms;
	ms = ADAPTIVE_TARGET_PAGES / a->rate;
	if (ms < a->min_ms)
		return a->min_ms;
	if (ms > a->max_ms)
		return a->max_ms;
	return (unsigned int)ms;
}
