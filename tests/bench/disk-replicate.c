// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * disk-replicate CONTROL REPLICA INTERVAL_MS: the disk half of a protected
 * guest's epochs, without Xen: every INTERVAL_MS it marks the epoch on the
 * disk-server's control socket, takes the epoch's records, feeds them to a
 * replica and commits it (what xrepl protect's suspend and send hooks and
 * xrepl receive's DISK frames and EPOCH_END do), until SIGTERM; then it
 * prints what it replicated and how long each step took.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "blkrepl.h"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	stop = 1;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void log_stderr(void *data, int priority, const char *msg)
{
	fprintf(stderr, "disk-replicate: %s\n", msg);
}

struct run {
	struct blkrepl_replicator *rep;
	struct blkrepl_replica *rp;
	uint64_t epoch, bytes;
	double take_ms, commit_ms, commit_max;
};

/* Mark, take, feed (in parts, a large sync), commit: one epoch. */
static int one_epoch(struct run *run)
{
	const uint8_t *buf;
	double t, take = 0, commit;
	size_t len, total = 0;
	int r;

	run->epoch++;
	if (blkrepl_replicator_mark(run->rep, run->epoch) < 0)
		return -1;
	t = now_ms();
	do {
		r = blkrepl_replicator_take(run->rep, run->epoch, 30000, &buf,
					    &len);
		take += now_ms() - t;
		if (r < 0 || blkrepl_replica_feed(run->rp, buf, len) < 0)
			return -1;
		total += len;
		t = now_ms();
	} while (!r);
	t = now_ms();
	if (blkrepl_replica_commit(run->rp, run->epoch) < 0)
		return -1;
	commit = now_ms() - t;
	if (run->epoch == 1) {
		printf("synced %.1f MB in %.0f ms\n", (double)total / 1e6,
		       take + commit);
		fflush(stdout);
		return 0;
	}
	run->bytes += total;
	run->take_ms += take;
	run->commit_ms += commit;
	run->commit_max = commit > run->commit_max ? commit : run->commit_max;
	return 0;
}

int main(int argc, char *argv[])
{
	struct run run = { 0 };
	struct blkrepl_ctx *ctx;
	uint64_t n;
	int interval;

	if (argc != 4) {
		fprintf(stderr, "usage: %s CONTROL REPLICA INTERVAL_MS\n",
			argv[0]);
		return 2;
	}
	interval = atoi(argv[3]);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	if (blkrepl_ctx_new(&ctx, log_stderr, NULL) < 0 ||
	    blkrepl_replicator_new(ctx, argv[1], 0, NULL, 0, &run.rep) < 0 ||
	    blkrepl_replica_new(ctx, argv[2], NULL, "/var/tmp", 256u << 20,
				&run.rp) < 0 ||
	    one_epoch(&run) < 0)
		return 1;
	while (!stop) {
		usleep((useconds_t)interval * 1000);
		if (one_epoch(&run) < 0)
			return 1;
	}
	/* a last epoch: the replica then holds every write */
	if (one_epoch(&run) < 0)
		return 1;
	n = run.epoch - 1;
	printf("epochs %llu replicated_MB %.1f mark_take_ms_avg %.2f commit_ms_avg %.2f commit_ms_max %.2f\n",
	       (unsigned long long)n, (double)run.bytes / 1e6,
	       run.take_ms / (double)n, run.commit_ms / (double)n,
	       run.commit_max);
	blkrepl_replica_free(run.rp);
	blkrepl_replicator_free(run.rep);
	blkrepl_ctx_free(ctx);
	return 0;
}
