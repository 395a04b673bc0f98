// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * xrepl bench codec: the page-delta codec on captured checkpoint streams.
 * Every figure comes from one in-memory run per file: encode, decode,
 * byte-compare, and XBZRLE alone on each page against its previous content.
 */
#include <errno.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "subcommands.h"

extern char **environ;

#define PAGE 4096u
#define PFN_SPACE (1ull << 20)

struct buffer {
	uint8_t *data;
	size_t len;
	size_t cap;
};

struct result {
	const char *file;
	unsigned int checkpoints;
	struct xrepl_codec_stats all;
	struct xrepl_codec_stats first; /* at the end of checkpoint 1 */
	double xbzrle_MBps;
	double xbzrle_cold_MBps;
	uint64_t xbzrle_pages;
	double encode_MBps;
	double decode_MBps;
	int roundtrip_ok;
	char truncated[200];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int buffer_append(struct buffer *b, const void *p, size_t len)
{
	size_t cap = b->cap ? b->cap : 1 << 20;
	uint8_t *data;

	while (b->len + len > cap)
		cap *= 2;
	if (cap != b->cap) {
		data = realloc(b->data, cap);
		if (!data)
			return -ENOMEM;
		b->data = data;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
	return 0;
}

static int buffer_write(void *data, const void *buf, size_t len)
{
	return buffer_append(data, buf, len);
}

/* Reads a file, through zstd -dc when its name ends in .zst. */
static int load(const char *file, struct buffer *b)
{
	const char *zst = strrchr(file, '.');
	char *argv[] = { "zstd", "-dcq", "--", (char *)file, NULL };
	int fds[2] = { -1, -1 }, status, r = 0;
	uint8_t chunk[1 << 16];
	posix_spawn_file_actions_t fa;
	pid_t pid = 0;
	FILE *f;
	size_t n;

	if (zst && !strcmp(zst, ".zst")) {
		if (pipe(fds) < 0)
			return -errno;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
		posix_spawn_file_actions_addclose(&fa, fds[0]);
		r = posix_spawnp(&pid, "zstd", &fa, NULL, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
		close(fds[1]);
		if (r) {
			close(fds[0]);
			fprintf(stderr, "%s: cannot run zstd: %s\n", prog_name,
				strerror(r));
			return -r;
		}
		f = fdopen(fds[0], "r");
	} else {
		f = fopen(file, "re");
	}
	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, file,
			strerror(errno));
		return -errno;
	}
	while (!r && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		r = buffer_append(b, chunk, n);
	fclose(f);
	if (pid && (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status))) {
		fprintf(stderr, "%s: %s: zstd failed\n", prog_name, file);
		return -EIO;
	}
	return r;
}

/* ---------------------------------------------- XBZRLE alone, per page */

struct pairs {
	uint8_t *prev; /* PFN_SPACE pages: each pfn's previous content */
	uint8_t *seen; /* PFN_SPACE flags */
	struct buffer old; /* copies of the previous content, page by page */
	const uint8_t **new;
	size_t n, cap;
	unsigned int checkpoint;
};

static int pairs_page(void *data, uint64_t pfn, unsigned int type,
		      const void *page)
{
	struct pairs *p = data;
	uint8_t *prev = p->prev + pfn * PAGE;
	const uint8_t **grown;

	if (pfn >= PFN_SPACE)
		return 0;
	if (p->checkpoint >= 1 && p->seen[pfn]) {
		if (p->n == p->cap) {
			p->cap = p->cap ? 2 * p->cap : 4096;
			grown = realloc(p->new, p->cap * sizeof(*grown));
			if (!grown)
				return -ENOMEM;
			p->new = grown;
		}
		if (buffer_append(&p->old, prev, PAGE) < 0)
			return -ENOMEM;
		p->new[p->n++] = page;
	}
	memcpy(prev, page, PAGE);
	p->seen[pfn] = 1;
	return 0;
}

static int pairs_bytes(void *data, const void *buf, size_t len)
{
	return 0;
}

static int pairs_checkpoint(void *data, unsigned int n)
{
	((struct pairs *)data)->checkpoint = n;
	return 0;
}

static const struct xrepl_stream_ops pairs_ops = {
	.bytes = pairs_bytes,
	.page = pairs_page,
	.checkpoint = pairs_checkpoint,
};

/* Pairs staged per batch for the in-cache figure: 256 KiB, within L2. */
#define HOT_BATCH 32

static double encode_pairs(const uint8_t *old, const uint8_t *const *new,
			   size_t n)
{
	uint8_t dst[PAGE];
	double t = now();
	size_t i;

	for (i = 0; i < n; i++)
		xrepl_xbzrle_encode(old + i * PAGE, new[i], dst, PAGE - 3);
	return now() - t;
}

/* Each batch's pairs are copied into a scratch area first, untimed. */
static double encode_pairs_hot(const struct pairs *p, uint8_t *scratch)
{
	const uint8_t *new[HOT_BATCH];
	size_t from, i, n;
	double t = 0;

	for (from = 0; from < p->n; from += n) {
		n = p->n - from < HOT_BATCH ? p->n - from : HOT_BATCH;
		memcpy(scratch, p->old.data + from * PAGE, n * PAGE);
		for (i = 0; i < n; i++) {
			new[i] = scratch + (HOT_BATCH + i) * PAGE;
			memcpy(scratch + (HOT_BATCH + i) * PAGE,
			       p->new[from + i], PAGE);
		}
		t += encode_pairs(scratch, new, n);
	}
	return t;
}

/*
 * XBZRLE encode speed on every data page after the first checkpoint that
 * has a previous content, best of 3 passes, measured two ways:
 * - in cache: both pages of each pair staged in L2 first, the encoder's
 *   own speed (and how the reference figures must have been taken: they
 *   exceed what one core streams from DRAM here);
 * - cold: both pages fetched from DRAM, as they come.
 */
static int bench_xbzrle(struct xrepl_ctx *ctx, const struct buffer *in,
			struct result *res)
{
	struct pairs p = { 0 };
	struct xrepl_stream *s;
	uint8_t *scratch = NULL;
	double t, best_hot = 0, best_cold = 0;
	int pass, r = -ENOMEM;

	p.prev = mmap(NULL, PFN_SPACE * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	p.seen = calloc(PFN_SPACE, 1);
	scratch = malloc(2 * HOT_BATCH * PAGE);
	s = xrepl_stream_new(ctx, &pairs_ops, &p);
	if (p.prev == MAP_FAILED || !p.seen || !scratch || !s)
		goto out;
	xrepl_stream_feed(s, in->data, in->len);
	for (pass = 0; pass < 3 && p.n; pass++) {
		t = encode_pairs_hot(&p, scratch);
		if (!best_hot || t < best_hot)
			best_hot = t;
		t = encode_pairs(p.old.data, p.new, p.n);
		if (!best_cold || t < best_cold)
			best_cold = t;
	}
	res->xbzrle_pages = p.n;
	res->xbzrle_MBps = best_hot ? (double)p.n * PAGE / best_hot / 1e6 : 0;
	res->xbzrle_cold_MBps =
		best_cold ? (double)p.n * PAGE / best_cold / 1e6 : 0;
	r = 0;
out:
	xrepl_stream_free(s);
	if (p.prev != MAP_FAILED)
		munmap(p.prev, PFN_SPACE * PAGE);
	free(p.seen);
	free(p.old.data);
	free(p.new);
	free(scratch);
	return r;
}

/* ---------------------------------------------- the codec, end to end */

static int ignore_bytes(void *data, const void *buf, size_t len)
{
	return 0;
}

static int ignore_page(void *data, uint64_t pfn, unsigned int type,
		       const void *page)
{
	return 0;
}

static const struct xrepl_stream_ops scan_ops = {
	.bytes = ignore_bytes,
	.page = ignore_page,
};

struct compare {
	const struct buffer *in;
	size_t pos;
	int ok;
};

static int compare_write(void *data, const void *buf, size_t len)
{
	struct compare *c = data;

	if (c->pos + len > c->in->len || memcmp(c->in->data + c->pos, buf, len))
		c->ok = 0;
	c->pos += len;
	return 0;
}

/*
 * Where checkpoint 1 ends, found by a parse that stops there, and how the
 * stream ends (complete, or how it was cut).
 */
static uint64_t scan(struct xrepl_ctx *ctx, const struct buffer *in,
		     struct result *res)
{
	struct xrepl_stream *s = xrepl_stream_new(ctx, &scan_ops, NULL);
	uint64_t first = 0;
	size_t pos = 0, n;

	if (!s)
		return 0;
	while (pos < in->len) {
		n = in->len - pos < 4096 ? in->len - pos : 4096;
		if (xrepl_stream_feed(s, in->data + pos, n) < 0)
			break;
		pos += n;
		if (!first && xrepl_stream_checkpoints(s) >= 1)
			first = xrepl_stream_checkpoint_offset(s);
	}
	if (xrepl_stream_finish(s) < 0)
		snprintf(res->truncated, sizeof(res->truncated), "%s",
			 xrepl_stream_strerror(s));
	res->checkpoints = xrepl_stream_checkpoints(s);
	xrepl_stream_free(s);
	return first;
}

static int bench_file(struct xrepl_ctx *ctx, const char *file,
		      const struct xrepl_codec_opts *opts, struct result *res)
{
	struct buffer in = { 0 }, wire = { 0 };
	struct xrepl_encoder *enc = NULL;
	struct xrepl_decoder *dec = NULL;
	struct compare cmp = { .in = &in, .ok = 1 };
	struct xrepl_codec_opts dopts = *opts;
	uint64_t first;
	double t;
	int r;

	memset(res, 0, sizeof(*res));
	res->file = file;
	r = load(file, &in);
	if (r < 0)
		goto out;
	first = scan(ctx, &in, res);
	r = -ENOMEM;
	enc = xrepl_encoder_new(ctx, opts, buffer_write, &wire);
	if (!enc)
		goto out;
	t = now();
	r = xrepl_encoder_feed(enc, in.data, first);
	xrepl_encoder_stats(enc, &res->first);
	if (!r)
		r = xrepl_encoder_feed(enc, in.data + first, in.len - first);
	if (!r)
		r = xrepl_encoder_flush(enc);
	res->encode_MBps = (double)in.len / (now() - t) / 1e6;
	xrepl_encoder_stats(enc, &res->all);
	if (r < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog_name, file,
			xrepl_stream_strerror(xrepl_encoder_stream(enc)));
		goto out;
	}
	dopts.cache_bytes = ~0ull;
	dec = xrepl_decoder_new(ctx, &dopts, compare_write, &cmp);
	if (!dec) {
		r = -ENOMEM;
		goto out;
	}
	t = now();
	r = xrepl_decoder_feed(dec, wire.data, wire.len);
	res->decode_MBps = (double)in.len / (now() - t) / 1e6;
	res->roundtrip_ok = !r && cmp.ok && cmp.pos == in.len;
	r = bench_xbzrle(ctx, &in, res);
out:
	xrepl_encoder_free(enc);
	xrepl_decoder_free(dec);
	free(in.data);
	free(wire.data);
	return r;
}

/* ---------------------------------------------- output */

static double ratio(uint64_t raw, uint64_t wire)
{
	return wire ? (double)raw / (double)wire : 0;
}

static double hit_rate(const struct xrepl_codec_stats *s)
{
	return s->cache_lookups ? 100.0 * (double)s->cache_hits /
					  (double)s->cache_lookups :
				  0;
}

static void print_human(const struct result *r)
{
	uint64_t raw_after = r->all.stream_bytes - r->first.stream_bytes;
	uint64_t wire_after = r->all.wire_bytes - r->first.wire_bytes;
	int k;

	if (r->truncated[0])
		printf("%s: %s\n", r->file, r->truncated);
	else
		printf("%s: complete, %u checkpoints\n", r->file,
		       r->checkpoints);
	printf("  whole stream        raw %12llu  wire %11llu  ratio %7.2f\n",
	       (unsigned long long)r->all.stream_bytes,
	       (unsigned long long)r->all.wire_bytes,
	       ratio(r->all.stream_bytes, r->all.wire_bytes));
	printf("  after checkpoint 1  raw %12llu  wire %11llu  ratio %7.2f\n",
	       (unsigned long long)raw_after, (unsigned long long)wire_after,
	       ratio(raw_after, wire_after));
	printf("  xbzrle encode %.0f MB/s in cache, %.0f MB/s from DRAM (%s, %llu pages); encode %.0f MB/s; decode %.0f MB/s\n",
	       r->xbzrle_MBps, r->xbzrle_cold_MBps, xrepl_xbzrle_isa(),
	       (unsigned long long)r->xbzrle_pages, r->encode_MBps,
	       r->decode_MBps);
	printf("  pages:");
	for (k = 0; k < XREPL_PAGE_KINDS; k++)
		printf(" %s %llu", xrepl_page_kind_name(k),
		       (unsigned long long)r->all.pages[k]);
	printf("; overflows %llu; cache hit rate %.1f%%\n",
	       (unsigned long long)r->all.overflows, hit_rate(&r->all));
	printf("  roundtrip %s\n", r->roundtrip_ok ? "ok" : "FAILED");
}

static void print_json(const struct result *r, const char *sep)
{
	uint64_t raw_after = r->all.stream_bytes - r->first.stream_bytes;
	uint64_t wire_after = r->all.wire_bytes - r->first.wire_bytes;
	int k;

	printf("%s  {\"file\": \"%s\", \"checkpoints\": %u, \"complete\": %s, ",
	       sep, r->file, r->checkpoints,
	       r->truncated[0] ? "false" : "true");
	printf("\"raw_bytes\": %llu, \"wire_bytes\": %llu, \"ratio\": %.3f, ",
	       (unsigned long long)r->all.stream_bytes,
	       (unsigned long long)r->all.wire_bytes,
	       ratio(r->all.stream_bytes, r->all.wire_bytes));
	printf("\"raw_bytes_after_first\": %llu, \"wire_bytes_after_first\": %llu, \"ratio_after_first\": %.3f, ",
	       (unsigned long long)raw_after, (unsigned long long)wire_after,
	       ratio(raw_after, wire_after));
	printf("\"page_bytes\": %llu, \"xbzrle_isa\": \"%s\", \"xbzrle_pages\": %llu, ",
	       (unsigned long long)r->all.page_bytes, xrepl_xbzrle_isa(),
	       (unsigned long long)r->xbzrle_pages);
	printf("\"xbzrle_encode_MBps\": %.0f, \"xbzrle_encode_cold_MBps\": %.0f, \"encode_MBps\": %.0f, \"decode_MBps\": %.0f, ",
	       r->xbzrle_MBps, r->xbzrle_cold_MBps, r->encode_MBps,
	       r->decode_MBps);
	printf("\"pages\": {");
	for (k = 0; k < XREPL_PAGE_KINDS; k++)
		printf("%s\"%s\": %llu", k ? ", " : "", xrepl_page_kind_name(k),
		       (unsigned long long)r->all.pages[k]);
	printf("}, \"overflows\": %llu, \"cache_hit_rate\": %.4f, \"frames\": %llu, \"roundtrip_ok\": %s}",
	       (unsigned long long)r->all.overflows, hit_rate(&r->all) / 100,
	       (unsigned long long)r->all.frames,
	       r->roundtrip_ok ? "true" : "false");
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s bench codec [--json] [--compress MODE] [--cache-size MIB] FILE...\n"
		"       %s bench channel [--mib N]\n\n"
		"Encode, decode and byte-compare checkpoint streams (xl remus/xl save\n"
		"captures; .zst files are decompressed with zstd) and print the figures.\n\n"
		"  --json             one JSON object per file, in an array\n"
		"  --compress MODE    none, lz4, xbzrle or xbzrle+lz4 (default)\n"
		"  --cache-size MIB   page cache size (default %llu)\n\n"
		"`bench channel' measures the replication channel's TLS (its --help).\n",
		prog_name, prog_name, XREPL_CACHE_BYTES_DEFAULT >> 20);
}

int bench_main(struct xrepl_ctx *ctx, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "compress", required_argument, NULL, 'c' },
		{ "cache-size", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct xrepl_codec_opts opts = {
		.compress = XREPL_COMPRESS_XBZRLE_LZ4,
		.cache_bytes = XREPL_CACHE_BYTES_DEFAULT,
	};
	struct result res;
	int json = 0, c, i, failed = 0, printed = 0;
	char *end;

	if (argc > 1 && !strcmp(argv[1], "channel"))
		return bench_channel_main(ctx, argc - 1, argv + 1);
	if (argc < 2 || strcmp(argv[1], "codec")) {
		usage(argc > 1 && !strcmp(argv[1], "--help") ? stdout : stderr);
		return argc > 1 && !strcmp(argv[1], "--help") ? 0 : 1;
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'c':
			if (xrepl_compress_parse(optarg, &opts.compress) < 0) {
				fprintf(stderr,
					"%s: unknown compression `%s' (none, lz4, xbzrle, xbzrle+lz4)\n",
					prog_name, optarg);
				return 1;
			}
			break;
		case 's':
			opts.cache_bytes = strtoull(optarg, &end, 10) << 20;
			if (*end || !opts.cache_bytes) {
				fprintf(stderr,
					"%s: --cache-size takes a number of MiB, not `%s'\n",
					prog_name, optarg);
				return 1;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return 1;
	}
	if (json)
		printf("[\n");
	for (i = optind; i < argc; i++) {
		/* the reason for a file that cannot be measured is on stderr */
		if (bench_file(ctx, argv[i], &opts, &res) < 0) {
			failed = 1;
			continue;
		}
		failed |= !res.roundtrip_ok;
		if (json)
			print_json(&res, printed++ ? ",\n" : "");
		else
			print_human(&res);
		fflush(stdout);
	}
	if (json)
		printf("%s]\n", printed ? "\n" : "");
	return failed;
}
