// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xrepl failover, unprotect and status: they act on the protect and receive
 * processes through /run/xrepl (pid and status files, signals).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run_dir.h"
#include "subcommands.h"

static int one_domain(int argc, char *argv[], const char *what)
{
	if (argc == 2 && strcmp(argv[1], "-h") && strcmp(argv[1], "--help"))
		return 0;
	fprintf(argc == 2 ? stdout : stderr, "Usage: %s %s DOMAIN\n\n%s\n",
		prog_name, argv[0], what);
	return argc == 2 ? 2 : 1;
}

int failover_main(struct xrepl_ctx *ctx, int argc, char *argv[])
{
	pid_t pid;
	int r = one_domain(
		argc, argv,
		"Resume the backup of DOMAIN now, from its last complete checkpoint,\n"
		"as if its primary had died. Run on the backup host.");

	if (r)
		return r - 2 ? r : 0;
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

int unprotect_main(struct xrepl_ctx *ctx, int argc, char *argv[])
{
	struct timespec tick = { 0, 100000000 };
	pid_t pid;
	int i, r = one_domain(
		       argc, argv,
		       "Stop protecting DOMAIN: the primary stops checkpointing, the backup\n"
		       "domain is destroyed. Run on the primary host.");

	if (r)
		return r - 2 ? r : 0;
	pid = pid_file_read(argv[1], "primary");
	if (pid < 0)
		return 1;
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

static void show(const char *path, int json)
{
	char line[4096];
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		fputs(line, stdout);
	fclose(f);
	(void)json;
}

int status_main(struct xrepl_ctx *ctx, int argc, char *argv[])
{
	int json = argc > 1 && !strcmp(argv[1], "--json");
	const char *only = argc > 1 + json ? argv[1 + json] : NULL;
	char path[4096];
	struct dirent *de;
	size_t n;
	DIR *d;

	if (argc > 1 &&
	    (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("Usage: %s status [--json] [DOMAIN]\n\n"
		       "Show each protected domain on this host, as its primary or backup:\n"
		       "state, epochs, interval, pause and ACK latency, dirty pages, bytes.\n",
		       prog_name);
		return 0;
	}
	d = opendir(run_dir());
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 5, ".json"))
			continue;
		if (only && strncmp(de->d_name, only, strlen(only)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", run_dir(), de->d_name);
		show(path, json);
	}
	closedir(d);
	return 0;
}
