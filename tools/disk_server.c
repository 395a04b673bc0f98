// SPDX-License-Identifier: GPL-2.0-or-later
/* xrepl disk-server: serve a guest's image over NBD (blkrepl). */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "blkrepl.h"
#include "listen.h"
#include "subcommands.h"

static volatile sig_atomic_t stop;
static int active; /* clients being served, so the image outlives them */

struct client {
	struct blkrepl_image *img;
	const char *export;
	int fd;
	int control; /* a replicator, not an NBD client */
};

static void on_stop(int sig)
{
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s disk-server [options] IMAGE (--socket PATH | --listen [ADDR:]PORT)\n\n"
		"Serve IMAGE (a raw image file or a block device) over NBD (fixed\n"
		"newstyle; READ, WRITE, FLUSH, FUA, TRIM, WRITE_ZEROES) until SIGTERM.\n\n"
		"  -s, --socket PATH     listen on a unix socket (removed on exit)\n"
		"  -l, --listen ADDR:PORT  listen on TCP (for tests; no authentication)\n"
		"  -e, --export NAME     the export's name (default: IMAGE's); \"\" works too\n"
		"  -c, --control PATH    a unix socket for the replicator (xrepl protect):\n"
		"                        START streams the image, then every change,\n"
		"                        with MARKED(N) after the changes of epoch N\n"
		"  -S, --state-dir DIR   with --control: where the chunks the replica\n"
		"                        lacks are saved at exit, for the image's next\n"
		"                        server to resync them (default /var/lib/xrepl)\n"
		"  -r, --read-only       refuse writes\n",
		prog_name);
}

static void *serve_client(void *data)
{
	struct client *c = data;

	if (c->control)
		blkrepl_replicate(c->img, c->fd);
	else
		blkrepl_nbd_serve(c->img, c->export, c->fd);
	close(c->fd);
	free(c);
	__atomic_sub_fetch(&active, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void accept_loop(int lfd, struct blkrepl_image *img, const char *export,
			int control, const sigset_t *wait_mask)
{
	struct client *c;
	pthread_t t;
	int fd;

	while (!stop) {
		fd = accept_or_signal(lfd, wait_mask);
		if (fd < 0)
			continue;
		c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		*c = (struct client){ img, export, fd, control };
		__atomic_add_fetch(&active, 1, __ATOMIC_SEQ_CST);
		if (pthread_create(&t, NULL, serve_client, c)) {
			__atomic_sub_fetch(&active, 1, __ATOMIC_SEQ_CST);
			close(fd);
			free(c);
			continue;
		}
		pthread_detach(t);
	}
}

struct control {
	int fd;
	struct blkrepl_image *img;
};

/* Stop signals stay blocked here: the main thread takes them. */
static void *control_main(void *data)
{
	struct control *c = data;
	sigset_t blocked;

	pthread_sigmask(SIG_BLOCK, NULL, &blocked);
	accept_loop(c->fd, c->img, NULL, 1, &blocked);
	return NULL;
}

int disk_server_main(struct xrepl_ctx *ctx, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "export", required_argument, NULL, 'e' },
		{ "control", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct sigaction sa = { .sa_handler = on_stop };
	const char *sock = NULL, *tcp = NULL, *export = NULL, *ctl = NULL;
	const char *state_dir = "/var/lib/xrepl";
	struct control control = { -1, NULL };
	pthread_t ctl_thread;
	sigset_t wait_mask;
	struct blkrepl_image *img;
	struct blkrepl_ctx *bctx;
	int c, ro = 0, lfd;

	while ((c = getopt_long(argc, argv, "s:l:e:c:S:rh", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'l':
			tcp = optarg;
			break;
		case 'e':
			export = optarg;
			break;
		case 'c':
			ctl = optarg;
			break;
		case 'S':
			state_dir = optarg;
			break;
		case 'r':
			ro = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (argc - optind != 1 || !sock == !tcp) {
		usage(stderr);
		return 1;
	}
	if (!export)
		export = strrchr(argv[optind], '/') ?
				 strrchr(argv[optind], '/') + 1 :
				 argv[optind];
	if (blkrepl_ctx_new(&bctx, log_library, ctx) < 0)
		return 1;
	if (blkrepl_image_open(bctx, argv[optind], ro, &img) < 0) {
		blkrepl_ctx_free(bctx);
		return 1;
	}
	if (ctl)
		blkrepl_image_load_dirty(img, state_dir);
	lfd = sock ? listen_unix(sock) : listen_tcp(tcp);
	stop_signals_block(&wait_mask);
	if (lfd >= 0 && ctl) {
		control = (struct control){ listen_unix(ctl), img };
		if (control.fd < 0 ||
		    pthread_create(&ctl_thread, NULL, control_main, &control)) {
			close(lfd);
			lfd = -1;
		}
	}
	if (lfd >= 0) {
		signal(SIGPIPE, SIG_IGN);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		accept_loop(lfd, img, export, 0, &wait_mask);
		close(lfd);
		if (ctl)
			blkrepl_image_save_dirty(img, state_dir);
		if (sock)
			unlink(sock);
		if (ctl)
			unlink(ctl);
	}
	/* a client still being served at exit keeps the image to the end */
	if (__atomic_load_n(&active, __ATOMIC_SEQ_CST))
		return lfd < 0;
	blkrepl_image_close(img);
	blkrepl_ctx_free(bctx);
	return lfd < 0;
}
