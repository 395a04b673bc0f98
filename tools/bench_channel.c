// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xrepl bench channel: what TLS costs the replication channel on this host.
 * Handshakes, then STREAM frames of 2 MiB through one TLS connection over
 * TCP on the loopback (kernel TLS wants TCP), beside the same bytes through
 * such a connection in the clear.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "subcommands.h"

#define FRAME (2u << 20)
#define HANDSHAKES 50

struct peer {
	struct xrepl_wire *w;
	int fd;
	uint64_t bytes;
	int r;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *accept_main(void *arg)
{
	struct peer *b = arg;

	b->r = xrepl_wire_accept(b->w, 5000);
	return NULL;
}

/* The backup's side: frames until BYTES have come. */
static void *drain_main(void *arg)
{
	struct peer *b = arg;
	struct xrepl_frame f;
	uint64_t got = 0;

	while (got < b->bytes && xrepl_wire_recv(b->w, &f, 5000) == 1)
		got += f.len;
	b->r = got < b->bytes;
	return NULL;
}

static void *drain_clear_main(void *arg)
{
	struct peer *b = arg;
	uint64_t got = 0;
	ssize_t n;
	char *buf = malloc(1 << 16);

	while (buf && got < b->bytes && (n = read(b->fd, buf, 1 << 16)) > 0)
		got += (uint64_t)n;
	free(buf);
	b->r = got < b->bytes;
	return NULL;
}

/* Two ends of one TCP connection on the loopback; 0, or -1. */
static int tcp_pair(int sv[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sv[0] = -1;
	sv[1] = -1;
	if (l >= 0 && !bind(l, (struct sockaddr *)&a, sizeof(a)) &&
	    !listen(l, 1) && !getsockname(l, (struct sockaddr *)&a, &len)) {
		sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (sv[0] >= 0 &&
		    !connect(sv[0], (struct sockaddr *)&a, sizeof(a)))
			sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	}
	if (l >= 0)
		close(l);
	if (sv[1] >= 0)
		return 0;
	if (sv[0] >= 0)
		close(sv[0]);
	return -1;
}

/* A connected pair on a fresh connection; 0, or -1. */
static int connect_pair(struct xrepl_ctx *ctx, struct xrepl_tls *tls,
			struct peer *p, struct peer *b)
{
	int sv[2];
	pthread_t t;

	if (tcp_pair(sv) < 0)
		return -1;
	p->fd = sv[0];
	b->fd = sv[1];
	p->w = xrepl_wire_new(ctx, sv[0], sv[0], tls);
	b->w = xrepl_wire_new(ctx, sv[1], sv[1], tls);
	if (!p->w || !b->w || pthread_create(&t, NULL, accept_main, b))
		return -1;
	p->r = xrepl_wire_connect(p->w, 5000);
	pthread_join(t, NULL);
	return p->r || b->r ? -1 : 0;
}

static void close_pair(struct peer *p, struct peer *b)
{
	xrepl_wire_free(p->w);
	xrepl_wire_free(b->w);
	close(p->fd);
	close(b->fd);
}

static double handshake_ms(struct xrepl_ctx *ctx, struct xrepl_tls *tls)
{
	struct peer p, b;
	double t0 = now_s();
	int i;

	for (i = 0; i < HANDSHAKES; i++) {
		memset(&p, 0, sizeof(p));
		memset(&b, 0, sizeof(b));
		if (connect_pair(ctx, tls, &p, &b) < 0)
			return -1;
		close_pair(&p, &b);
	}
	return (now_s() - t0) * 1000 / HANDSHAKES;
}

/*
 * MB/s of BYTES in 2 MiB frames through TLS; the cipher into CIPHER, and
 * whether the kernel encrypted into *KERNEL.
 */
static double tls_mbps(struct xrepl_ctx *ctx, struct xrepl_tls *tls,
		       const uint8_t *buf, uint64_t bytes, char *cipher,
		       size_t len, int *kernel)
{
	struct peer p = { 0 }, b = { 0 };
	uint64_t sent;
	pthread_t t;
	double t0;
	int r = 0;

	if (connect_pair(ctx, tls, &p, &b) < 0)
		return -1;
	snprintf(cipher, len, "%s", xrepl_wire_cipher(p.w));
	*kernel = xrepl_wire_kernel_tls(p.w);
	b.bytes = bytes;
	t0 = now_s();
	if (pthread_create(&t, NULL, drain_main, &b))
		return -1;
	for (sent = 0; !r && sent < bytes; sent += FRAME)
		r = xrepl_wire_send(p.w, XREPL_FRAME_STREAM, buf, FRAME);
	pthread_join(t, NULL);
	t0 = now_s() - t0;
	close_pair(&p, &b);
	return r || b.r ? -1 : (double)bytes / t0 / 1e6;
}

static double clear_mbps(const uint8_t *buf, uint64_t bytes)
{
	struct peer b = { 0 };
	uint64_t sent;
	pthread_t t;
	double t0;
	int sv[2], r = 0;

	if (tcp_pair(sv) < 0)
		return -1;
	b.fd = sv[1];
	b.bytes = bytes;
	t0 = now_s();
	if (pthread_create(&t, NULL, drain_clear_main, &b))
		return -1;
	for (sent = 0; !r && sent < bytes; sent += FRAME)
		r = write(sv[0], buf, FRAME) != FRAME;
	pthread_join(t, NULL);
	t0 = now_s() - t0;
	close(sv[0]);
	close(sv[1]);
	return r || b.r ? -1 : (double)bytes / t0 / 1e6;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s bench channel [--mib N]\n\n"
		"Measure the replication channel on this host: TLS 1.3 handshakes\n"
		"(PSK with ECDHE), then N MiB (default 1024) of 2 MiB STREAM frames\n"
		"through TLS over TCP on the loopback, beside the same bytes in the\n"
		"clear. XREPL_TLS_CIPHERSUITES picks the cipher; XREPL_TLS_KTLS=1\n"
		"asks for kernel TLS.\n",
		prog_name);
}

int bench_channel_main(struct xrepl_ctx *ctx, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct xrepl_tls_opts o = { 0 };
	uint8_t key[XREPL_KEY_LEN], *buf;
	struct xrepl_tls *tls;
	unsigned long mib = 1024;
	double hs, mbps, clear;
	char cipher[64], *end;
	int c, kernel = 0;
	size_t i;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			mib = strtoul(optarg, &end, 10);
			if (*end || !mib || mib > (1ul << 20)) {
				fprintf(stderr,
					"%s: --mib takes 1 to 1048576, not `%s'\n",
					prog_name, optarg);
				return 1;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	xrepl_key_generate(key);
	o.key = key;
	tls = xrepl_tls_new(ctx, &o);
	buf = malloc(FRAME);
	if (!tls || !buf) {
		free(buf);
		xrepl_tls_free(tls);
		return 1;
	}
	/* not all zeroes: nothing on the way may make them cheaper */
	for (i = 0; i < FRAME; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	hs = handshake_ms(ctx, tls);
	mbps = tls_mbps(ctx, tls, buf, (uint64_t)mib << 20, cipher,
			sizeof(cipher), &kernel);
	clear = clear_mbps(buf, (uint64_t)mib << 20);
	free(buf);
	xrepl_tls_free(tls);
	if (hs < 0 || mbps < 0 || clear < 0) {
		fprintf(stderr, "%s: the channel failed on this host\n",
			prog_name);
		return 1;
	}
	printf("cipher %s\nkernel TLS %s\nhandshake %.2f ms (average of %d)\n"
	       "through TLS %.0f MB/s\nin the clear %.0f MB/s\n",
	       cipher, kernel ? "sends" : "no", hs, HANDSHAKES, mbps, clear);
	return 0;
}
