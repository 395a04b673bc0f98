// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xrepl status: what the protect and receive processes of this host last
 * wrote in /run/xrepl, as text, one JSON document, or Prometheus metrics
 * (metrics.c).
 */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "run_dir.h"
#include "subcommands.h"

#define LINE_MAX_LEN 16384

/* netbuf's counters, one line per vif */
static void show_netbuf(const char *line)
{
	char vif[64], hp[32], hb[32], rp[32], rb[32], dp[32];
	const char *p = NULL;

	if (!strstr(line, "\"netbuf\": [")) {
		printf("  network output not buffered (-n)\n");
		return;
	}
	while (status_next_object(line, "netbuf", &p))
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
	while (status_next_object(line, "disks", &p)) {
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

static void show_guard(const char *line)
{
	char g[64];

	if (!strcmp(status_field(line, "split_brain_guard", g, sizeof(g)),
		    "none"))
		printf("  nothing prevents split brain (no --quorum)\n");
	else if (strcmp(g, "-"))
		printf("  split brain guarded by %s's quorum\n", g);
}

static void show(const char *line)
{
	char a[64], b[64], c[64], d[64], e[64], f2[64];
	const char *ack = strstr(line, "ack_latency_ms");

	printf("%s (%s): %s, %s epochs\n",
	       status_field(line, "domain", a, sizeof(a)),
	       status_field(line, "role", b, sizeof(b)),
	       status_field(line, "state", c, sizeof(c)),
	       status_field(line, "epochs", d, sizeof(d)));
	show_guard(line);
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
	       status_field(ack ? ack : line, "last", e, sizeof(e)),
	       status_field(ack ? ack : line, "avg", f2, sizeof(f2)));
	printf("  dirty pages (last epoch) %s, bytes raw %s, wire %s, compression %s\n",
	       status_field(line, "dirty_pages_last", a, sizeof(a)),
	       status_field(line, "bytes_raw", b, sizeof(b)),
	       status_field(line, "bytes_wire", c, sizeof(c)),
	       status_field(line, "compress", d, sizeof(d)));
	show_netbuf(line);
	show_disks(line, 1);
}

/* <domain>.primary.json or <domain>.backup.json; ONLY: that domain's */
static int wanted(const char *name, const char *only)
{
	size_t n = strlen(name), k;

	if (n < 5 || strcmp(name + n - 5, ".json"))
		return 0;
	if (!only)
		return 1;
	k = strlen(only);
	return !strncmp(name, only, k) && (!strcmp(name + k, ".primary.json") ||
					   !strcmp(name + k, ".backup.json"));
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every wanted status line, in the order of their files' names. */
static char **read_all(const char *only, size_t *n)
{
	char path[4096], line[LINE_MAX_LEN], **names = NULL, **v;
	struct dirent *de;
	size_t i, k = 0;
	DIR *d;

	*n = 0;
	d = opendir(run_dir());
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		if (!wanted(de->d_name, only))
			continue;
		v = realloc(names, (k + 1) * sizeof(*names));
		if (!v)
			break;
		names = v;
		names[k++] = strdup(de->d_name);
	}
	closedir(d);
	if (!k)
		return names;
	qsort(names, k, sizeof(*names), by_name);
	for (i = 0; i < k; i++) {
		snprintf(path, sizeof(path), "%s/%s", run_dir(), names[i]);
		free(names[i]);
		if (status_read(path, line, sizeof(line)) < 0)
			continue;
		line[strcspn(line, "\n")] = 0;
		names[(*n)++] = strdup(line);
	}
	return names;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s status [--json | --metrics] [DOMAIN]\n\n"
		"Show each protected domain on this host (or DOMAIN only), as its\n"
		"primary or backup: state, epochs, interval, pause and ACK latency,\n"
		"dirty pages, bytes, held output, disks, what guards it from split\n"
		"brain.\n\n"
		"      --json     one JSON document: an array of the status objects\n"
		"      --metrics  Prometheus's text format, for node_exporter's\n"
		"                 textfile collector\n",
		prog_name);
}

int status_main(struct xrepl_ctx *ctx, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "metrics", no_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int json = 0, metrics = 0, c;
	const char *only;
	char **lines;
	size_t i, n;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'm':
			metrics = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (json + metrics > 1 || argc - optind > 1) {
		usage(stderr);
		return 1;
	}
	only = optind < argc ? argv[optind] : NULL;
	lines = read_all(only, &n);
	if (only && !n) {
		fprintf(stderr, "%s: nothing in %s about %s\n", prog_name,
			run_dir(), only);
		free(lines);
		return 1;
	}
	if (metrics)
		metrics_print(stdout, (const char *const *)lines, n);
	for (i = 0; i < n && !metrics; i++) {
		if (json)
			printf("%s%s", i ? ",\n " : "[", lines[i]);
		else
			show(lines[i]);
	}
	if (json)
		printf("%s]\n", n ? "" : "[");
	for (i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	return 0;
}
