// SPDX-License-Identifier: LGPL-2.1-or-later
/* The adaptive interval follows the dirty rate within its bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "adaptive.h"

static void bounds(void **state)
{
	struct adaptive a;

	adaptive_init(&a, 100);
	assert_int_equal(a.min_ms, 25);
	assert_int_equal(a.max_ms, 400);
	/* an idle guest: as long as allowed */
	assert_int_equal(adaptive_next(&a, 0, 100), 400);
	/* a storm: as short as allowed */
	adaptive_init(&a, 100);
	assert_int_equal(adaptive_next(&a, 100000, 100), 25);
	adaptive_init(&a, 20);
	assert_int_equal(a.min_ms, 10);
}

/* 20 pages/ms wants 2048 / 20 = 102 ms; the average gets there. */
static void converges(void **state)
{
	struct adaptive a;
	unsigned int ms = 0;
	int i;

	adaptive_init(&a, 100);
	adaptive_next(&a, 200, 100);
	for (i = 0; i < 30; i++)
		ms = adaptive_next(&a, 2000, 100);
	assert_in_range(ms, 100, 105);
}

/* One spike moves the interval, but not all the way. */
static void smooths(void **state)
{
	struct adaptive a;
	unsigned int steady, spiked;
	int i;

	adaptive_init(&a, 100);
	for (i = 0; i < 30; i++)
		steady = adaptive_next(&a, 1000, 100);
	spiked = adaptive_next(&a, 4000, 100);
	assert_true(spiked < steady);
	assert_true(spiked > 2048 / 40.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bounds),
		cmocka_unit_test(converges),
		cmocka_unit_test(smooths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
