/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef XREPL_TEST_XORSHIFT_H
#define XREPL_TEST_XORSHIFT_H

#include <stdint.h>

/* The random-cut tests' generator: seeded by hand, so a failure replays. */
static uint64_t rng;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

#endif
