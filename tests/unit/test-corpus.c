// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Every stream captured in the lab (../shared/corpus) survives the codec
 * byte for byte: input and output are compared by SHA-256, fed in chunks
 * of random sizes (one byte at a time for the first MiB), with the frames
 * handed to the decoder in random pieces too.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "libxrepl.h"

extern char **environ;

struct corpus_file {
	const char *name;
	unsigned int checkpoints; /* as the corpus README counts them */
	int complete;
};

static const struct corpus_file files[] = {
	{ "compile.xlstream.zst", 32, 0 },  { "sqlite.xlstream.zst", 33, 0 },
	{ "idle.xlstream.zst", 33, 0 },	    { "hvm-idle.xlstream.zst", 32, 0 },
	{ "idle-save.xlstream.zst", 0, 1 },
};

struct pipeline {
	struct xrepl_decoder *dec;
	EVP_MD_CTX *out_md;
	uint64_t out_len;
	unsigned int seed;
	int dec_err;
};

static unsigned int rnd(unsigned int *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 8;
}

static int decoded(void *data, const void *buf, size_t len)
{
	struct pipeline *p = data;

	p->out_len += len;
	return EVP_DigestUpdate(p->out_md, buf, len) ? 0 : -EIO;
}

/* The encoder's frames go to the decoder in random pieces. */
static int framed(void *data, const void *buf, size_t len)
{
	struct pipeline *p = data;
	const uint8_t *b = buf;
	size_t n;

	while (len && !p->dec_err) {
		n = 1 + rnd(&p->seed) % 8192;
		n = n < len ? n : len;
		p->dec_err = xrepl_decoder_feed(p->dec, b, n);
		b += n;
		len -= n;
	}
	return p->dec_err;
}

static const char *corpus_dir(void)
{
	static char dir[4096];
	const char *env = getenv("XREPL_CORPUS"), *src = getenv("srcdir");

	if (env)
		return env;
	snprintf(dir, sizeof(dir), "%s/../shared/corpus", src ? src : ".");
	return dir;
}

static FILE *zstd_open(const char *path, pid_t *pid)
{
	char *argv[] = { "zstd", "-dcq", "--", (char *)path, NULL };
	posix_spawn_file_actions_t fa;
	int fds[2];

	if (pipe(fds) < 0)
		return NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	if (posix_spawnp(pid, "zstd", &fa, NULL, argv, environ)) {
		close(fds[0]);
		fds[0] = -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	return fds[0] < 0 ? NULL : fdopen(fds[0], "r");
}

static void roundtrip(void **state)
{
	const struct corpus_file *cf = *state;
	struct xrepl_codec_opts opts = { XREPL_COMPRESS_XBZRLE_LZ4,
					 XREPL_CACHE_BYTES_DEFAULT };
	unsigned char in_sum[EVP_MAX_MD_SIZE], out_sum[EVP_MAX_MD_SIZE];
	struct pipeline p = { .seed = 42 };
	static uint8_t buf[1 << 18];
	struct xrepl_encoder *enc;
	struct xrepl_ctx *ctx;
	EVP_MD_CTX *in_md;
	uint64_t in_len = 0;
	unsigned int len;
	char path[4096 + 256];
	size_t n, want;
	int status;
	pid_t pid;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", corpus_dir(), cf->name);
	if (access(path, R_OK))
		skip();
	f = zstd_open(path, &pid);
	assert_non_null(f);
	ctx = xrepl_new();
	in_md = EVP_MD_CTX_new();
	p.out_md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(in_md, EVP_sha256(), NULL);
	EVP_DigestInit_ex(p.out_md, EVP_sha256(), NULL);
	enc = xrepl_encoder_new(ctx, &opts, framed, &p);
	opts.cache_bytes = ~0ull;
	p.dec = xrepl_decoder_new(ctx, &opts, decoded, &p);
	assert_non_null(enc);
	assert_non_null(p.dec);
	for (;;) {
		want = in_len < (1 << 20) ? 1 : 1 + rnd(&p.seed) % sizeof(buf);
		n = fread(buf, 1, want, f);
		if (!n)
			break;
		EVP_DigestUpdate(in_md, buf, n);
		in_len += n;
		assert_int_equal(xrepl_encoder_feed(enc, buf, n), 0);
	}
	assert_int_equal(xrepl_encoder_flush(enc), 0);
	assert_int_equal(p.dec_err, 0);
	fclose(f);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && !WEXITSTATUS(status));

	assert_true(in_len > 100 << 20);
	assert_int_equal(p.out_len, in_len);
	EVP_DigestFinal_ex(in_md, in_sum, &len);
	EVP_DigestFinal_ex(p.out_md, out_sum, &len);
	assert_memory_equal(in_sum, out_sum, len);
	assert_int_equal(xrepl_stream_checkpoints(xrepl_encoder_stream(enc)),
			 cf->checkpoints);
	assert_int_equal(xrepl_stream_checkpoints(xrepl_decoder_stream(p.dec)),
			 cf->checkpoints);
	/* a complete stream is done; a cut one waits for more */
	assert_int_equal(xrepl_stream_next(xrepl_encoder_stream(enc),
					   &(uint64_t){ 0 }) == SIZE_MAX,
			 cf->complete);

	xrepl_encoder_free(enc);
	xrepl_decoder_free(p.dec);
	EVP_MD_CTX_free(in_md);
	EVP_MD_CTX_free(p.out_md);
	xrepl_unref(ctx);
}

int main(void)
{
	struct CMUnitTest tests[sizeof(files) / sizeof(files[0])];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		tests[i] = (struct CMUnitTest){
			.name = files[i].name,
			.test_func = roundtrip,
			.initial_state = (void *)&files[i],
		};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
