// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The backup: authenticates the primary, builds the backup domain paused
 * with libxl_domain_create_restore (checkpointed stream, Remus), and hands
 * libxl only whole checkpoints: the decoded stream of checkpoint N is held
 * in memory until its EPOCH_END, acknowledged, then written to libxl's
 * restore pipe by a feeder thread. When the primary is lost the pipe is
 * closed at a checkpoint boundary, libxl fails over to the last complete
 * checkpoint, and the domain is renamed to the guest's name and unpaused.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libxl.h>
#include <libxl_utils.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chunk_queue.h"
#include "libxrepl-private.h"
#include "xen_log.h"

struct backup {
	struct xrepl_ctx *ctx;
	const struct xrepl_receive_opts *o;
	xentoollog_logger *xtl;
	libxl_ctx *lx;
	libxl_domain_config dc;
	char *name; /* the guest's name */
	char *incoming; /* the backup domain's name until failover */
	uint32_t domid;
	struct xrepl_wire *w;
	struct xrepl_decoder *dec;
	struct chunk_queue q; /* whole checkpoints for libxl */
	struct chunk *pending; /* the checkpoint being received */
	size_t pending_cap;
	int pipe_w;
	int pipe_r;
	pthread_t restorer;
	pthread_t feeder;
	int restore_rc;
	int feed_err;
	uint64_t acked;
	double t_start;
	char status_file[4096];
	char pid_file[4096];
};

static void write_status(struct backup *b, const char *state)
{
	char tmp[4096 + 8];
	struct xrepl_codec_stats st;
	FILE *f;

	if (!b->status_file[0])
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", b->status_file);
	f = fopen(tmp, "we");
	if (!f)
		return;
	xrepl_decoder_stats(b->dec, &st);
	fprintf(f,
		"{\"domain\": \"%s\", \"domid\": %u, \"role\": \"backup\", \"state\": \"%s\", "
		"\"pid\": %d, \"epochs\": %llu, \"bytes_raw\": %llu, \"bytes_wire\": %llu, "
		"\"uptime_s\": %.1f",
		b->name ? b->name : "", b->domid, state, (int)getpid(),
		(unsigned long long)b->acked,
		(unsigned long long)st.stream_bytes,
		(unsigned long long)st.wire_bytes,
		(xrepl_now_ms() - b->t_start) / 1e3);
	if (b->o->hooks && b->o->hooks->report)
		b->o->hooks->report(b->o->hooks->data, f);
	fputs("}\n", f);
	fclose(f);
	rename(tmp, b->status_file);
}

/* ------------------------------------------------------------ threads */

static void *restorer_main(void *arg)
{
	struct backup *b = arg;
	libxl_domain_restore_params params;

	libxl_domain_restore_params_init(&params);
	params.checkpointed_stream = LIBXL_CHECKPOINTED_STREAM_REMUS;
	params.stream_version = 2;
	b->restore_rc = libxl_domain_create_restore(
		b->lx, &b->dc, &b->domid, b->pipe_r, -1, &params, NULL, NULL);
	libxl_domain_restore_params_dispose(&params);
	return NULL;
}

static void *feeder_main(void *arg)
{
	struct backup *b = arg;
	struct chunk *c;
	const uint8_t *p;
	size_t len;
	ssize_t n;
	int timed_out;

	while ((c = chunk_queue_pop(&b->q, 1000, &timed_out)) || timed_out) {
		if (!c)
			continue;
		for (p = c->data, len = c->len; len && !b->feed_err;
		     p += n, len -= (size_t)n) {
			n = write(b->pipe_w, p, len);
			if (n < 0 && errno == EINTR) {
				n = 0;
				continue;
			}
			if (n < 0)
				b->feed_err = -errno;
		}
		free(c);
	}
	return NULL;
}

/* ------------------------------------------------------------ receiving */

static int keep(void *data, const void *buf, size_t len)
{
	struct backup *b = data;
	struct chunk *grown;
	size_t cap;

	if (!b->pending || b->pending->len + len > b->pending_cap) {
		cap = b->pending_cap ? b->pending_cap : 1 << 20;
		while (cap < (b->pending ? b->pending->len : 0) + len)
			cap *= 2;
		grown = realloc(b->pending, sizeof(*grown) + cap);
		if (!grown)
			return -ENOMEM;
		if (!b->pending)
			grown->len = 0;
		b->pending = grown;
		b->pending_cap = cap;
	}
	memcpy(b->pending->data + b->pending->len, buf, len);
	b->pending->len += len;
	return 0;
}

/*
 * Checkpoint N is wholly in memory: acknowledge it, commit its disk writes
 * (while the primary runs epoch N+1), then hand it over. A primary that
 * cannot hear the ACK any more still sent the whole checkpoint, and its
 * output of epoch N was never released: the backup may resume from it
 * (-EPIPE).
 */
static int epoch_end(struct backup *b, const struct xrepl_frame *f)
{
	const struct xrepl_receive_hooks *h = b->o->hooks;
	int acked;
	uint64_t n;

	memcpy(&n, f->payload, 8);
	n = le64toh(n);
	if (n != b->acked + 1 ||
	    xrepl_stream_checkpoints(xrepl_decoder_stream(b->dec)) != n) {
		err(b->ctx,
		    "protocol error: EPOCH_END %llu, but %u checkpoints decoded after %llu acknowledged",
		    (unsigned long long)n,
		    xrepl_stream_checkpoints(xrepl_decoder_stream(b->dec)),
		    (unsigned long long)b->acked);
		return -EPROTO;
	}
	acked = !xrepl_wire_send_u64(b->w, XREPL_FRAME_ACK, n);
	if (h && h->commit && h->commit(h->data, n) < 0) {
		xrepl_wire_send(b->w, XREPL_FRAME_BYE, "disk commit failed",
				18);
		return -EIO;
	}
	b->acked = n;
	if (b->pending) {
		chunk_queue_push(&b->q, b->pending);
		b->pending = NULL;
		b->pending_cap = 0;
	}
	if (n == 1 || n % 10 == 0)
		write_status(b, "receiving");
	return acked ? 0 : -EPIPE;
}

static int disk_data(struct backup *b, const struct xrepl_frame *f)
{
	const struct xrepl_receive_hooks *h = b->o->hooks;
	char vdev[XREPL_VDEV_MAX + 1];
	const uint8_t *data;
	const char *why;
	size_t len;

	if (xrepl_disk_frame_parse(f, vdev, &data, &len, &why) < 0) {
		err(b->ctx, "protocol error: %s", why);
		return -EPROTO;
	}
	if (!h || !h->disk_data) {
		err(b->ctx, "the primary replicates disk %s, but no disk here",
		    vdev);
		return -EPROTO;
	}
	return h->disk_data(h->data, vdev, data, len) < 0 ? -EPROTO : 0;
}

enum outcome { PRIMARY_LOST, UNPROTECTED, FAILED };

static enum outcome receive_loop(struct backup *b)
{
	/* short enough for xrepl failover's signal to be seen promptly */
	int tick = b->o->timeout_ms / 4 < 500 ? (int)b->o->timeout_ms / 4 : 500;
	int r;
	double last_heard = xrepl_now_ms(), last_sent = 0;
	struct xrepl_frame f;

	for (;;) {
		if (b->o->failover && *b->o->failover) {
			info(b->ctx, "failover requested");
			return PRIMARY_LOST;
		}
		if (b->feed_err) {
			err(b->ctx, "libxl stopped reading the stream: %s",
			    strerror(-b->feed_err));
			return FAILED;
		}
		if (xrepl_now_ms() - last_sent >= tick) {
			if (xrepl_wire_send_u64(b->w, XREPL_FRAME_HEARTBEAT,
						(uint64_t)xrepl_now_ms()) < 0) {
				info(b->ctx, "primary lost: %s",
				     xrepl_wire_strerror(b->w));
				return PRIMARY_LOST;
			}
			last_sent = xrepl_now_ms();
		}
		r = xrepl_wire_recv(b->w, &f, tick);
		if (r == -ETIMEDOUT) {
			if (xrepl_now_ms() - last_heard < b->o->timeout_ms)
				continue;
			info(b->ctx, "primary lost: nothing heard for %u ms",
			     b->o->timeout_ms);
			return PRIMARY_LOST;
		}
		if (r < 0) {
			info(b->ctx, "primary lost: %s",
			     xrepl_wire_strerror(b->w));
			return r == -EPROTO ? FAILED : PRIMARY_LOST;
		}
		last_heard = xrepl_now_ms();
		switch (f.type) {
		case XREPL_FRAME_STREAM:
			r = xrepl_decoder_feed(b->dec, f.payload, f.len);
			break;
		case XREPL_FRAME_EPOCH_END:
			r = epoch_end(b, &f);
			if (r == -EPIPE) {
				info(b->ctx, "primary lost: %s",
				     xrepl_wire_strerror(b->w));
				return PRIMARY_LOST;
			}
			if (r == -EIO)
				return FAILED;
			break;
		case XREPL_FRAME_DISK:
			r = disk_data(b, &f);
			if (r < 0)
				return FAILED;
			break;
		case XREPL_FRAME_HEARTBEAT:
			r = 0;
			break;
		case XREPL_FRAME_BYE:
			info(b->ctx, "the primary stopped protection: %.*s",
			     (int)f.len, (const char *)f.payload);
			return UNPROTECTED;
		default:
			err(b->ctx, "protocol error: unexpected %s frame",
			    xrepl_frame_type_name(f.type));
			return FAILED;
		}
		if (r < 0) {
			err(b->ctx,
			    "the stream from the primary is invalid: %s",
			    xrepl_decoder_strerror(b->dec));
			return FAILED;
		}
	}
}

/* ------------------------------------------------------------ setup */

/* xrepl failover DOMAIN finds this process here. */
static void write_pid_file(struct backup *b)
{
	FILE *f;

	snprintf(b->pid_file, sizeof(b->pid_file), "%s/%s.backup.pid",
		 b->o->run_dir, b->name);
	f = fopen(b->pid_file, "we");
	if (!f) {
		b->pid_file[0] = '\0';
		return;
	}
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
}

static int read_config(struct backup *b)
{
	struct xrepl_frame f;
	char *json;
	int r;

	r = xrepl_wire_recv(b->w, &f, (int)b->o->timeout_ms);
	if (r < 0)
		return r;
	if (f.type != XREPL_FRAME_CONFIG) {
		err(b->ctx, "protocol error: %s before CONFIG",
		    xrepl_frame_type_name(f.type));
		return -EPROTO;
	}
	json = strndup((const char *)f.payload, f.len);
	if (!json)
		return -ENOMEM;
	r = libxl_domain_config_from_json(b->lx, &b->dc, json);
	free(json);
	if (r || !b->dc.c_info.name) {
		err(b->ctx,
		    "the primary sent a domain config libxl cannot parse");
		return -EPROTO;
	}
	b->name = strdup(b->dc.c_info.name);
	if (asprintf(&b->incoming, "%s--incoming", b->name) < 0)
		return -ENOMEM;
	free(b->dc.c_info.name);
	b->dc.c_info.name = strdup(b->incoming);
	if (b->o->run_dir) {
		mkdir(b->o->run_dir, 0755);
		snprintf(b->status_file, sizeof(b->status_file),
			 "%s/%s.backup.json", b->o->run_dir, b->name);
		write_pid_file(b);
	}
	return 0;
}

/* FROM=TO of --disk-map: where a disk the primary has at FROM is here. */
static const char *mapped(const struct backup *b, const char *path)
{
	const char *const *m;
	size_t n;

	for (m = b->o->disk_map; m && *m; m++) {
		n = strcspn(*m, "=");
		if ((*m)[n] && strlen(path) == n && !strncmp(*m, path, n))
			return *m + n + 1;
	}
	return path;
}

static int is_blkrepl(const libxl_device_disk *d)
{
	const char *base = d->script ? strrchr(d->script, '/') : NULL;

	return d->script && !strcmp(base ? base + 1 : d->script, "block-xrepl");
}

/* DISK_STATE: u8 n, vdev, u64 id */
static int add_state(uint8_t *buf, size_t *len, const char *vdev, uint64_t id)
{
	size_t vlen = strlen(vdev);

	if (!vlen || vlen > XREPL_VDEV_MAX ||
	    *len + 1 + vlen + 8 > XREPL_DISK_STATE_MAX)
		return -E2BIG;
	buf[(*len)++] = (uint8_t)vlen;
	memcpy(buf + *len, vdev, vlen);
	*len += vlen;
	id = htole64(id);
	memcpy(buf + *len, &id, 8);
	*len += 8;
	return 0;
}

/*
 * The guest's disks as they are here, the replicated ones announced to the
 * hooks, and to the primary which of them can be resynced.
 */
static int map_disks(struct backup *b)
{
	const struct xrepl_receive_hooks *h = b->o->hooks;
	uint8_t state[XREPL_DISK_STATE_MAX];
	libxl_device_disk *d;
	size_t len = 0;
	const char *to;
	uint64_t id;
	int i;

	for (i = 0; i < b->dc.num_disks; i++) {
		d = &b->dc.disks[i];
		if (!d->pdev_path)
			continue;
		to = mapped(b, d->pdev_path);
		if (to != d->pdev_path) {
			info(b->ctx, "disk %s: %s here is the primary's %s",
			     d->vdev, to, d->pdev_path);
			free(d->pdev_path);
			d->pdev_path = strdup(to);
			if (!d->pdev_path)
				return -ENOMEM;
		}
		if (!is_blkrepl(d) || !h || !h->disk)
			continue;
		if (h->disk(h->data, d->vdev, d->pdev_path, &id) < 0 ||
		    add_state(state, &len, d->vdev, id) < 0)
			return -EIO;
	}
	return xrepl_wire_send(b->w, XREPL_FRAME_DISK_STATE, state, len);
}

static int open_libxl(struct backup *b)
{
	b->xtl = xrepl_xtl_new(b->ctx);
	if (!b->xtl)
		return -ENOMEM;
	if (libxl_ctx_alloc(&b->lx, LIBXL_VERSION, 0, b->xtl)) {
		err(b->ctx, "cannot open libxl: is this a Xen control domain?");
		return -EIO;
	}
	return 0;
}

static int start(struct backup *b)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	b->pipe_r = fds[0];
	b->pipe_w = fds[1];
	if (pthread_create(&b->restorer, NULL, restorer_main, b) ||
	    pthread_create(&b->feeder, NULL, feeder_main, b))
		return -EAGAIN;
	return 0;
}

static int has_domain(const struct backup *b)
{
	return b->domid && b->domid != (uint32_t)INVALID_DOMID;
}

/* Lets libxl finish with what it has: the last complete checkpoint. */
static void stop_feeding(struct backup *b)
{
	chunk_queue_close(&b->q);
	pthread_join(b->feeder, NULL);
	close(b->pipe_w);
	b->pipe_w = -1;
	pthread_join(b->restorer, NULL);
}

static int fail_over(struct backup *b)
{
	int r;

	stop_feeding(b);
	if (b->restore_rc || !b->acked) {
		err(b->ctx, "failover of %s impossible: %s", b->name,
		    b->acked ? "libxl could not restore the last checkpoint" :
			       "no complete checkpoint was received");
		if (has_domain(b))
			libxl_domain_destroy(b->lx, b->domid, NULL);
		write_status(b, "failed");
		return -EIO;
	}
	r = libxl_domain_rename(b->lx, b->domid, b->incoming, b->name);
	if (r)
		warn(b->ctx,
		     "cannot rename %s to %s (libxl error %d); unpausing it anyway",
		     b->incoming, b->name, r);
	r = libxl_domain_unpause(b->lx, b->domid, NULL);
	if (r) {
		err(b->ctx,
		    "failover: cannot unpause domain %u (libxl error %d)",
		    b->domid, r);
		write_status(b, "failed");
		return -EIO;
	}
	info(b->ctx, "failover: %s runs as domain %u from checkpoint %llu",
	     b->name, b->domid, (unsigned long long)b->acked);
	write_status(b, "failed-over");
	return 0;
}

XREPL_EXPORT int xrepl_receive(struct xrepl_ctx *ctx,
			       const struct xrepl_receive_opts *o)
{
	struct xrepl_codec_opts copts = { XREPL_COMPRESS_NONE, o->cache_bytes };
	struct backup b = { .ctx = ctx,
			    .o = o,
			    .pipe_r = -1,
			    .pipe_w = -1,
			    .domid = (uint32_t)INVALID_DOMID };
	enum outcome how;
	int r;

	b.t_start = xrepl_now_ms();
	libxl_domain_config_init(&b.dc);
	chunk_queue_init(&b.q);
	b.w = xrepl_wire_new(ctx, o->in, o->out, o->key);
	b.dec = xrepl_decoder_new(ctx, &copts, keep, &b);
	if (!b.w || !b.dec) {
		r = -ENOMEM;
		goto out;
	}
	/* nobody without the key gets as far as a domain */
	r = xrepl_wire_accept(b.w, (int)o->timeout_ms);
	if (r < 0)
		goto out;
	r = open_libxl(&b);
	if (r < 0)
		goto out;
	r = read_config(&b);
	if (r < 0)
		goto out;
	r = map_disks(&b);
	if (r < 0) {
		xrepl_wire_send(b.w, XREPL_FRAME_BYE,
				"no replicas for its disks", 25);
		goto out;
	}
	r = start(&b);
	if (r < 0)
		goto out;
	info(ctx, "receiving %s as %s", b.name, b.incoming);
	write_status(&b, "receiving");
	how = receive_loop(&b);
	/* uncommitted disk writes go before libxl attaches the replicas */
	if (o->hooks && o->hooks->end)
		o->hooks->end(o->hooks->data, how == PRIMARY_LOST);
	if (how == PRIMARY_LOST) {
		r = fail_over(&b);
	} else {
		stop_feeding(&b);
		if (has_domain(&b))
			libxl_domain_destroy(b.lx, b.domid, NULL);
		write_status(&b, how == UNPROTECTED ? "stopped" : "failed");
		r = how == UNPROTECTED ? 0 : -EPROTO;
	}
out:
	if (b.pipe_w >= 0) {
		chunk_queue_close(&b.q);
		close(b.pipe_w);
	}
	if (b.pipe_r >= 0)
		close(b.pipe_r);
	if (b.pid_file[0])
		unlink(b.pid_file);
	free(b.pending);
	xrepl_decoder_free(b.dec);
	xrepl_wire_free(b.w);
	libxl_domain_config_dispose(&b.dc);
	if (b.lx)
		libxl_ctx_free(b.lx);
	xtl_logger_destroy(b.xtl);
	chunk_queue_fini(&b.q);
	free(b.name);
	free(b.incoming);
	return r;
}
