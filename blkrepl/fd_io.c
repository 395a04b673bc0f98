// SPDX-License-Identifier: LGPL-2.1-or-later
/* Whole reads and writes on a socket that may return short counts. */
#include <errno.h>
#include <unistd.h>

#include "blkrepl-private.h"

static int io_full(int fd, char *p, size_t len, int write_it)
{
	ssize_t n;

	while (len) {
		n = write_it ? write(fd, p, len) : read(fd, p, len);
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

int read_full(int fd, void *buf, size_t len)
{
	return io_full(fd, buf, len, 0);
}

int write_full(int fd, const void *buf, size_t len)
{
	/* write only reads from it */
	return io_full(fd, (char *)buf, len, 1);
}
