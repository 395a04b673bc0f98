// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What outlives a disk-server: the chunks a replica may lack. A guest's
 * reboot, or a clean shutdown of its host, ends the image's server; the
 * next one would know no replication and sync the whole image. The last
 * server saves its dirty chunks and their id in a file, and the next one
 * takes them over, so that the backup's replica, committed under that id,
 * resyncs only those chunks.
 *
 * Only what the file can vouch for is taken: the image must be a regular
 * file with the size and modification time it had when the file was
 * written (a write by anything else since moves the time); a block device
 * is not vouched for (a write to it leaves no trace). The file is removed
 * when it is read, whatever it holds: a server that dies later saves
 * nothing, and the one after it syncs in full.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blkrepl-private.h"

#define HEADER_OUT \
	"xrepl-dirty id=%" PRIx64 " size=%" PRIu64 " mtime=%lld.%ld words=%zu\n"
#define HEADER \
	"xrepl-dirty id=%" SCNx64 " size=%" SCNu64 " mtime=%lld.%ld words=%zu\n"

char *state_path(const char *dir, const char *path, const char *ext)
{
	char *p,
		*out = malloc(strlen(dir) + 3 * strlen(path) + strlen(ext) + 2);

	if (!out)
		return NULL;
	p = out + sprintf(out, "%s/", dir);
	for (; *path; path++)
		p += sprintf(p,
			     isalnum((unsigned char)*path) ||
					     strchr(".-_", *path) ?
				     "%c" :
				     "%%%02X",
			     (unsigned char)*path);
	strcpy(p, ext);
	return out;
}

static int write_dirty(struct blkrepl_image *img, FILE *f)
{
	size_t words = dirty_words(img->dirty);
	uint64_t *bits = dirty_resync(img->dirty);
	struct stat st;
	int ok;

	if (!bits)
		return -ENOMEM;
	ok = !fstat(img->fd, &st) &&
	     fprintf(f, HEADER_OUT, dirty_id(img->dirty), img->size,
		     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
		     words) > 0 &&
	     fwrite(bits, sizeof(*bits), words, f) == words;
	free(bits);
	return ok ? 0 : -EIO;
}

/* Under the lock: 1 once saved, 0 if there is nothing to save. */
static int save_locked(struct blkrepl_image *img, const char *path)
{
	FILE *f;
	int r;

	if (!img->dirty || img->is_blockdev)
		return 0;
	f = fopen(path, "we");
	if (!f)
		return -errno;
	r = write_dirty(img, f);
	if (fclose(f) && !r)
		r = -EIO;
	if (r < 0)
		unlink(path);
	return r < 0 ? r : 1;
}

int blkrepl_image_save_dirty(struct blkrepl_image *img, const char *state_dir)
{
	char *path = state_path(state_dir, img->path, ".dirty");
	int r;

	if (!path)
		return -ENOMEM;
	pthread_mutex_lock(&img->lock);
	img->frozen = 1;
	r = save_locked(img, path);
	pthread_mutex_unlock(&img->lock);
	if (r < 0)
		br_err(img->ctx,
		       "cannot save the changes of %s not yet on its replica to %s: %s (the next protection syncs it in full)",
		       img->path, path, strerror(-r));
	else if (r)
		br_info(img->ctx,
			"saved the changes of %s not yet on its replica to %s",
			img->path, path);
	free(path);
	return r < 0 ? r : 0;
}

static int read_dirty(struct blkrepl_image *img, FILE *f)
{
	uint64_t id, size, *bits;
	long long mtime_s;
	struct stat st;
	size_t words;
	long mtime_ns;

	if (fscanf(f, HEADER, &id, &size, &mtime_s, &mtime_ns, &words) != 5 ||
	    fstat(img->fd, &st) < 0)
		return -EINVAL;
	if (size != img->size || mtime_s != (long long)st.st_mtim.tv_sec ||
	    mtime_ns != st.st_mtim.tv_nsec || !id ||
	    words != (size_t)(size / (DIRTY_CHUNK * 64) + 1))
		return -ESTALE;
	bits = malloc(words * sizeof(*bits));
	if (!bits)
		return -ENOMEM;
	if (fread(bits, sizeof(*bits), words, f) != words) {
		free(bits);
		return -EINVAL;
	}
	img->dirty = dirty_restore(size, id, bits);
	if (!img->dirty) {
		free(bits);
		return -ENOMEM;
	}
	return 0;
}

int blkrepl_image_load_dirty(struct blkrepl_image *img, const char *state_dir)
{
	char *path = state_path(state_dir, img->path, ".dirty");
	FILE *f;
	int r;

	if (!path)
		return -ENOMEM;
	f = fopen(path, "re");
	if (!f) {
		free(path);
		return 0;
	}
	unlink(path);
	r = img->is_blockdev ? -ESTALE : read_dirty(img, f);
	fclose(f);
	if (r == -ESTALE)
		br_info(img->ctx,
			"%s changed since its last server saved what its replica lacks: the next protection syncs it in full",
			img->path);
	else if (r < 0)
		br_err(img->ctx, "%s: not a file of changes to resync", path);
	else
		br_info(img->ctx,
			"the changes of %s not yet on its replica are known again: the next protection resyncs them",
			img->path);
	free(path);
	return r == -ESTALE ? 0 : r;
}
