// SPDX-License-Identifier: GPL-2.0-or-later
/* xrepl protect: checkpoint a running guest to a backup host. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "credentials.h"
#include "netbuf.h"
#include "protect_disks.h"
#include "protect_netbuf.h"
#include "quorum.h"
#include "run_dir.h"
#include "subcommands.h"

#define DEFAULT_PORT "7800"

static volatile int stop, switch_over;

static void on_stop(int sig)
{
	stop = 1;
}

static void on_switchover(int sig)
{
	switch_over = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s protect [options] DOMAIN BACKUP-HOST[:PORT]\n"
		"       %s protect -b -F [options] DOMAIN\n\n"
		"Checkpoint a running PVH guest to a backup host running `xrepl receive'.\n\n"
		"  -i, --interval MS     checkpoint interval (default 100)\n"
		"      --adaptive        let the interval follow the guest's dirty rate\n"
		"                        (moving average), from MS/4 to 4*MS, so that a\n"
		"                        checkpoint carries about 8 MiB\n"
		"      --timeout MS      heartbeat timeout: the backup is lost after this\n"
		"                        much silence or without an ACK (default 5000)\n"
		"      --compress MODE   none, lz4, xbzrle or xbzrle+lz4 (default)\n"
		"      --cache-size MIB  page cache for XBZRLE (default 256)\n",
		prog_name, prog_name);
	fputs(CREDENTIALS_HELP, f);
	fputs("  -s, --ssh CMD         reach the backup by running `CMD BACKUP-HOST xrepl\n"
	      "                        receive --stdio' (as xl does); with -s '' the host\n"
	      "                        argument is the whole command\n"
	      "  -b, --blackhole       no backup: checkpoint and encode, then drop\n"
	      "                        (measures the cost on the guest; needs -F)\n"
	      "  -n, --no-netbuf       do not buffer network output (needs -F)\n"
	      "      --netbuf-limit MIB  what a vif may hold before its frames are\n"
	      "                        dropped (default 16)\n"
	      "      --netbuf-trace FILE  append \"<unix time> buffer|release <epoch>\"\n"
	      "                        for every barrier and release\n"
	      "  -d, --no-disk         do not replicate disks (needs -F)\n"
	      "  -F, --unsafe          allow -b, -n and -d\n"
	      "      --reboot-wait SEC  how long a rebooting guest may take to come\n"
	      "                        back as a new domain, which is then protected\n"
	      "                        again (default 120; 0: protection ends)\n"
	      "      --reconnect SEC   when the backup is lost or restarts, try it\n"
	      "                        again every SEC s while the guest runs (default\n"
	      "                        5; 0: protection ends)\n"
	      "      --failover-on-crash  when the guest crashes, run it on the backup\n"
	      "                        from the last checkpoint and destroy it here\n"
	      "                        (default: the crash ends protection, and the\n"
	      "                        guest's on_crash applies)\n"
	      "      --quorum SOURCE   who allows the guest to run on when the backup\n"
	      "                        is lost: corosync (only while this host is\n"
	      "                        quorate; otherwise it is paused) or none\n"
	      "                        (default; nothing prevents split brain)\n"
	      "      --quorum-peer NODE  the backup's node in corosync's nodelist\n"
	      "                        (default: the other node of two)\n\n"
	      "`xrepl switchover DOMAIN' moves the guest to the backup host, which then\n"
	      "protects it back to this one (over TCP only).\n\n"
	      "Every vif's output is held until the backup has acknowledged the\n"
	      "checkpoint that produced it, and every disk (each must be on\n"
	      "script=block-xrepl) is replicated with it: the backup's ACK of a\n"
	      "checkpoint covers the disk writes the guest had seen complete when it\n"
	      "was suspended. Stop with `xrepl unprotect DOMAIN' or SIGTERM (SIGHUP is\n"
	      "ignored). When the guest shuts down, crashes or is destroyed, the backup\n"
	      "destroys its copy and protection ends (a crash fails the guest over\n"
	      "with --failover-on-crash).\n",
	      f);
}

/* HOST, HOST:PORT, [V6ADDR] or [V6ADDR]:PORT */
static void split_host_port(const char *target, char *host, size_t len,
			    const char **port)
{
	const char *end, *colon = strchr(target, ':');

	*port = DEFAULT_PORT;
	if (target[0] == '[' && (end = strchr(target, ']'))) {
		snprintf(host, len, "%.*s", (int)(end - target - 1),
			 target + 1);
		if (end[1] == ':')
			*port = end + 2;
		return;
	}
	if (colon && !strchr(colon + 1, ':')) {
		snprintf(host, len, "%.*s", (int)(colon - target), target);
		*port = colon + 1;
		return;
	}
	snprintf(host, len, "%s", target);
}

/* connect() bounded by TIMEOUT_MS: a silent network does not hold us. */
static int connect_within(int fd, const struct addrinfo *ai, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int flags = fcntl(fd, F_GETFL), e = 0;
	socklen_t len = sizeof(e);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS)
			return -1;
		if (poll(&pfd, 1, timeout_ms) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
			return -1;
		if (e) {
			errno = e;
			return -1;
		}
	}
	return fcntl(fd, F_SETFL, flags);
}

/* SAY: report a failure (a reconnecting primary says it once) */
static int connect_tcp(const char *target, int timeout_ms, int say)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	const char *port;
	char host[256];
	int fd = -1, r;

	split_host_port(target, host, sizeof(host), &port);
	r = getaddrinfo(host, port, &hints, &res);
	if (r) {
		if (say)
			fprintf(stderr, "%s: cannot resolve %s: %s\n",
				prog_name, host, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect_within(fd, ai, timeout_ms) < 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0 && say)
		fprintf(stderr, "%s: cannot connect to %s port %s: %s\n",
			prog_name, host, port, strerror(errno));
	return fd;
}

/* Runs the transport command with a socket as its stdin and stdout. */
static int connect_command(const char *cmd, const char *host, pid_t *pid)
{
	char *line;
	int sv[2];

	if (cmd[0]) {
		if (asprintf(&line, "exec %s %s xrepl receive --stdio", cmd,
			     host) < 0)
			return -1;
	} else {
		line = strdup(host);
	}
	if (!line || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	*pid = fork();
	if (*pid == 0) {
		dup2(sv[1], 0);
		dup2(sv[1], 1);
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
		_exit(127);
	}
	free(line);
	close(sv[1]);
	if (*pid < 0) {
		close(sv[0]);
		return -1;
	}
	return sv[0];
}

/*
 * What the backup protects the guest back with after a switchover: these
 * options, and a receiver on this host on the port the backup's has.
 */
static const struct xrepl_switchover *
switchover_back(struct xrepl_switchover *s, const struct xrepl_protect_opts *o,
		const char *target, int no_net, int no_disk)
{
	const char *port;
	char host[256];

	split_host_port(target, host, sizeof(host), &port);
	s->port = (uint16_t)atoi(port);
	s->interval_ms = o->interval_ms;
	s->timeout_ms = o->timeout_ms;
	s->flags = (o->adaptive ? XREPL_SWITCHOVER_ADAPTIVE : 0) |
		   (no_net ? XREPL_SWITCHOVER_NO_NETBUF : 0) |
		   (no_disk ? XREPL_SWITCHOVER_NO_DISK : 0) |
		   (o->failover_on_crash ? XREPL_SWITCHOVER_CRASH_FAILOVER : 0);
	return s->port ? s : NULL;
}

static int connect_and_protect(struct xrepl_ctx *ctx,
			       struct xrepl_protect_opts *o,
			       struct xrepl_tls *tls, const char *ssh,
			       const char *target, int say)
{
	char status_file[4096];
	pid_t child = 0;
	int fd = -1, r, status;

	if (!o->blackhole) {
		o->tls = tls;
		fd = ssh ? connect_command(ssh, target, &child) :
			   connect_tcp(target, (int)o->timeout_ms, say);
		if (fd < 0)
			return -ENOTCONN;
	}
	o->in = fd;
	o->out = fd;
	run_path(status_file, sizeof(status_file), o->domain, "primary",
		 "json");
	o->status_file = status_file;
	r = xrepl_protect(ctx, o);
	if (fd >= 0)
		close(fd);
	if (child > 0)
		waitpid(child, &status, 0);
	return r;
}

/* The domain DOMAIN once more, under another id: 0, or -ETIMEDOUT. */
static int wait_for_reboot(struct xrepl_ctx *ctx, const char *domain,
			   uint32_t old, unsigned int seconds)
{
	unsigned int i;
	uint32_t domid;

	fprintf(stderr, "%s: %s reboots: waiting up to %u s for it\n",
		prog_name, domain, seconds);
	for (i = 0; i < seconds * 10 && !stop; i++) {
		if (xrepl_domain_running(ctx, domain, &domid) == 1 &&
		    domid != old)
			return 0;
		usleep(100000);
	}
	fprintf(stderr, "%s: %s did not come back within %u s\n", prog_name,
		domain, seconds);
	return -ETIMEDOUT;
}

/*
 * SECONDS on, whether to try the backup again: 1 while the guest runs, 0
 * once it is gone or protection is stopped.
 */
static int wait_to_reconnect(struct xrepl_ctx *ctx, const char *domain,
			     unsigned int seconds)
{
	unsigned int i;
	uint32_t domid;
	int r;

	for (i = 0; i < seconds * 10 && !stop; i++)
		usleep(100000);
	if (stop)
		return 0;
	r = xrepl_domain_running(ctx, domain, &domid);
	if (!r)
		fprintf(stderr, "%s: %s is gone: protection ends\n", prog_name,
			domain);
	return r;
}

/* What a backup that restarts or comes back answers meanwhile. */
static int transient(int r)
{
	return r == -ENOTCONN || r == -ETIMEDOUT || r == -EPIPE ||
	       r == -ECONNRESET || r == -ECONNREFUSED;
}

/*
 * Protection, again after each reboot of the guest, and again when the
 * backup is lost or restarts: tried every RECONNECT seconds while the
 * guest runs (0: protection ends there). A backup that refuses the guest
 * (it runs the guest itself, say) ends it.
 */
static int protect_loop(struct xrepl_ctx *ctx, struct xrepl_protect_opts *o,
			struct xrepl_tls *tls, const char *ssh,
			const char *target, unsigned int reboot_wait,
			unsigned int reconnect)
{
	enum xrepl_stop ended;
	int r, gone, retrying = 0;
	uint32_t domid;

	o->ended = &ended;
	o->backup_gone = &gone;
	for (;;) {
		ended = 0;
		gone = 0;
		if (xrepl_domain_running(ctx, o->domain, &domid) < 0)
			domid = 0;
		r = connect_and_protect(ctx, o, tls, ssh, target, !retrying);
		if (stop)
			return r;
		if (ended == XREPL_STOP_REBOOT && reboot_wait) {
			r = wait_for_reboot(ctx, o->domain, domid, reboot_wait);
			if (r < 0)
				return r;
			retrying = 0;
			continue;
		}
		if (!reconnect || ended ||
		    !(gone || (retrying && transient(r))))
			return r;
		if (!retrying)
			fprintf(stderr,
				"%s: %s runs unprotected: trying its backup again every %u s\n",
				prog_name, o->domain, reconnect);
		retrying = 1;
		r = wait_to_reconnect(ctx, o->domain, reconnect);
		if (r <= 0)
			return r;
	}
}

static int protect_run(struct xrepl_ctx *ctx, struct xrepl_protect_opts *o,
		       const struct credentials *cred, const char *ssh,
		       const char *target, unsigned int reboot_wait,
		       unsigned int reconnect)
{
	struct xrepl_tls *tls = NULL;
	char host[256];
	const char *port;
	int r;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	signal(SIGUSR1, on_switchover);
	/* a closed ssh session must not end protection */
	signal(SIGHUP, SIG_IGN);
	if (!o->blackhole) {
		/* over ssh, ssh knows the host; over TCP its certificate says */
		if (!ssh)
			split_host_port(target, host, sizeof(host), &port);
		tls = credentials_load(ctx, cred, ssh ? NULL : host);
		if (!tls)
			return -EINVAL;
	}
	/* xrepl unprotect finds us between sessions too */
	r = pid_file_write(o->domain, "primary");
	if (!r) {
		r = protect_loop(ctx, o, tls, ssh, target, reboot_wait,
				 reconnect);
		pid_file_remove(o->domain, "primary");
	}
	xrepl_tls_free(tls);
	return r;
}

int protect_main(struct xrepl_ctx *ctx, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "adaptive", no_argument, NULL, 'a' },
		{ "timeout", required_argument, NULL, 't' },
		{ "compress", required_argument, NULL, 'c' },
		{ "cache-size", required_argument, NULL, 'C' },
		CREDENTIALS_OPTIONS,
		{ "ssh", required_argument, NULL, 's' },
		{ "blackhole", no_argument, NULL, 'b' },
		{ "no-netbuf", no_argument, NULL, 'n' },
		{ "netbuf-limit", required_argument, NULL, 'L' },
		{ "netbuf-trace", required_argument, NULL, 'T' },
		{ "no-disk", no_argument, NULL, 'd' },
		{ "unsafe", no_argument, NULL, 'F' },
		{ "reboot-wait", required_argument, NULL, 'R' },
		{ "reconnect", required_argument, NULL, 'r' },
		{ "failover-on-crash", no_argument, NULL, 'X' + 256 },
		{ "quorum", required_argument, NULL, 'Q' },
		{ "quorum-peer", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct xrepl_protect_opts o = {
		.interval_ms = 100,
		.timeout_ms = 5000,
		.compress = XREPL_COMPRESS_XBZRLE_LZ4,
		.cache_bytes = XREPL_CACHE_BYTES_DEFAULT,
		.stop = &stop,
		.switch_over = &switch_over,
	};
	struct credentials cred = { 0 };
	const char *ssh = NULL;
	const char *netbuf_trace = NULL, *quorum_source = NULL;
	const char *quorum_peer = NULL;
	int no_net = 0, no_disk = 0, unsafe = 0, c, r;
	unsigned int reboot_wait = 120, reconnect = 5;
	struct quorum *q = NULL;
	unsigned long netbuf_limit = NETBUF_LIMIT_DEFAULT;
	struct protect_netbuf *pn = NULL;
	struct protect_disks *pd = NULL;
	struct xrepl_epoch_hooks hooks[2];
	struct xrepl_switchover back;

	while ((c = getopt_long(argc, argv, "i:k:s:bndFh", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'i':
			o.interval_ms = (unsigned int)atoi(optarg);
			break;
		case 'a':
			o.adaptive = 1;
			break;
		case 't':
			o.timeout_ms = (unsigned int)atoi(optarg);
			break;
		case 'c':
			if (xrepl_compress_parse(optarg, &o.compress) < 0) {
				fprintf(stderr,
					"%s: unknown compression `%s' (none, lz4, xbzrle, xbzrle+lz4)\n",
					prog_name, optarg);
				return 1;
			}
			break;
		case 'C':
			o.cache_bytes = strtoull(optarg, NULL, 10) << 20;
			break;
		case 's':
			ssh = optarg;
			break;
		case 'b':
			o.blackhole = 1;
			break;
		case 'n':
			no_net = 1;
			break;
		case 'L':
			netbuf_limit = strtoul(optarg, NULL, 10) << 20;
			break;
		case 'T':
			netbuf_trace = optarg;
			break;
		case 'd':
			no_disk = 1;
			break;
		case 'F':
			unsafe = 1;
			break;
		case 'R':
			reboot_wait = (unsigned int)atoi(optarg);
			break;
		case 'r':
			reconnect = (unsigned int)atoi(optarg);
			break;
		case 'X' + 256:
			o.failover_on_crash = 1;
			break;
		case 'Q':
			quorum_source = optarg;
			break;
		case 'P':
			quorum_peer = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			if (credentials_option(&cred, c, optarg))
				break;
			usage(stderr);
			return 1;
		}
	}
	if (argc - optind != 2 - o.blackhole) {
		usage(stderr);
		return 1;
	}
	if (o.interval_ms < 10 || o.timeout_ms < 200 || !o.cache_bytes) {
		fprintf(stderr,
			"%s: --interval must be at least 10 ms, --timeout at least 200 ms, --cache-size positive\n",
			prog_name);
		return 1;
	}
	if ((no_net || no_disk || o.blackhole) && !unsafe) {
		fprintf(stderr,
			"%s: -b, -n and -d give up the backup, output commit or disk consistency: add -F to mean it\n",
			prog_name);
		return 1;
	}
	if (!netbuf_limit || netbuf_limit > INT32_MAX) {
		fprintf(stderr, "%s: --netbuf-limit must be 1 to 2047 MiB\n",
			prog_name);
		return 1;
	}
	if (o.blackhole && quorum_source) {
		fprintf(stderr, "%s: -b has no backup to ask a quorum about\n",
			prog_name);
		return 1;
	}
	if (!o.blackhole && quorum_setup(quorum_source, quorum_peer, 0,
					 o.timeout_ms, &stop, NULL, &q) < 0)
		return 1;
	if (q)
		o.arbiter = quorum_arbiter(q);
	o.hooks = hooks;
	if (!no_net) {
		pn = protect_netbuf_new(ctx, (uint32_t)netbuf_limit,
					netbuf_trace, &hooks[o.n_hooks++]);
		if (!pn) {
			quorum_close(q);
			return 1;
		}
	}
	if (!no_disk) {
		pd = protect_disks_new(ctx, o.timeout_ms, o.blackhole,
				       &hooks[o.n_hooks++]);
		if (!pd) {
			protect_netbuf_free(pn);
			quorum_close(q);
			return 1;
		}
	}
	o.domain = argv[optind];
	if (!ssh && !o.blackhole)
		o.back = switchover_back(&back, &o, argv[optind + 1], no_net,
					 no_disk);
	r = protect_run(ctx, &o, &cred, ssh, argv[optind + 1], reboot_wait,
			reconnect);
	protect_disks_free(pd);
	protect_netbuf_free(pn);
	quorum_close(q);
	return r < 0;
}
