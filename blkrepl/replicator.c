// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The engine's end of a disk's replication. A reader thread drains the
 * server's records into memory as fast as they come: the server writes
 * them under the image's lock, so a replicator that let its socket fill
 * would stall the guest's writes. The records are handed over an epoch at
 * a time, cut just after MARKED(N), when the engine sends checkpoint N,
 * and in parts before that once HOLD_MAX of them wait: a first sync of a
 * large disk goes out as it is read, never held whole, and the server
 * waits (the guest's writes with it) only while the engine sends a part.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "blkrepl-private.h"

#define READ_CHUNK (256u << 10)
/* well within what the server waits for a replicator (5 s) at 100 Mbit/s */
#define HOLD_MAX (16u << 20)

struct blkrepl_replicator {
	struct blkrepl_ctx *ctx;
	char *control;
	int fd;
	pthread_t reader;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* under lock */
	uint8_t *buf;
	size_t len, cap;
	uint8_t *spare; /* what the last take handed over */
	size_t spare_cap;
	size_t parsed; /* whole records up to here */
	size_t cut; /* just after MARKED(marked) */
	uint64_t marked;
	uint64_t taken;
	size_t held_max; /* the most the reader has held */
	int closing;
	int err;
};

/* Finds the MARKEDs in what has arrived. */
static int scan(struct blkrepl_replicator *rep)
{
	struct blkrepl_rec rec;
	const char *why;
	size_t used;
	int r;

	while ((r = blkrepl_rec_parse(rep->buf + rep->parsed,
				      rep->len - rep->parsed, &rec, &used,
				      &why)) == 1) {
		rep->parsed += used;
		if (rec.type != BLKREPL_REC_MARKED)
			continue;
		rep->marked = rec.offset;
		rep->cut = rep->parsed;
		pthread_cond_broadcast(&rep->cond);
	}
	if (r < 0)
		br_err(rep->ctx, "%s sent a bad record: %s", rep->control, why);
	return r < 0 ? -EPROTO : 0;
}

/*
 * Reads straight into the buffer, under the lock because the buffer may
 * move; the wait for data is outside it, so take() is never held up by a
 * quiet server.
 */
static void *reader_main(void *arg)
{
	struct blkrepl_replicator *rep = arg;
	struct pollfd pfd = { .fd = rep->fd, .events = POLLIN };
	ssize_t n;
	int r = 0;

	while (!r) {
		if (poll(&pfd, 1, -1) < 0) {
			r = errno == EINTR ? 0 : -errno;
			continue;
		}
		pthread_mutex_lock(&rep->lock);
		/* whole records waiting are enough: the server waits for us */
		while (rep->len >= HOLD_MAX && rep->parsed && !rep->closing)
			pthread_cond_wait(&rep->cond, &rep->lock);
		r = buffer_reserve(&rep->buf, &rep->cap, rep->len + READ_CHUNK,
				   READ_CHUNK);
		n = r ? 0 :
			recv(rep->fd, rep->buf + rep->len, READ_CHUNK,
			     MSG_DONTWAIT);
		if (n > 0) {
			rep->len += (size_t)n;
			if (rep->len > rep->held_max)
				rep->held_max = rep->len;
			r = scan(rep);
		} else if (!r && (!n || (errno != EAGAIN && errno != EINTR))) {
			r = n ? -errno : -ECONNRESET;
		}
		pthread_mutex_unlock(&rep->lock);
	}
	pthread_mutex_lock(&rep->lock);
	rep->err = r;
	pthread_cond_broadcast(&rep->cond);
	pthread_mutex_unlock(&rep->lock);
	return NULL;
}

static int command(struct blkrepl_replicator *rep, uint32_t type,
		   uint64_t epoch)
{
	uint8_t hdr[BLKREPL_REC_HDR];
	int r;

	blkrepl_rec_header(hdr, type, 0, epoch);
	r = write_full(rep->fd, hdr, sizeof(hdr));
	if (r < 0)
		br_err(rep->ctx, "cannot write to %s: %s", rep->control,
		       strerror(-r));
	return r;
}

static int connect_control(struct blkrepl_replicator *rep)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(rep->control) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, rep->control);
	rep->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (rep->fd < 0)
		return -errno;
	if (connect(rep->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return 0;
}

/* the replica's digests, in commands of at most BLKREPL_REC_MAX_DATA */
static int send_hashes(struct blkrepl_replicator *rep, const uint8_t *hashes,
		       uint64_t n)
{
	const uint64_t per = BLKREPL_REC_MAX_DATA / BLKREPL_HASH_LEN;
	uint8_t hdr[BLKREPL_REC_HDR];
	uint64_t first, k;
	int r = 0;

	for (first = 0; !r && first < n; first += k) {
		k = n - first < per ? n - first : per;
		blkrepl_rec_header(hdr, BLKREPL_CMD_HASHES,
				   (uint32_t)(k * BLKREPL_HASH_LEN), first);
		r = write_full(rep->fd, hdr, sizeof(hdr));
		if (!r)
			r = write_full(rep->fd,
				       hashes + first * BLKREPL_HASH_LEN,
				       k * BLKREPL_HASH_LEN);
	}
	if (r < 0)
		br_err(rep->ctx, "cannot write to %s: %s", rep->control,
		       strerror(-r));
	return r;
}

int blkrepl_replicator_new(struct blkrepl_ctx *ctx, const char *control,
			   uint64_t resync_id, const uint8_t *hashes,
			   uint64_t n_hashes, struct blkrepl_replicator **out)
{
	struct blkrepl_replicator *rep = calloc(1, sizeof(*rep));
	int r;

	if (!rep)
		return -ENOMEM;
	rep->ctx = ctx;
	rep->fd = -1;
	pthread_mutex_init(&rep->lock, NULL);
	pthread_cond_init(&rep->cond, NULL);
	rep->control = strdup(control);
	r = rep->control ? connect_control(rep) : -ENOMEM;
	if (r < 0) {
		br_err(ctx, "cannot connect to disk-server control %s: %s",
		       control, strerror(-r));
		blkrepl_replicator_free(rep);
		return r;
	}
	r = resync_id ? 0 : send_hashes(rep, hashes, n_hashes);
	if (!r)
		r = command(rep, BLKREPL_CMD_START, resync_id);
	if (!r && pthread_create(&rep->reader, NULL, reader_main, rep))
		r = -EAGAIN;
	if (r < 0) {
		close(rep->fd);
		rep->fd = -1;
		blkrepl_replicator_free(rep);
		return r;
	}
	*out = rep;
	return 0;
}

void blkrepl_replicator_free(struct blkrepl_replicator *rep)
{
	if (!rep)
		return;
	if (rep->fd >= 0) {
		pthread_mutex_lock(&rep->lock);
		rep->closing = 1;
		pthread_cond_broadcast(&rep->cond);
		pthread_mutex_unlock(&rep->lock);
		/* the server sees the end and lets go of the image */
		shutdown(rep->fd, SHUT_RDWR);
		pthread_join(rep->reader, NULL);
		close(rep->fd);
	}
	pthread_cond_destroy(&rep->cond);
	pthread_mutex_destroy(&rep->lock);
	free(rep->buf);
	free(rep->spare);
	free(rep->control);
	free(rep);
}

int blkrepl_replicator_mark(struct blkrepl_replicator *rep, uint64_t epoch)
{
	return command(rep, BLKREPL_CMD_MARK, epoch);
}

int blkrepl_replicator_committed(struct blkrepl_replicator *rep, uint64_t epoch)
{
	return command(rep, BLKREPL_CMD_COMMITTED, epoch);
}

/*
 * Under lock: the records up to UPTO go to the caller, the rest moves to
 * the spare buffer, which takes over. Two buffers, swapped each time:
 * their pages stay, nothing is allocated once they are big enough.
 */
static int hand_over(struct blkrepl_replicator *rep, size_t upto,
		     const uint8_t **buf, size_t *len)
{
	size_t rest = rep->len - upto, cap;
	uint8_t *p;

	if (buffer_reserve(&rep->spare, &rep->spare_cap, rest + READ_CHUNK,
			   READ_CHUNK))
		return -ENOMEM;
	memcpy(rep->spare, rep->buf + upto, rest);
	*buf = rep->buf;
	*len = upto;
	rep->taken += upto;
	p = rep->buf;
	cap = rep->cap;
	rep->buf = rep->spare;
	rep->cap = rep->spare_cap;
	rep->spare = p;
	rep->spare_cap = cap;
	rep->len = rest;
	rep->parsed -= upto;
	rep->cut = 0;
	/* the reader may have room again */
	pthread_cond_broadcast(&rep->cond);
	return 0;
}

/* Under lock: a part of EPOCH is due (MARKED(EPOCH) has not come yet). */
static int part_due(const struct blkrepl_replicator *rep, int timeout_ms)
{
	return rep->parsed && (!timeout_ms || rep->len >= HOLD_MAX);
}

static void deadline_in(struct timespec *t, int ms)
{
	clock_gettime(CLOCK_REALTIME, t);
	t->tv_sec += ms / 1000;
	t->tv_nsec += (long)(ms % 1000) * 1000000;
	if (t->tv_nsec >= 1000000000) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000;
	}
}

int blkrepl_replicator_take(struct blkrepl_replicator *rep, uint64_t epoch,
			    int timeout_ms, const uint8_t **buf, size_t *len)
{
	struct timespec deadline;
	int r = 0;

	*len = 0;
	deadline_in(&deadline, timeout_ms);
	pthread_mutex_lock(&rep->lock);
	while (rep->marked < epoch && !part_due(rep, timeout_ms) && !rep->err &&
	       timeout_ms && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&rep->cond, &rep->lock, &deadline);
	if (rep->marked >= epoch)
		r = hand_over(rep, rep->cut, buf, len) < 0 ? -ENOMEM : 1;
	else if (part_due(rep, timeout_ms))
		r = hand_over(rep, rep->parsed, buf, len);
	else if (rep->err)
		r = rep->err;
	else
		r = timeout_ms ? -ETIMEDOUT : 0;
	pthread_mutex_unlock(&rep->lock);
	if (r < 0)
		br_err(rep->ctx, "no MARKED %llu from %s: %s",
		       (unsigned long long)epoch, rep->control,
		       r == -ECONNRESET ? "the disk-server went away" :
					  strerror(-r));
	return r;
}

size_t blkrepl_replicator_held_max(const struct blkrepl_replicator *rep)
{
	return rep->held_max;
}

uint64_t blkrepl_replicator_bytes(const struct blkrepl_replicator *rep)
{
	return rep->taken;
}
