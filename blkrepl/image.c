// SPDX-License-Identifier: LGPL-2.1-or-later
/* The served image: a raw file or a block device, by pread and pwrite. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blkrepl-private.h"

void br_log(struct blkrepl_ctx *ctx, int priority, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!ctx->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->log(ctx->log_data, priority, msg);
}

int blkrepl_ctx_new(struct blkrepl_ctx **ctx, blkrepl_log_fn log, void *data)
{
	*ctx = calloc(1, sizeof(**ctx));
	if (!*ctx)
		return -ENOMEM;
	(*ctx)->log = log;
	(*ctx)->log_data = data;
	return 0;
}

void blkrepl_ctx_free(struct blkrepl_ctx *ctx)
{
	free(ctx);
}

static int image_size(struct blkrepl_image *img)
{
	struct stat st;

	if (fstat(img->fd, &st) < 0)
		return -errno;
	img->is_blockdev = S_ISBLK(st.st_mode);
	if (!img->is_blockdev) {
		if (!S_ISREG(st.st_mode))
			return -EINVAL;
		img->size = (uint64_t)st.st_size;
		return 0;
	}
	return ioctl(img->fd, BLKGETSIZE64, &img->size) < 0 ? -errno : 0;
}

int blkrepl_image_open(struct blkrepl_ctx *ctx, const char *path, int readonly,
		       struct blkrepl_image **out)
{
	struct blkrepl_image *img = calloc(1, sizeof(*img));
	int r;

	if (!img)
		return -ENOMEM;
	img->ctx = ctx;
	img->readonly = readonly;
	img->repl_fd = -1;
	pthread_mutex_init(&img->lock, NULL);
	img->path = strdup(path);
	img->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (!img->path || img->fd < 0) {
		r = img->path ? -errno : -ENOMEM;
		br_err(ctx, "cannot open %s: %s", path, strerror(-r));
		blkrepl_image_close(img);
		return r;
	}
	r = image_size(img);
	if (r < 0) {
		br_err(ctx, "%s: %s", path,
		       r == -EINVAL ? "not a raw image file or block device" :
				      strerror(-r));
		blkrepl_image_close(img);
		return r;
	}
	*out = img;
	return 0;
}

void blkrepl_image_close(struct blkrepl_image *img)
{
	if (!img)
		return;
	if (img->fd >= 0)
		close(img->fd);
	dirty_free(img->dirty);
	pthread_mutex_destroy(&img->lock);
	free(img->path);
	free(img);
}

uint64_t blkrepl_image_size(const struct blkrepl_image *img)
{
	return img->size;
}

/* The whole range, through short transfers and signals. */
static int image_io(struct blkrepl_image *img, char *p, uint32_t len,
		    uint64_t off, int write)
{
	ssize_t n;

	while (len) {
		n = write ? pwrite(img->fd, p, len, (off_t)off) :
			    pread(img->fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (uint32_t)n;
	}
	return 0;
}

int image_read(struct blkrepl_image *img, void *buf, uint32_t len, uint64_t off)
{
	return image_io(img, buf, len, off, 0);
}

int image_write(struct blkrepl_image *img, const void *buf, uint32_t len,
		uint64_t off)
{
	/* pwrite only reads from it */
	return image_io(img, (char *)buf, len, off, 1);
}

int image_flush(struct blkrepl_image *img)
{
	return fdatasync(img->fd) < 0 ? -errno : 0;
}

int image_trim(struct blkrepl_image *img, uint32_t len, uint64_t off)
{
	uint64_t range[2] = { off, len };

	if (img->is_blockdev)
		return ioctl(img->fd, BLKDISCARD, range) < 0 ? -errno : 0;
	return fallocate(img->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			 (off_t)off, len) < 0 ?
		       -errno :
		       0;
}

/* Holes where allowed (they read as zeroes), else zeroes written. */
int image_zero(struct blkrepl_image *img, uint32_t len, uint64_t off,
	       int may_trim)
{
	static const char zeroes[65536];
	uint64_t range[2] = { off, len };
	uint32_t n;
	int r;

	if (img->is_blockdev && !ioctl(img->fd, BLKZEROOUT, range))
		return 0;
	if (!img->is_blockdev &&
	    !fallocate(img->fd,
		       may_trim ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE :
				  FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
		       (off_t)off, len))
		return 0;
	for (; len; len -= n, off += n) {
		n = len < sizeof(zeroes) ? len : sizeof(zeroes);
		r = image_write(img, zeroes, n, off);
		if (r < 0)
			return r;
	}
	return 0;
}
