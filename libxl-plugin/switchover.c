// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A planned switchover's request, as the text of a STOP SWITCHOVER: what
 * the backup protects the guest back to the old primary with once it runs
 * it. The backup starts a process from it, so only these four numbers, in
 * this order, within their bounds, are taken.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "libxrepl-private.h"

#define FLAGS_ALL                                                 \
	(XREPL_SWITCHOVER_ADAPTIVE | XREPL_SWITCHOVER_NO_NETBUF | \
	 XREPL_SWITCHOVER_NO_DISK | XREPL_SWITCHOVER_CRASH_FAILOVER)

struct field {
	const char *key;
	unsigned long min, max;
};

static const struct field fields[] = {
	{ "port", 1, 65535 },
	{ "interval", 1, 3600000 },
	{ "timeout", 100, 3600000 },
	{ "flags", 0, FLAGS_ALL },
};

XREPL_EXPORT int xrepl_switchover_format(const struct xrepl_switchover *s,
					 char *text, size_t len)
{
	int n = snprintf(text, len, "port=%u interval=%u timeout=%u flags=%u",
			 s->port, s->interval_ms, s->timeout_ms, s->flags);

	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

/* KEY=DIGITS at *P (END the text's end), within F's bounds */
static int take(const char **p, const char *end, const struct field *f,
		unsigned long *v, const char **why)
{
	size_t klen = strlen(f->key);
	const char *q = *p;
	int digits = 0;

	if ((size_t)(end - q) <= klen || memcmp(q, f->key, klen) ||
	    q[klen] != '=') {
		*why = "a switchover request's fields are not port, interval, timeout, flags";
		return -EPROTO;
	}
	q += klen + 1;
	for (*v = 0; q < end && *q >= '0' && *q <= '9' && digits < 8;
	     q++, digits++)
		*v = *v * 10 + (unsigned long)(*q - '0');
	if (!digits || (q < end && *q >= '0' && *q <= '9') || *v < f->min ||
	    *v > f->max) {
		*why = "a switchover request's number is missing or out of bounds";
		return -EPROTO;
	}
	*p = q;
	return 0;
}

XREPL_EXPORT int xrepl_switchover_parse(const char *text, size_t len,
					struct xrepl_switchover *s,
					const char **why)
{
	const char *p = text, *end = text + len;
	unsigned long v[4];
	size_t i;

	for (i = 0; i < 4; i++) {
		if (i && (p == end || *p++ != ' ')) {
			*why = "a switchover request's fields are not separated by one space";
			return -EPROTO;
		}
		if (take(&p, end, &fields[i], &v[i], why) < 0)
			return -EPROTO;
	}
	if (p != end) {
		*why = "a switchover request has more than its four fields";
		return -EPROTO;
	}
	s->port = (uint16_t)v[0];
	s->interval_ms = (unsigned int)v[1];
	s->timeout_ms = (unsigned int)v[2];
	s->flags = (unsigned int)v[3];
	return 0;
}
