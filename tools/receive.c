// SPDX-License-Identifier: GPL-2.0-or-later
/* xrepl receive: the backup side, one-shot on stdio or as a daemon. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "credentials.h"
#include "listen.h"
#include "quorum.h"
#include "receive_disks.h"
#include "run_dir.h"
#include "subcommands.h"
#include "switchover.h"

/* receivers at once, authenticated or not: a flood forks no more */
#define MAX_RECEIVERS 64

static volatile int failover, stop;

/* what every receiver of this daemon shares */
struct receiver {
	struct credentials cred;
	const char *state_dir;
	const char *spill_dir;
	uint64_t disk_buffer;
	/* the --quorum options, for a switchover's protection back */
	const char *back_args[5];
};

static void on_failover(int sig)
{
	failover = 1;
}

static void on_stop(int sig)
{
	stop = 1;
}

/*
 * Ends the wait for a connection, so that a receiver that died is reported
 * at once.
 * Only the listener has it: libxl asserts that it finds SIGCHLD untouched.
 */
static void on_child(int sig)
{
}

/*
 * SIGTERM and SIGINT stop reception (the copy is destroyed and the primary
 * told; a listener stops its children first) and end the wait for a
 * connection; a closed ssh session's SIGHUP changes nothing.
 */
static void handle_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_failover;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s receive [options] (--stdio | --listen [ADDR:]PORT)\n\n"
		"Receive protected guests: each is kept as a paused backup domain built\n"
		"from its complete checkpoints, and resumed under its own name when its\n"
		"primary is lost (or on `xrepl failover DOMAIN').\n\n"
		"      --stdio           one primary on standard input and output (as\n"
		"                        `xrepl protect -s ssh' runs it)\n"
		"      --listen ADDR:PORT  accept primaries over TCP, one process each\n",
		prog_name);
	fputs(CREDENTIALS_HELP, f);
	fputs("      --timeout MS      the primary is lost after this much silence\n"
	      "                        (default 5000)\n"
	      "      --disk-map FROM=TO  a disk the primary has at FROM is at TO here\n"
	      "                        (repeatable; a backup on the primary's host,\n"
	      "                        a block device)\n"
	      "      --replica-dir DIR  where a replica --disk-map does not name may be\n"
	      "                        (default /var/lib/xrepl): the primary's path, if\n"
	      "                        it is a file under DIR; anything else is refused\n"
	      "      --disk-buffer MIB  uncommitted disk writes held in memory per\n"
	      "                        disk before they spill to a file (default 256)\n"
	      "      --spill-dir DIR   where they spill (default /var/tmp)\n"
	      "      --state-dir DIR   what each replica was last committed under, for\n"
	      "                        a resync next time (default /var/lib/xrepl)\n"
	      "      --ack-trace FILE  append \"<unix time> ack <epoch>\" just before\n"
	      "                        every ACK\n"
	      "      --quorum SOURCE   who allows a failover: corosync (this host must\n"
	      "                        be quorate, the primary's node out of the\n"
	      "                        cluster) or none (default: any silence of the\n"
	      "                        primary; nothing prevents split brain)\n"
	      "      --quorum-peer NODE  the primaries' node in corosync's nodelist\n"
	      "                        (default: the other node of two)\n"
	      "      --quorum-grace MS  how long the primary's node must be out of the\n"
	      "                        cluster before a failover (default and least:\n"
	      "                        token + consensus + 2 x quorum device timeout\n"
	      "                        + 4 s)\n\n"
	      "A disk on script=block-xrepl is replicated into the file or device its\n"
	      "target names (or --disk-map's TO); a missing file is created. It holds\n"
	      "exactly the primary's disk at the last complete checkpoint. When\n"
	      "protection stops without a failover, the next one sends only what\n"
	      "changed since (a resync), not the whole disk.\n\n"
	      "A guest its primary hands over (`xrepl switchover') runs here and is\n"
	      "protected back to the primary's host, whose receiver listens on the\n"
	      "primary's backup port, with this receiver's key or certificate.\n",
	      f);
}

/*
 * One primary: 0 after a failover or an unprotect, 1 otherwise. A guest a
 * switchover hands over is protected back to the primary's host.
 */
static int receive_one(struct xrepl_ctx *ctx, struct xrepl_receive_opts *o,
		       const struct receiver *rc)
{
	struct xrepl_switchover back = { 0 };
	struct xrepl_receive_hooks hooks;
	struct receive_disks *rd;
	char domain[256];
	int r;

	if (mkdir(rc->state_dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "%s: cannot make %s: %m\n", prog_name,
			rc->state_dir);
		return 1;
	}
	rd = receive_disks_new(ctx, rc->state_dir, rc->spill_dir,
			       rc->disk_buffer, &hooks);
	if (!rd)
		return 1;
	o->hooks = &hooks;
	o->switched = &back;
	o->domain = domain;
	o->domain_len = sizeof(domain);
	r = xrepl_receive(ctx, o);
	receive_disks_free(rd);
	if (!r && back.port)
		switchover_protect_back(o->in, &rc->cred, rc->back_args, &back,
					domain);
	return r < 0;
}

struct children {
	pid_t *pid;
	size_t n;
};

/* A receiver killed (the OOM killer, a crash) could not say so itself. */
static void children_reap(struct children *c, int block)
{
	int status;
	pid_t pid;
	size_t i;

	/* libxl in each child needs SIGCHLD: reap here, do not ignore */
	while ((pid = waitpid(-1, &status, block ? 0 : WNOHANG)) > 0) {
		if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM)
			fprintf(stderr,
				"%s: the receiver in process %d was killed by signal %d (%s)\n",
				prog_name, (int)pid, WTERMSIG(status),
				strsignal(WTERMSIG(status)));
		for (i = 0; i < c->n; i++)
			if (c->pid[i] == pid)
				c->pid[i] = c->pid[--c->n];
	}
	/* none left to wait for, whatever the list says: never spin on it */
	if (pid < 0 && errno == ECHILD)
		c->n = 0;
}

static void children_stop(struct children *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		kill(c->pid[i], SIGTERM);
	while (c->n)
		children_reap(c, 1);
	free(c->pid);
}

/* Each connection in a child of its own; 1 on errors. */
static int serve(struct xrepl_ctx *ctx, struct xrepl_receive_opts *o, int lfd,
		 const struct receiver *rc)
{
	struct sigaction sa = { .sa_handler = on_child };
	struct children c = { 0 };
	sigset_t wait_mask;
	pid_t *grown;
	int fd, r = 0;
	pid_t pid;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	stop_signals_block(&wait_mask);
	while (!stop) {
		children_reap(&c, 0);
		fd = accept_or_signal(lfd, &wait_mask);
		if (fd < 0 && (errno == EINTR || errno == EAGAIN ||
			       errno == ECONNABORTED))
			continue;
		if (fd < 0) {
			fprintf(stderr, "%s: accept: %s\n", prog_name,
				strerror(errno));
			r = 1;
			break;
		}
		/* anyone may connect: the key is proven in the child */
		if (c.n >= MAX_RECEIVERS) {
			fprintf(stderr,
				"%s: a connection refused: %d receivers run already\n",
				prog_name, MAX_RECEIVERS);
			close(fd);
			continue;
		}
		grown = realloc(c.pid, (c.n + 1) * sizeof(*c.pid));
		pid = grown ? fork() : -1;
		if (pid == 0) {
			signal(SIGCHLD, SIG_DFL);
			pthread_sigmask(SIG_SETMASK, &wait_mask, NULL);
			close(lfd);
			o->in = fd;
			o->out = fd;
			_exit(receive_one(ctx, o, rc));
		}
		if (grown)
			c.pid = grown;
		if (pid > 0)
			c.pid[c.n++] = pid;
		else
			fprintf(stderr, "%s: cannot serve a primary: %s\n",
				prog_name, strerror(errno));
		close(fd);
	}
	children_stop(&c);
	return r;
}

/* A switchover's protection back asks the same quorum. */
static void back_args(struct receiver *rc, const char *source, const char *peer)
{
	int n = 0;

	rc->back_args[n++] = "--quorum";
	rc->back_args[n++] = source;
	if (peer) {
		rc->back_args[n++] = "--quorum-peer";
		rc->back_args[n++] = peer;
	}
	rc->back_args[n] = NULL;
}

/* MAP: room for every --disk-map in ARGV */
static int receive(struct xrepl_ctx *ctx, int argc, char *argv[],
		   const char **map)
{
	static const struct option longopts[] = {
		{ "stdio", no_argument, NULL, 'S' },
		{ "listen", required_argument, NULL, 'l' },
		CREDENTIALS_OPTIONS,
		{ "timeout", required_argument, NULL, 't' },
		{ "disk-map", required_argument, NULL, 'm' },
		{ "disk-buffer", required_argument, NULL, 'B' },
		{ "spill-dir", required_argument, NULL, 'D' },
		{ "state-dir", required_argument, NULL, 'S' + 256 },
		{ "replica-dir", required_argument, NULL, 'R' },
		{ "ack-trace", required_argument, NULL, 'A' },
		{ "quorum", required_argument, NULL, 'Q' },
		{ "quorum-peer", required_argument, NULL, 'P' },
		{ "quorum-grace", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct xrepl_receive_opts o = {
		.timeout_ms = 5000,
		.cache_bytes = 4ull << 30,
		.failover = &failover,
	};
	struct receiver rc = { .state_dir = "/var/lib/xrepl",
			       .spill_dir = "/var/tmp" };
	const char *listen_spec = NULL, *ack_trace = NULL;
	const char *quorum_source = NULL, *quorum_peer = NULL;
	unsigned long long disk_buffer = 256;
	unsigned int grace_ms = 0;
	struct quorum *q = NULL;
	int use_stdio = 0, n_map = 0, c, lfd, r;

	o.disk_map = map;

	while ((c = getopt_long(argc, argv, "k:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			use_stdio = 1;
			break;
		case 'l':
			listen_spec = optarg;
			break;
		case 't':
			o.timeout_ms = (unsigned int)atoi(optarg);
			break;
		case 'm':
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				fprintf(stderr,
					"%s: --disk-map wants FROM=TO, not `%s'\n",
					prog_name, optarg);
				return 1;
			}
			map[n_map++] = optarg;
			break;
		case 'B':
			disk_buffer = strtoull(optarg, NULL, 10);
			break;
		case 'D':
			rc.spill_dir = optarg;
			break;
		case 'S' + 256:
			rc.state_dir = optarg;
			break;
		case 'R':
			if (optarg[0] != '/') {
				fprintf(stderr,
					"%s: --replica-dir wants an absolute path, not `%s'\n",
					prog_name, optarg);
				return 1;
			}
			o.replica_dir = optarg;
			break;
		case 'A':
			ack_trace = optarg;
			break;
		case 'Q':
			quorum_source = optarg;
			break;
		case 'P':
			quorum_peer = optarg;
			break;
		case 'G':
			grace_ms = (unsigned int)atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			if (credentials_option(&rc.cred, c, optarg))
				break;
			usage(stderr);
			return 1;
		}
	}
	if (use_stdio == !!listen_spec || optind != argc) {
		usage(stderr);
		return 1;
	}
	if (!disk_buffer || disk_buffer > (1ull << 24)) {
		fprintf(stderr, "%s: --disk-buffer must be 1 MiB to 16 TiB\n",
			prog_name);
		return 1;
	}
	rc.disk_buffer = disk_buffer << 20;
	if (quorum_setup(quorum_source, quorum_peer, grace_ms, o.timeout_ms,
			 &stop, &failover, &q) < 0)
		return 1;
	o.tls = credentials_load(ctx, &rc.cred, NULL);
	if (!o.tls) {
		quorum_close(q);
		return 1;
	}
	if (q) {
		o.arbiter = quorum_arbiter(q);
		back_args(&rc, quorum_source, quorum_peer);
	}
	r = 1;
	if (ack_trace && !(o.ack_trace = fopen(ack_trace, "ae"))) {
		fprintf(stderr, "%s: cannot open %s: %m\n", prog_name,
			ack_trace);
		goto out;
	}
	o.run_dir = run_dir();
	o.stop = &stop;
	handle_signals();
	if (use_stdio) {
		o.in = 0;
		o.out = 1;
		r = receive_one(ctx, &o, &rc);
		goto out;
	}
	lfd = listen_tcp(listen_spec);
	if (lfd < 0)
		goto out;
	r = serve(ctx, &o, lfd, &rc);
	close(lfd);
out:
	if (o.ack_trace)
		fclose(o.ack_trace);
	xrepl_tls_free(o.tls);
	quorum_close(q);
	return r;
}

int receive_main(struct xrepl_ctx *ctx, int argc, char *argv[])
{
	const char **map = calloc((size_t)argc, sizeof(*map));
	int r;

	if (!map)
		return 1;
	r = receive(ctx, argc, argv, map);
	free(map);
	return r;
}
