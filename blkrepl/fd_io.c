// SPDX-License-Identifier: LGPL-2.1-or-later
/* Whole reads and writes on a socket that may return short counts. */
#include <errno.h>
#include <unistd.h>

#include "blkrepl-private.h"

int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	ssize_t n;

	while (len) {
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int skip_bytes(int fd, uint64_t len)
{
	char buf[4096];
	size_t n;
	int r;

	while (len) {
		n = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		r = read_full(fd, buf, n);
		if (r < 0)
			return r;
		len -= n;
	}
	return 0;
}
