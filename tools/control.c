// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xrepl failover, unprotect and status: they act on the protect and receive
 * processes through /run/xrepl (pid and status files, signals).
 */
#include <dirent.h>
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

/* The objects of the status line's array KEY, one at a time: *P is
 * NULL to start, NULL again after the last. */
static const char *next_object(const char *line, const char *key,
			       const char **p)
{
	char pat[64];
	const char *start, *end;

	snprintf(pat, sizeof(pat), "\"%s\": [", key);
	start = strstr(line, pat);
	end = start ? strchr(start, ']') : NULL;
	if (!end)
		return *p = NULL;
	*p = strchr(*p ? *p + 1 : start, '{');
	if (*p && *p > end)
		*p = NULL;
	return *p;
}

/* netbuf's counters, one line per vif */
static void show_netbuf(const char *line)
{
	char vif[64], hp[32], hb[32], rp[32], rb[32], dp[32];
	const char *p = NULL;

	if (!strstr(line, "\"netbuf\": [")) {
		printf("  network output not buffered (-n)\n");
		return;
	}
	while (next_object(line, "netbuf", &p))
		printf("  %s: held %s packets (%s bytes), released %s packets (%s bytes), dropped %s\n",
		       status_field(p, "vif", vif, sizeof(vif)),
		       status_field(p, "held_packets", hp, sizeof(hp)),
		       status_field(p, "held_bytes", hb, sizeof(hb)),
		       status_field(p, "released_packets", rp, sizeof(rp)),
		       status_field(p, "released_bytes", rb, sizeof(rb)),
		       status_field(p, "dropped_packets", dp, sizeof(dp)));
}

/* blkrepl's, one line per disk: sent (primary) or held (backup) */
static void show_disks(const char *line, int primary)
{
	char vdev[64], a[4096], b[32], c[32], d[32], e[32];
	const char *p = NULL;

	if (!strstr(line, "\"disks\": [")) {
		if (primary)
			printf("  disks not replicated (-d)\n");
		return;
	}
	while (next_object(line, "disks", &p)) {
		status_field(p, "vdev", vdev, sizeof(vdev));
		if (primary) {
			printf("  disk %s: %s bytes of changes sent\n", vdev,
			       status_field(p, "sent_bytes", a, sizeof(a)));
			continue;
		}
		printf("  disk %s: replica %s at epoch %s, %s bytes held, %s spilled, %s writes applied\n",
		       vdev, status_field(p, "replica", a, sizeof(a)),
		       status_field(p, "committed", b, sizeof(b)),
		       status_field(p, "held_bytes", c, sizeof(c)),
		       status_field(p, "spilled_bytes", d, sizeof(d)),
		       status_field(p, "applied_writes", e, sizeof(e)));
	}
}

static void show(const char *path, int json)
{
	char line[16384], a[64], b[64], c[64], d[64], e[64], f2[64];

	if (status_read(path, line, sizeof(line)) < 0)
		return;
	if (json) {
		fputs(line, stdout);
		return;
	}
	printf("%s (%s): %s, %s epochs\n",
	       status_field(line, "domain", a, sizeof(a)),
	       status_field(line, "role", b, sizeof(b)),
	       status_field(line, "state", c, sizeof(c)),
	       status_field(line, "epochs", d, sizeof(d)));
	if (!strcmp(status_field(line, "split_brain_guard", e, sizeof(e)),
		    "none"))
		printf("  nothing prevents split brain (no --quorum)\n");
	else if (strcmp(e, "-"))
		printf("  split brain guarded by %s's quorum\n", e);
	if (strcmp(b, "primary")) {
		printf("  bytes raw %s, wire %s\n",
		       status_field(line, "bytes_raw", a, sizeof(a)),
		       status_field(line, "bytes_wire", e, sizeof(e)));
		show_disks(line, 0);
		return;
	}
	if (strcmp(status_field(line, "why", a, sizeof(a)), "-") && a[0])
		printf("  why: %s\n", a);
	printf("  interval %s ms, pause %s ms (avg %s, max %s), ack latency %s ms (avg %s)\n",
	       status_field(line, "interval_ms", a, sizeof(a)),
	       status_field(line, "last", b, sizeof(b)),
	       status_field(line, "avg", c, sizeof(c)),
	       status_field(line, "max", d, sizeof(d)),
	       status_field(strstr(line, "ack_latency_ms") ?
				    strstr(line, "ack_latency_ms") :
				    line,
			    "last", e, sizeof(e)),
	       status_field(strstr(line, "ack_latency_ms") ?
				    strstr(line, "ack_latency_ms") :
				    line,
			    "avg", f2, sizeof(f2)));
	printf("  dirty pages (last epoch) %s, bytes raw %s, wire %s, compression %s\n",
	       status_field(line, "dirty_pages_last", a, sizeof(a)),
	       status_field(line, "bytes_raw", b, sizeof(b)),
	       status_field(line, "bytes_wire", c, sizeof(c)),
	       status_field(line, "compress", d, sizeof(d)));
	show_netbuf(line);
	show_disks(line, 1);
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
