/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef BLKREPL_FUZZ_IMAGE_H
#define BLKREPL_FUZZ_IMAGE_H

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blkrepl.h"

/*
 * The fuzzers' image: 64 KiB in memory, made once per process, so that no
 * input can make a request or a record reach further than that.
 */
static struct blkrepl_image *fuzz_image(void)
{
	static struct blkrepl_image *img;
	struct blkrepl_ctx *ctx;
	char path[64];
	int fd;

	if (img)
		return img;
	fd = memfd_create("blkrepl-fuzz", 0);
	if (fd < 0 || ftruncate(fd, 65536) < 0 ||
	    blkrepl_ctx_new(&ctx, NULL, NULL) < 0)
		return NULL;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (blkrepl_image_open(ctx, path, 0, &img) < 0)
		img = NULL;
	return img;
}

#endif
