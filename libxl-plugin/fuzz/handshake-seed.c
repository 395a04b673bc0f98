// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Seeds for the handshake fuzzer: one real handshake, primary to backup,
 * recorded both ways into DIR/client (what a backup reads, after a 0 byte)
 * and DIR/server (what a primary reads, after a 1).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "libxrepl.h"

struct tap {
	int from, to;
	FILE *rec;
};

static void *tap_main(void *arg)
{
	struct tap *t = arg;
	char buf[4096];
	ssize_t n;

	while ((n = read(t->from, buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, (size_t)n, t->rec);
		if (write(t->to, buf, (size_t)n) != n)
			break;
	}
	shutdown(t->to, SHUT_WR);
	return NULL;
}

static void *accept_main(void *arg)
{
	xrepl_wire_accept(arg, 2000);
	return NULL;
}

static FILE *seed(const char *dir, const char *name, int side)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f)
		fputc(side, f);
	return f;
}

int main(int argc, char *argv[])
{
	static const uint8_t key[XREPL_KEY_LEN] = { 7 };
	struct xrepl_tls_opts opts = { .key = key };
	struct xrepl_ctx *ctx = xrepl_new();
	struct xrepl_tls *tls = xrepl_tls_new(ctx, &opts);
	struct xrepl_wire *p, *b;
	struct tap up, down;
	pthread_t tu, td, ta;
	int sp[2], sb[2];

	if (argc != 2 || !tls || socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sb) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	up = (struct tap){ sp[1], sb[1], seed(argv[1], "client", 0) };
	down = (struct tap){ sb[1], sp[1], seed(argv[1], "server", 1) };
	if (!up.rec || !down.rec)
		return 1;
	p = xrepl_wire_new(ctx, sp[0], sp[0], tls);
	b = xrepl_wire_new(ctx, sb[0], sb[0], tls);
	pthread_create(&tu, NULL, tap_main, &up);
	pthread_create(&td, NULL, tap_main, &down);
	pthread_create(&ta, NULL, accept_main, b);
	xrepl_wire_connect(p, 2000);
	pthread_join(ta, NULL);
	close(sp[0]);
	close(sb[0]);
	pthread_join(tu, NULL);
	pthread_join(td, NULL);
	fclose(up.rec);
	fclose(down.rec);
	xrepl_wire_free(p);
	xrepl_wire_free(b);
	xrepl_tls_free(tls);
	xrepl_unref(ctx);
	return 0;
}
