/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef BLKREPL_FUZZ_IMAGE_H
#define BLKREPL_FUZZ_IMAGE_H

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blkrepl.h"

/*
 * The fuzzers' image: 64 KiB in memory, made once per process, so that no
 * input can make a request or a record reach further than that. Its path
 * into *PATH, if not NULL.
 */
static struct blkrepl_image *fuzz_image(struct blkrepl_ctx **ctx_out,
					const char **path_out)
{
	static struct blkrepl_image *img;
	static struct blkrepl_ctx *ctx;
	static char path[64];
	int fd;

	if (img)
		goto out;
	fd = memfd_create("blkrepl-fuzz", 0);
	if (fd < 0 || ftruncate(fd, 65536) < 0 ||
	    blkrepl_ctx_new(&ctx, NULL, NULL) < 0)
		return NULL;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (blkrepl_image_open(ctx, path, 0, &img) < 0)
		return NULL;
out:
	if (ctx_out)
		*ctx_out = ctx;
	if (path_out)
		*path_out = path;
	return img;
}

#endif
