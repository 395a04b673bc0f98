// SPDX-License-Identifier: LGPL-2.1-or-later
/* Growing buffers for records on their way: doubled, never shrunk. */
#include <errno.h>
#include <stdlib.h>

#include "blkrepl-private.h"

int buffer_reserve(uint8_t **buf, size_t *cap, size_t need, size_t min)
{
	size_t grown = *cap ? *cap : min;
	uint8_t *p;

	while (grown < need)
		grown *= 2;
	if (grown == *cap)
		return 0;
	p = realloc(*buf, grown);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = grown;
	return 0;
}
