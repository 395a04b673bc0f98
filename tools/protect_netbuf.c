// SPDX-License-Identifier: GPL-2.0-or-later
/* xrepl protect's network buffering: one netbuf per vif of the domain. */
#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "netbuf.h"
#include "protect_netbuf.h"
#include "subcommands.h"

struct protect_netbuf {
	struct xrepl_ctx *xctx;
	struct netbuf_ctx *ctx;
	uint32_t limit;
	struct netbuf **nb;
	size_t n;
	FILE *trace;
};

static void remove_all(struct protect_netbuf *pn, int release)
{
	while (pn->n)
		if (release)
			netbuf_remove(pn->nb[--pn->n]);
		else
			netbuf_drop(pn->nb[--pn->n]);
	free(pn->nb);
	pn->nb = NULL;
	netbuf_ctx_free(pn->ctx);
	pn->ctx = NULL;
}

/*
 * xen-netback makes each vif a child of its xenbus device, so sysfs names
 * the vif's interface as it is now, renamed by vifname= or not.
 */
static int find_vifs(uint32_t domid, glob_t *g)
{
	char pattern[128];

	snprintf(pattern, sizeof(pattern),
		 "/sys/bus/xen-backend/devices/vif-%u-*/net/*", domid);
	return glob(pattern, 0, NULL, g) ? -ENOENT : 0;
}

static int add_vifs(struct protect_netbuf *pn, uint32_t domid)
{
	glob_t g;
	size_t i;
	int r = 0;

	if (find_vifs(domid, &g) < 0) {
		log_library(
			pn->xctx, LOG_INFO,
			"the domain has no network interface: nothing to buffer");
		return 0;
	}
	pn->nb = calloc(g.gl_pathc, sizeof(*pn->nb));
	if (!pn->nb)
		r = -ENOMEM;
	for (i = 0; !r && i < g.gl_pathc; i++) {
		r = netbuf_add(pn->ctx, basename(g.gl_pathv[i]), pn->limit,
			       &pn->nb[pn->n]);
		if (!r)
			pn->n++;
	}
	globfree(&g);
	return r;
}

int protect_netbuf_cleanup(struct xrepl_ctx *ctx, uint32_t domid)
{
	struct netbuf_ctx *nctx;
	const char *vif;
	glob_t g;
	size_t i;
	int n = 0, stale;

	if (netbuf_ctx_new(&nctx, log_library, ctx) < 0)
		return -EIO;
	if (!find_vifs(domid, &g)) {
		for (i = 0; i < g.gl_pathc; i++) {
			vif = basename(g.gl_pathv[i]);
			if (netbuf_cleanup(nctx, vif) <= 0)
				continue;
			printf("released and removed the buffer left on %s\n",
			       vif);
			n++;
		}
		globfree(&g);
	}
	stale = netbuf_remove_stale(nctx);
	if (stale > 0) {
		printf("removed %d buffer(s) left for vifs that are gone\n",
		       stale);
		n += stale;
	}
	netbuf_ctx_free(nctx);
	return n;
}

static int start(void *data, uint32_t domid)
{
	struct protect_netbuf *pn = data;
	int r;

	r = netbuf_ctx_new(&pn->ctx, log_library, pn->xctx);
	if (r < 0)
		return r;
	r = add_vifs(pn, domid);
	if (r < 0)
		remove_all(pn, 1);
	return r;
}

static int each(struct protect_netbuf *pn, int (*op)(struct netbuf *))
{
	size_t i;

	for (i = 0; i < pn->n; i++)
		if (op(pn->nb[i]) < 0)
			return -EIO;
	return 0;
}

/*
 * What the output-commit checks need: a release is stamped before it, so
 * that a frame seen on the wire after it is never dated before it; a
 * barrier after it, so that a frame the guest sent after the stamp surely
 * belongs to a later epoch.
 */
static void trace(struct protect_netbuf *pn, const char *what, uint64_t epoch)
{
	struct timespec ts;

	if (!pn->trace)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(pn->trace, "%lld.%06ld %s %llu\n", (long long)ts.tv_sec,
		ts.tv_nsec / 1000, what, (unsigned long long)epoch);
	fflush(pn->trace);
}

static int suspend(void *data, uint64_t epoch)
{
	int r = each(data, netbuf_buffer);

	trace(data, "buffer", epoch);
	return r;
}

static int commit(void *data, uint64_t epoch)
{
	trace(data, "release", epoch);
	return each(data, netbuf_release_one);
}

static void abandon(void *data, int release)
{
	remove_all(data, release);
}

static void report(void *data, FILE *f)
{
	struct protect_netbuf *pn = data;
	struct netbuf_stats st;
	size_t i;
	int shown = 0;

	fputs(", \"netbuf\": [", f);
	for (i = 0; i < pn->n; i++) {
		if (netbuf_stats(pn->nb[i], &st) < 0)
			continue;
		fprintf(f,
			"%s{\"vif\": \"%s\", \"ifb\": \"%s\", \"held_packets\": %llu, "
			"\"held_bytes\": %llu, \"released_packets\": %llu, "
			"\"released_bytes\": %llu, \"dropped_packets\": %llu}",
			shown++ ? ", " : "", netbuf_ifname(pn->nb[i]),
			netbuf_ifb(pn->nb[i]),
			(unsigned long long)st.held_packets,
			(unsigned long long)st.held_bytes,
			(unsigned long long)st.released_packets,
			(unsigned long long)st.released_bytes,
			(unsigned long long)st.dropped_packets);
	}
	fputc(']', f);
}

struct protect_netbuf *protect_netbuf_new(struct xrepl_ctx *ctx, uint32_t limit,
					  const char *trace_file,
					  struct xrepl_epoch_hooks *hooks)
{
	struct protect_netbuf *pn = calloc(1, sizeof(*pn));

	if (!pn)
		return NULL;
	if (trace_file) {
		pn->trace = fopen(trace_file, "ae");
		if (!pn->trace) {
			fprintf(stderr, "%s: cannot open %s: %m\n", prog_name,
				trace_file);
			free(pn);
			return NULL;
		}
	}
	pn->xctx = ctx;
	pn->limit = limit;
	*hooks = (struct xrepl_epoch_hooks){
		.start = start,
		.suspend = suspend,
		.commit = commit,
		.abandon = abandon,
		.report = report,
		.data = pn,
	};
	return pn;
}

void protect_netbuf_free(struct protect_netbuf *pn)
{
	if (!pn)
		return;
	remove_all(pn, 1);
	if (pn->trace)
		fclose(pn->trace);
	free(pn);
}
