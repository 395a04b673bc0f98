// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xrepl switchover: the planned move of a protected guest to its backup
 * host. On the primary host it asks the running xrepl protect (SIGUSR1) to
 * hand the guest over at its next checkpoint and reports how it went; on
 * the backup host, the receiver that took the guest over becomes its
 * xrepl protect back to the old primary's host (switchover_protect_back).
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "run_dir.h"
#include "subcommands.h"
#include "switchover.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s switchover [--wait SEC] DOMAIN\n\n"
		"Move DOMAIN, protected from this host, to its backup host: at the next\n"
		"checkpoint the guest stays suspended here, the backup runs it from that\n"
		"checkpoint, the copy here is destroyed, and the backup protects the guest\n"
		"back to this host, whose `xrepl receive --listen' must listen on the port\n"
		"the backup's does. Prints how long the guest stood still.\n\n"
		"      --wait SEC  give up waiting for the outcome after SEC s (default\n"
		"                  600; the switchover itself goes on)\n",
		prog_name);
}

/* /proc/net/tcp{,6}: a socket of this host listens on PORT */
static int listening(unsigned int port)
{
	static const char *const tables[] = { "/proc/net/tcp",
					      "/proc/net/tcp6" };
	unsigned int local_port, state;
	char line[512];
	size_t i;
	FILE *f;
	int found = 0;

	for (i = 0; i < 2 && !found; i++) {
		f = fopen(tables[i], "re");
		if (!f)
			continue;
		while (!found && fgets(line, sizeof(line), f))
			found = sscanf(line, "%*s %*[0-9A-Fa-f]:%x %*s %x",
				       &local_port, &state) == 2 &&
				local_port == port && state == 0x0a;
		fclose(f);
	}
	return found;
}

/* The primary's state, "-" without a status file. */
static const char *state_of(const char *path, char *state, size_t len)
{
	char line[16384];

	if (status_read(path, line, sizeof(line)) < 0)
		return strcpy(state, "-");
	return status_field(line, "state", state, len);
}

/*
 * Until the primary PID has said the guest runs on the backup, or ended,
 * at most SECONDS: 0 if so. Its own domain goes after that, which takes
 * seconds more.
 */
static int wait_for_outcome(pid_t pid, const char *path, unsigned int seconds)
{
	struct timespec tick = { 0, 100000000 };
	char state[64];
	unsigned int i;

	for (i = 0; i < seconds * 10; i++) {
		if (kill(pid, 0) < 0 ||
		    !strcmp(state_of(path, state, sizeof(state)),
			    "switched-over"))
			return 0;
		nanosleep(&tick, NULL);
	}
	return -ETIMEDOUT;
}

static int report(const char *domain)
{
	char path[4096], line[16384], state[64], why[256], down[32];

	run_path(path, sizeof(path), domain, "primary", "json");
	if (status_read(path, line, sizeof(line)) < 0) {
		fprintf(stderr, "%s: %s has no status file: see its log\n",
			prog_name, path);
		return 1;
	}
	status_field(line, "state", state, sizeof(state));
	if (!strcmp(state, "switched-over")) {
		printf("%s runs on the backup host now and is protected back to this one; it stood still %s ms\n",
		       domain,
		       status_field(line, "downtime_ms", down, sizeof(down)));
		return 0;
	}
	fprintf(stderr, "%s: the switchover of %s did not happen: %s: %s\n",
		prog_name, domain, state,
		status_field(line, "why", why, sizeof(why)));
	return 1;
}

int switchover_main(struct xrepl_ctx *ctx, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "wait", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	char path[4096], line[16384], port[32], state[64];
	unsigned int wait_s = 600;
	const char *domain;
	pid_t pid;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'w':
			wait_s = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (argc - optind != 1 || !wait_s) {
		usage(stderr);
		return 1;
	}
	domain = argv[optind];
	pid = pid_file_read(domain, "primary");
	if (pid < 0)
		return 1;
	run_path(path, sizeof(path), domain, "primary", "json");
	if (status_read(path, line, sizeof(line)) < 0 ||
	    !atoi(status_field(line, "switchover_port", port, sizeof(port)))) {
		fprintf(stderr,
			"%s: the protection of %s cannot hand it over: a switchover needs its backup reached over TCP (not -s)\n",
			prog_name, domain);
		return 1;
	}
	if (strcmp(status_field(line, "state", state, sizeof(state)),
		   "protecting")) {
		fprintf(stderr,
			"%s: %s is not protected now (%s): there is no backup to hand it to\n",
			prog_name, domain, state);
		return 1;
	}
	if (!listening((unsigned int)atoi(port))) {
		fprintf(stderr,
			"%s: nothing listens on port %s here: start `xrepl receive --listen PORT' on this host first, the backup protects %s back to it\n",
			prog_name, port, domain);
		return 1;
	}
	if (kill(pid, SIGUSR1) < 0) {
		fprintf(stderr, "%s: cannot signal the primary of %s: %s\n",
			prog_name, domain, strerror(errno));
		return 1;
	}
	if (wait_for_outcome(pid, path, wait_s) < 0) {
		fprintf(stderr,
			"%s: the switchover of %s is not over after %u s: see `xrepl status %s'\n",
			prog_name, domain, wait_s, domain);
		return 1;
	}
	return report(domain);
}

/* HOST:PORT (or [HOST]:PORT) of the peer on FD, to reach its receiver */
static int peer_target(int fd, unsigned int port, char *buf, size_t len)
{
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	char host[NI_MAXHOST];

	if (getpeername(fd, (struct sockaddr *)&sa, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&sa, sl, host, sizeof(host), NULL, 0,
			NI_NUMERICHOST))
		return -1;
	snprintf(buf, len, sa.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
		 port);
	return 0;
}

void switchover_protect_back(int fd, const struct credentials *cred,
			     const char *const *extra,
			     const struct xrepl_switchover *s,
			     const char *domain)
{
	char target[NI_MAXHOST + 16], interval[16], timeout[16];
	const char *argv[32];
	int n = 0;
	pid_t pid;

	if (peer_target(fd, s->port, target, sizeof(target)) < 0) {
		fprintf(stderr,
			"%s: %s runs here, but the old primary's address is unknown: protect it by hand\n",
			prog_name, domain);
		return;
	}
	snprintf(interval, sizeof(interval), "%u", s->interval_ms);
	snprintf(timeout, sizeof(timeout), "%u", s->timeout_ms);
	argv[n++] = prog_name;
	argv[n++] = "protect";
	n += credentials_args(cred, argv + n);
	argv[n++] = "-i";
	argv[n++] = interval;
	argv[n++] = "--timeout";
	argv[n++] = timeout;
	if (s->flags & XREPL_SWITCHOVER_ADAPTIVE)
		argv[n++] = "--adaptive";
	if (s->flags & (XREPL_SWITCHOVER_NO_NETBUF | XREPL_SWITCHOVER_NO_DISK))
		argv[n++] = "-F";
	if (s->flags & XREPL_SWITCHOVER_NO_NETBUF)
		argv[n++] = "-n";
	if (s->flags & XREPL_SWITCHOVER_NO_DISK)
		argv[n++] = "-d";
	if (s->flags & XREPL_SWITCHOVER_CRASH_FAILOVER)
		argv[n++] = "--failover-on-crash";
	while (extra && *extra && n < 28)
		argv[n++] = *extra++;
	argv[n++] = domain;
	argv[n++] = target;
	argv[n] = NULL;
	fprintf(stderr, "%s: protecting %s back to %s\n", prog_name, domain,
		target);
	/* a session of its own: the receive daemon's end is not its end */
	pid = fork();
	if (pid) {
		if (pid < 0)
			fprintf(stderr, "%s: cannot protect %s back: %s\n",
				prog_name, domain, strerror(errno));
		return;
	}
	setsid();
	execv("/proc/self/exe", (char *const *)argv);
	fprintf(stderr, "%s: cannot run xrepl protect: %s\n", prog_name,
		strerror(errno));
	_exit(127);
}
