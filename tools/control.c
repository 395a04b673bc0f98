// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xrepl failover and unprotect: they act on the protect and receive
 * processes through /run/xrepl (pid and status files, signals).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "protect_netbuf.h"
#include "run_dir.h"
#include "subcommands.h"

/* 0 to go on with argv[1] as the domain, else the exit status. */
static int one_domain(int argc, char *argv[], const char *what, int *done)
{
	int help = argc == 2 &&
		   (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));

	*done = help || argc != 2;
	if (!*done)
		return 0;
	fprintf(help ? stdout : stderr, "Usage: %s %s DOMAIN\n\n%s\n",
		prog_name, argv[0], what);
	return !help;
}

int failover_main(struct xrepl_ctx *ctx, int argc, char *argv[])
{
	static const char what[] =
		"Resume the backup of DOMAIN now, from its last complete checkpoint,\n"
		"as if its primary had died. Run on the backup host.";
	pid_t pid;
	int done, r = one_domain(argc, argv, what, &done);

	if (done)
		return r;
	pid = pid_file_read(argv[1], "backup");
	if (pid < 0)
		return 1;
	if (kill(pid, SIGUSR1) < 0) {
		fprintf(stderr, "%s: cannot signal the receiver of %s: %s\n",
			prog_name, argv[1], strerror(errno));
		return 1;
	}
	return 0;
}

/*
 * After a primary was killed: its status file still says which domain, which
 * may be suspended mid-checkpoint with its output held for good.
 */
static int remove_leftovers(struct xrepl_ctx *ctx, const char *domain)
{
	char path[4096], line[16384], domid[32];
	uint32_t id;
	int n;

	run_path(path, sizeof(path), domain, "primary", "json");
	if (status_read(path, line, sizeof(line)) < 0)
		return 0;
	status_field(line, "domid", domid, sizeof(domid));
	if (!strcmp(domid, "-"))
		return 0;
	id = (uint32_t)strtoul(domid, NULL, 10);
	n = protect_netbuf_cleanup(ctx, id);
	if (xrepl_resume_suspended(ctx, id) > 0) {
		printf("resumed %s, left suspended by its killed primary\n",
		       domain);
		n++;
	}
	return n;
}

int unprotect_main(struct xrepl_ctx *ctx, int argc, char *argv[])
{
	static const char what[] =
		"Stop protecting DOMAIN: the primary stops checkpointing, releases\n"
		"the output it holds and the backup domain is destroyed. Run on the\n"
		"primary host. If the primary was killed, this releases and removes\n"
		"the network buffers it left behind.";
	struct timespec tick = { 0, 100000000 };
	pid_t pid;
	int i, done, r = one_domain(argc, argv, what, &done);

	if (done)
		return r;
	pid = pid_file_read(argv[1], "primary");
	if (pid < 0)
		return remove_leftovers(ctx, argv[1]) > 0 ? 0 : 1;
	kill(pid, SIGTERM);
	for (i = 0; i < 300 && kill(pid, 0) == 0; i++)
		nanosleep(&tick, NULL);
	if (kill(pid, 0) == 0) {
		fprintf(stderr,
			"%s: the primary of %s (pid %d) did not stop within 30 s\n",
			prog_name, argv[1], (int)pid);
		return 1;
	}
	return 0;
}
