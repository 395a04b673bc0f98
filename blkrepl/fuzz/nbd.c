// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target: the input is everything an NBD client sends, handshake
 * and requests; the server answers into a socket a helper thread drains.
 * The image is a 64 KiB memfd, so no request can ask for more than that.
 */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "blkrepl.h"
#include "image.h"

struct client {
	int fd;
	const uint8_t *data;
	size_t len;
};

/* Feeds the input and reads every reply until the server closes. */
static void *client(void *arg)
{
	struct client *c = arg;
	struct pollfd p = { .fd = c->fd };
	char buf[65536];
	ssize_t n;

	for (;;) {
		p.events = POLLIN | (c->len ? POLLOUT : 0);
		if (poll(&p, 1, -1) < 0)
			break;
		if (p.revents & POLLOUT) {
			n = send(c->fd, c->data, c->len, MSG_NOSIGNAL);
			if (n > 0) {
				c->data += n;
				c->len -= (size_t)n;
			}
			if (n < 0 || !c->len)
				shutdown(c->fd, SHUT_WR);
			if (n < 0)
				c->len = 0;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(c->fd, buf, sizeof(buf));
			if (n <= 0)
				break;
		}
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct blkrepl_image *img;
	struct client c = { .data = data, .len = len };
	pthread_t t;
	int sv[2];

	img = fuzz_image(NULL, NULL);
	if (!img)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	c.fd = sv[0];
	if (!len)
		shutdown(sv[0], SHUT_WR);
	pthread_create(&t, NULL, client, &c);
	blkrepl_nbd_serve(img, "disk", sv[1]);
	close(sv[1]);
	pthread_join(t, NULL);
	close(sv[0]);
	return 0;
}
