// SPDX-License-Identifier: GPL-2.0-or-later
/* xrepl: the command; one entry per subcommand, one file per subcommand. */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "subcommands.h"

const char *prog_name;

static const struct {
	const char *name;
	int (*fn)(struct xrepl_ctx *ctx, int argc, char *argv[]);
	const char *description;
} subcommands[] = {
	{ "protect", protect_main,
	  "Checkpoint a running guest to a backup host" },
	{ "receive", receive_main,
	  "Receive protected guests (the backup side)" },
	{ "status", status_main, "Show protected domains and their figures" },
	{ "failover", failover_main,
	  "Resume a backup now from its last checkpoint" },
	{ "unprotect", unprotect_main,
	  "Stop protecting a domain, destroy its backup" },
	{ "switchover", switchover_main,
	  "Move a protected domain to its backup, protected back" },
	{ "disk-server", disk_server_main,
	  "Serve a guest's disk image over NBD" },
	{ "bench", bench_main,
	  "Measure the page-delta codec on captured streams, or the channel" },
	{ "genkey", genkey_main,
	  "Write a new pre-shared key file for a primary and its backup" },
	{ "version", version_main,
	  "Show the xrepl and Xen hypervisor versions" },
};

static void show_usage(FILE *file)
{
	size_t i;

	fprintf(file, "Usage: %s <cmd> [<args>]\n\n", prog_name);
	fprintf(file, "Remus-style high availability for Xen guests.\n\n");
	fprintf(file, "Available subcommands:\n");
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(file, "  %-10s %s\n", subcommands[i].name,
			subcommands[i].description);
	fprintf(file, "\nOptions:\n");
	fprintf(file, "  -h, --help     show this help\n");
	fprintf(file, "  -V, --version  show the xrepl version\n");
	fprintf(file,
		"\nYou may pass `--help' to any subcommand. See xrepl(8).\n");
}

static void log_to_stderr(void *data, int priority, const char *file, int line,
			  const char *fn, const char *format, va_list args)
{
	fprintf(stderr, "%s: ", prog_name);
	if (priority == LOG_WARNING)
		fputs("warning: ", stderr);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

void log_library(void *ctx, int priority, const char *msg)
{
	if (priority <= xrepl_get_log_priority(ctx))
		fprintf(stderr, "%s: %s\n", prog_name, msg);
}

static int run(struct xrepl_ctx *ctx, int argc, char *argv[])
{
	size_t i;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		show_usage(argc < 2 ? stderr : stdout);
		return argc < 2;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("xrepl %s\n", xrepl_version());
		return 0;
	}
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
		if (strcmp(argv[1], subcommands[i].name))
			continue;
		return subcommands[i].fn(ctx, argc - 1, argv + 1);
	}
	fprintf(stderr, "%s: invalid subcommand `%s'\n", prog_name, argv[1]);
	show_usage(stderr);
	return 1;
}

int main(int argc, char *argv[])
{
	struct xrepl_ctx *ctx;
	int r;

	prog_name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	ctx = xrepl_new();
	if (!ctx) {
		fprintf(stderr, "%s: out of memory\n", prog_name);
		return 1;
	}
	xrepl_set_log_fn(ctx, log_to_stderr, NULL);
	r = run(ctx, argc, argv);
	xrepl_unref(ctx);
	return r;
}
