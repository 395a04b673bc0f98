// SPDX-License-Identifier: GPL-2.0-or-later
/* Listening sockets for xrepl receive and xrepl disk-server. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "listen.h"
#include "subcommands.h"

int listen_tcp(const char *spec)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE };
	const char *colon = strrchr(spec, ':');
	char host[256] = "";
	struct addrinfo *res;
	int fd, one = 1, r;

	if (colon)
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	r = getaddrinfo(host[0] ? host : NULL, colon ? colon + 1 : spec, &hints,
			&res);
	if (r) {
		fprintf(stderr, "%s: cannot resolve %s: %s\n", prog_name, spec,
			gai_strerror(r));
		return -1;
	}
	fd = socket(res->ai_family,
		    res->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, 64) < 0) {
		fprintf(stderr, "%s: cannot listen on %s: %s\n", prog_name,
			spec, strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return fd;
}

int listen_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: socket path too long: %s\n", prog_name,
			path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, 16) < 0) {
		fprintf(stderr, "%s: cannot listen on %s: %s\n", prog_name,
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

void stop_signals_block(sigset_t *wait_mask)
{
	sigset_t sigs;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &sigs, wait_mask);
}

int accept_or_signal(int lfd, const sigset_t *wait_mask)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	if (ppoll(&p, 1, NULL, wait_mask) < 0)
		return -1;
	/* the listener does not block: a connection gone since is EAGAIN */
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}
