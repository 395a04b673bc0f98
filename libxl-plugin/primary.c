// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The primary: checkpoints a running guest to the backup with Xen's own
 * save machinery (xc_domain_save, XC_STREAM_REMUS) inside a libxl v2
 * stream, and commits each epoch only once the backup has acknowledged it.
 *
 * Threads:
 *  main      xc_domain_save and its callbacks: suspend, resume, and per
 *            checkpoint the wait for the backup's ACK;
 *  reader    drains the pipe libxc writes into, into memory, and does
 *            nothing else: the guest is paused while libxc writes, so its
 *            pause is the copy only;
 *  sender    encodes what the reader queued and sends it, marks each
 *            complete checkpoint with EPOCH_END, and sends heartbeats;
 *  receiver  reads ACKs and heartbeats; silence or a broken connection
 *            declares the backup lost.
 * The main thread writes libxl's own records into the same pipe as libxc,
 * after libxc is done with a checkpoint, so the stream's order is the
 * pipe's order.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libxl.h>
#include <libxl_utils.h>
#include <poll.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xenctrl.h>
#include <xenguest.h>

#include "adaptive.h"
#include "chunk_queue.h"
#include "libxrepl-private.h"
#include "stream.h"
#include "xen_log.h"

#define READ_CHUNK (1u << 20)

struct figure {
	double last;
	double sum;
	double max;
	uint64_t n;
};

struct primary {
	struct xrepl_ctx *ctx;
	const struct xrepl_protect_opts *o;
	xentoollog_logger *xtl;
	libxl_ctx *lx;
	xc_interface *xch;
	uint32_t domid;
	size_t hooks_started;
	struct xrepl_wire *w;
	struct xrepl_encoder *enc;
	struct chunk_queue q;
	int pipe_r;
	int pipe_w;
	pthread_t reader;
	pthread_t sender;
	pthread_t receiver;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* under lock */
	uint64_t acked;
	uint64_t sent;
	int lost;
	char why[256];
	/* main thread only */
	uint64_t epoch;
	double t_suspend;
	double t_epoch_start;
	uint64_t pages_before;
	uint64_t dirty_last;
	struct figure pause;
	struct figure ack;
	double t_start;
	struct adaptive adaptive;
	unsigned int interval_ms; /* the current one: --adaptive varies it */
	double t_last_suspend;
};

static void figure_add(struct figure *f, double v)
{
	f->last = v;
	f->sum += v;
	f->max = v > f->max ? v : f->max;
	f->n++;
}

__attribute__((format(printf, 2, 3))) static void
backup_lost(struct primary *p, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&p->lock);
	if (!p->lost) {
		va_start(ap, fmt);
		vsnprintf(p->why, sizeof(p->why), fmt, ap);
		va_end(ap);
		p->lost = 1;
	}
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

enum hook_point { HOOK_SUSPEND, HOOK_SUSPENDED, HOOK_COMMIT };

/* Every hook's SUSPEND, SUSPENDED or COMMIT for EPOCH; the first failure
 * stops the rest. */
static int run_hooks(struct primary *p, enum hook_point at, uint64_t epoch)
{
	const struct xrepl_epoch_hooks *h;
	int (*fn)(void *, uint64_t);
	size_t i;

	for (i = 0; i < p->o->n_hooks; i++) {
		h = &p->o->hooks[i];
		fn = at == HOOK_SUSPEND	  ? h->suspend :
		     at == HOOK_SUSPENDED ? h->suspended :
					    h->commit;
		if (fn && fn(h->data, epoch) < 0)
			return -EIO;
	}
	return 0;
}

/* ------------------------------------------------------------ threads */

/*
 * Copies what libxc writes into memory. Large reads go to the queue as
 * they are; small ones (libxl's and libxc's short records) are copied into
 * a fitted chunk so that the big buffer is reused.
 */
static void *reader_main(void *arg)
{
	struct primary *p = arg;
	struct chunk *c = NULL, *fit;
	ssize_t n;

	for (;;) {
		if (!c)
			c = malloc(sizeof(*c) + READ_CHUNK);
		if (!c) {
			backup_lost(p,
				    "out of memory buffering the checkpoint");
			break;
		}
		n = read(p->pipe_r, c->data, READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		c->len = (size_t)n;
		if (n >= READ_CHUNK / 16) {
			chunk_queue_push(&p->q, c);
			c = NULL;
			continue;
		}
		fit = malloc(sizeof(*fit) + (size_t)n);
		if (!fit) {
			backup_lost(p,
				    "out of memory buffering the checkpoint");
			break;
		}
		memcpy(fit->data, c->data, (size_t)n);
		fit->len = (size_t)n;
		chunk_queue_push(&p->q, fit);
	}
	free(c);
	chunk_queue_close(&p->q);
	return NULL;
}

static int send_stream(void *data, const void *buf, size_t len)
{
	struct primary *p = data;
	const uint8_t *b = buf;
	size_t n;
	int r;

	if (p->o->blackhole)
		return 0;
	while (len) {
		n = len < XREPL_WIRE_STREAM_MAX ? len : XREPL_WIRE_STREAM_MAX;
		r = xrepl_wire_send(p->w, XREPL_FRAME_STREAM, b, n);
		if (r < 0)
			return r;
		b += n;
		len -= n;
	}
	return 0;
}

/* What else epoch N needs (its disk writes), before its EPOCH_END. */
static int send_hooks(struct primary *p, uint64_t epoch)
{
	const struct xrepl_epoch_hooks *h;
	size_t i;

	for (i = 0; i < p->o->n_hooks; i++) {
		h = &p->o->hooks[i];
		if (h->send && h->send(h->data, epoch, p->w) < 0) {
			backup_lost(p, "cannot send epoch %llu's disk writes",
				    (unsigned long long)epoch);
			return -EIO;
		}
	}
	return 0;
}

/*
 * EPOCH_END for every checkpoint the encoder has finished; with -b nobody
 * is there, and a checkpoint is acknowledged as soon as it is encoded.
 */
static int mark_epochs(struct primary *p)
{
	uint64_t done = xrepl_stream_checkpoints(xrepl_encoder_stream(p->enc));
	int r = 0;

	while (!r && p->sent < done) {
		r = send_hooks(p, p->sent + 1);
		if (!r && !p->o->blackhole)
			r = xrepl_wire_send_u64(p->w, XREPL_FRAME_EPOCH_END,
						p->sent + 1);
		if (r)
			break;
		pthread_mutex_lock(&p->lock);
		p->sent++;
		if (p->o->blackhole)
			p->acked = p->sent;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
	return r;
}

static void *sender_main(void *arg)
{
	struct primary *p = arg;
	int idle = p->o->timeout_ms / 4, timed_out, r = 0;
	struct chunk *c;

	while (!r) {
		c = chunk_queue_pop(&p->q, idle, &timed_out);
		if (!c && !timed_out)
			break;
		if (!c) {
			if (!p->o->blackhole)
				r = xrepl_wire_send_u64(
					p->w, XREPL_FRAME_HEARTBEAT,
					(uint64_t)xrepl_now_ms());
			continue;
		}
		r = xrepl_encoder_feed(p->enc, c->data, c->len);
		free(c);
		if (!r)
			r = mark_epochs(p);
	}
	if (r < 0)
		backup_lost(p, "sending to the backup: %s",
			    p->w && xrepl_wire_strerror(p->w)[0] ?
				    xrepl_wire_strerror(p->w) :
				    xrepl_stream_strerror(
					    xrepl_encoder_stream(p->enc)));
	return NULL;
}

static void *receiver_main(void *arg)
{
	struct primary *p = arg;
	struct xrepl_frame f;
	uint64_t v;
	int r;

	for (;;) {
		r = xrepl_wire_recv(p->w, &f, (int)p->o->timeout_ms);
		if (r < 0) {
			backup_lost(
				p, "%s",
				r == -ETIMEDOUT ?
					"no heartbeat from the backup within the timeout" :
					xrepl_wire_strerror(p->w));
			return NULL;
		}
		switch (f.type) {
		case XREPL_FRAME_ACK:
			memcpy(&v, f.payload, 8);
			pthread_mutex_lock(&p->lock);
			if (le64toh(v) > p->acked)
				p->acked = le64toh(v);
			pthread_cond_broadcast(&p->cond);
			pthread_mutex_unlock(&p->lock);
			break;
		case XREPL_FRAME_HEARTBEAT:
			break;
		case XREPL_FRAME_BYE:
			backup_lost(p, "the backup stopped: %.*s", (int)f.len,
				    (const char *)f.payload);
			return NULL;
		default:
			backup_lost(p, "protocol error: the backup sent %s",
				    xrepl_frame_type_name(f.type));
			return NULL;
		}
	}
}

/* ------------------------------------------------------------ status */

static void write_status(struct primary *p, const char *state)
{
	char tmp[4096 + 8];
	struct xrepl_codec_stats st;
	size_t i;
	FILE *f;

	if (!p->o->status_file)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", p->o->status_file);
	f = fopen(tmp, "we");
	if (!f)
		return;
	xrepl_encoder_stats(p->enc, &st);
	pthread_mutex_lock(&p->lock);
	fprintf(f,
		"{\"domain\": \"%s\", \"domid\": %u, \"role\": \"primary\", \"state\": \"%s\", "
		"\"why\": \"%s\", \"epochs\": %llu, \"acked\": %llu, \"interval_ms\": %u, "
		"\"pause_ms\": {\"last\": %.2f, \"avg\": %.2f, \"max\": %.2f}, "
		"\"ack_latency_ms\": {\"last\": %.2f, \"avg\": %.2f, \"max\": %.2f}, "
		"\"dirty_pages_last\": %llu, \"bytes_raw\": %llu, \"bytes_wire\": %llu, "
		"\"compress\": \"%s\", \"uptime_s\": %.1f",
		p->o->domain, p->domid, state, p->why,
		(unsigned long long)p->epoch, (unsigned long long)p->acked,
		p->interval_ms, p->pause.last,
		p->pause.n ? p->pause.sum / (double)p->pause.n : 0,
		p->pause.max, p->ack.last,
		p->ack.n ? p->ack.sum / (double)p->ack.n : 0, p->ack.max,
		(unsigned long long)p->dirty_last,
		(unsigned long long)st.stream_bytes,
		(unsigned long long)st.wire_bytes,
		xrepl_compress_name(p->o->compress),
		(xrepl_now_ms() - p->t_start) / 1e3);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->o->n_hooks; i++)
		if (p->o->hooks[i].report)
			p->o->hooks[i].report(p->o->hooks[i].data, f);
	fputs("}\n", f);
	fclose(f);
	rename(tmp, p->o->status_file);
}

/* ------------------------------------------------------------ callbacks */

/*
 * A guest that crashed or shut down will never answer the suspend request;
 * libxl would wait a minute to find that out.
 */
static int guest_gone(struct primary *p)
{
	libxl_dominfo info;
	int gone;

	libxl_dominfo_init(&info);
	gone = libxl_domain_info(p->lx, &info, p->domid) ||
	       (info.shutdown &&
		info.shutdown_reason != LIBXL_SHUTDOWN_REASON_SUSPEND);
	if (gone)
		err(p->ctx, "domain %u stopped under protection (%s)", p->domid,
		    info.shutdown ? libxl_shutdown_reason_to_string(
					    info.shutdown_reason) :
				    "gone");
	libxl_dominfo_dispose(&info);
	return gone;
}

static int suspend_cb(void *data)
{
	struct primary *p = data;
	int r;

	if (guest_gone(p))
		return 0;
	if (run_hooks(p, HOOK_SUSPEND, p->epoch + 1) < 0) {
		err(p->ctx, "cannot start epoch %llu (buffering failed)",
		    (unsigned long long)p->epoch + 1);
		return 0;
	}
	p->t_last_suspend = p->t_suspend;
	p->t_suspend = xrepl_now_ms();
	r = libxl_domain_suspend_only(p->lx, p->domid, NULL);
	if (r) {
		err(p->ctx, "cannot suspend domain %u (libxl error %d)",
		    p->domid, r);
		return 0;
	}
	if (run_hooks(p, HOOK_SUSPENDED, p->epoch + 1) < 0) {
		err(p->ctx, "cannot end epoch %llu (disk mark failed)",
		    (unsigned long long)p->epoch + 1);
		return 0;
	}
	return 1;
}

static int postcopy_cb(void *data)
{
	struct primary *p = data;
	int r;

	r = libxl_domain_resume(p->lx, p->domid, 1, NULL);
	figure_add(&p->pause, xrepl_now_ms() - p->t_suspend);
	if (r) {
		err(p->ctx, "cannot resume domain %u (libxl error %d)",
		    p->domid, r);
		return 0;
	}
	return 1;
}

static int write_record(struct primary *p, uint32_t type)
{
	uint32_t rec[2] = { htole32(type), 0 };
	const uint8_t *b = (const uint8_t *)rec;
	size_t len = sizeof(rec);
	ssize_t n;

	while (len) {
		n = write(p->pipe_w, b, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static uint64_t pages_sent(struct primary *p)
{
	struct xrepl_codec_stats st;

	xrepl_encoder_stats(p->enc, &st);
	return st.page_bytes / PAGE_SIZE_X86;
}

/*
 * Under p->lock: until the sender has sent all of checkpoint N (or the
 * backup is lost), however long that takes: a first checkpoint carries the
 * whole memory, and a dead backup is noticed by its missing heartbeats.
 * A late ACK is late counted from here. Returns the time.
 */
static double wait_until_sent(struct primary *p)
{
	struct timespec tick;

	while (p->sent < p->epoch && !p->lost) {
		tick = xrepl_deadline(p->o->timeout_ms);
		pthread_cond_timedwait(&p->cond, &p->lock, &tick);
	}
	return xrepl_now_ms();
}

/*
 * libxc has written checkpoint N (guest running again): close it with
 * libxl's CHECKPOINT_END, wait for the backup's ACK of N, commit the
 * epoch, and sleep out the interval.
 */
static int checkpoint_cb(void *data)
{
	struct primary *p = data;
	struct timespec deadline;
	double t_sent, left;
	int lost, acked, stop;

	p->epoch++;
	if (write_record(p, LIBXL_REC_CHECKPOINT_END) < 0) {
		backup_lost(p, "cannot write to the stream pipe");
		return 0;
	}
	pthread_mutex_lock(&p->lock);
	t_sent = wait_until_sent(p);
	deadline = xrepl_deadline(p->o->timeout_ms);
	while (p->acked < p->epoch && !p->lost)
		if (pthread_cond_timedwait(&p->cond, &p->lock, &deadline) ==
		    ETIMEDOUT)
			break;
	acked = p->acked >= p->epoch;
	lost = p->lost;
	pthread_mutex_unlock(&p->lock);
	if (!acked && !lost)
		backup_lost(p, "no ACK of checkpoint %llu within %u ms",
			    (unsigned long long)p->epoch, p->o->timeout_ms);
	if (!acked)
		return 0;
	figure_add(&p->ack, xrepl_now_ms() - t_sent);
	p->dirty_last = pages_sent(p) - p->pages_before;
	p->pages_before = pages_sent(p);
	if (p->o->adaptive && p->epoch > 1)
		p->interval_ms =
			adaptive_next(&p->adaptive, p->dirty_last,
				      p->t_suspend - p->t_last_suspend);
	if (run_hooks(p, HOOK_COMMIT, p->epoch) < 0) {
		err(p->ctx, "cannot commit epoch %llu (release failed)",
		    (unsigned long long)p->epoch);
		return 0;
	}
	write_status(p, "protecting");
	stop = p->o->stop && *p->o->stop;
	if (stop)
		return 0;
	left = (double)p->interval_ms - (xrepl_now_ms() - p->t_epoch_start);
	if (left > 0)
		usleep((useconds_t)(left * 1000));
	p->t_epoch_start = xrepl_now_ms();
	return !(p->o->stop && *p->o->stop);
}

/* PVH guests have no device model whose dirty logging needs switching. */
static int switch_qemu_logdirty_cb(uint32_t domid, unsigned int enable,
				   void *data)
{
	return 0;
}

/* ------------------------------------------------------------ setup */

/* Refuses what cannot be protected; *json is the config to send. */
static int read_config(struct primary *p, char **json)
{
	libxl_domain_config dc;
	int r;

	*json = NULL;
	libxl_domain_config_init(&dc);
	r = libxl_retrieve_domain_configuration(p->lx, p->domid, &dc, NULL);
	if (r) {
		err(p->ctx,
		    "cannot read domain %s's configuration (libxl error %d)",
		    p->o->domain, r);
		libxl_domain_config_dispose(&dc);
		return -EIO;
	}
	if (dc.c_info.type != LIBXL_DOMAIN_TYPE_PVH) {
		err(p->ctx,
		    "domain %s is %s: xrepl protects PVH guests (PV guests need shadow paging for log-dirty, which Debian's Xen lacks; HVM guests need QEMU's dirty log, not supported yet)",
		    p->o->domain, libxl_domain_type_to_string(dc.c_info.type));
		libxl_domain_config_dispose(&dc);
		return -EOPNOTSUPP;
	}
	*json = libxl_domain_config_to_json(p->lx, &dc);
	libxl_domain_config_dispose(&dc);
	return *json ? 0 : -ENOMEM;
}

/* The backup's answer to the config: its replicas, for the hooks. */
static int backup_disks(struct primary *p)
{
	char vdev[XREPL_VDEV_MAX + 1];
	const struct xrepl_epoch_hooks *h;
	struct xrepl_frame f;
	const char *why;
	uint64_t id;
	size_t pos = 0, i;
	int r;

	r = xrepl_wire_recv(p->w, &f, (int)p->o->timeout_ms);
	if (r < 0) {
		err(p->ctx, "the backup did not answer the config: %s",
		    xrepl_wire_strerror(p->w));
		return r;
	}
	if (f.type == XREPL_FRAME_BYE) {
		err(p->ctx, "the backup refused the guest: %.*s", (int)f.len,
		    (const char *)f.payload);
		return -EPROTO;
	}
	while ((r = xrepl_disk_state_next(&f, &pos, vdev, &id, &why)) == 1)
		for (i = 0; i < p->o->n_hooks; i++) {
			h = &p->o->hooks[i];
			if (h->backup_disk &&
			    h->backup_disk(h->data, vdev, id) < 0)
				return -EIO;
		}
	if (r < 0)
		err(p->ctx, "protocol error: the backup sent %s (%s)",
		    xrepl_frame_type_name(f.type), why);
	return r;
}

static int connect_backup(struct primary *p)
{
	char *json;
	int r;

	r = read_config(p, &json);
	if (r < 0 || p->o->blackhole)
		goto out;
	r = xrepl_wire_connect(p->w, (int)p->o->timeout_ms);
	if (r < 0)
		goto out;
	r = xrepl_wire_send(p->w, XREPL_FRAME_CONFIG, json, strlen(json));
	if (!r)
		r = backup_disks(p);
out:
	free(json);
	return r;
}

static int write_stream_header(struct primary *p)
{
	uint8_t hdr[LIBXL_HDR_LEN];
	uint32_t v;

	memcpy(hdr, LIBXL_IDENT, 8);
	v = htobe32(LIBXL_STREAM_VERSION);
	memcpy(hdr + 8, &v, 4);
	v = 0;
	memcpy(hdr + 12, &v, 4);
	if (write(p->pipe_w, hdr, sizeof(hdr)) != sizeof(hdr))
		return -EIO;
	return write_record(p, LIBXL_REC_LIBXC_CONTEXT);
}

static int open_xen(struct primary *p)
{
	int r;

	p->xtl = xrepl_xtl_new(p->ctx);
	if (!p->xtl)
		return -ENOMEM;
	r = libxl_ctx_alloc(&p->lx, LIBXL_VERSION, 0, p->xtl);
	if (r) {
		err(p->ctx,
		    "cannot open libxl (error %d): is this a Xen control domain?",
		    r);
		return -EIO;
	}
	p->xch = xc_interface_open(p->xtl, p->xtl, 0);
	if (!p->xch) {
		err(p->ctx, "cannot open libxenctrl: %s", strerror(errno));
		return -errno;
	}
	if (libxl_name_to_domid(p->lx, p->o->domain, &p->domid)) {
		err(p->ctx, "no domain named %s", p->o->domain);
		return -ENOENT;
	}
	return 0;
}

static int start_hooks(struct primary *p)
{
	const struct xrepl_epoch_hooks *h;
	size_t i;

	for (i = 0; i < p->o->n_hooks; i++) {
		h = &p->o->hooks[i];
		if (h->start && h->start(h->data, p->domid) < 0) {
			err(p->ctx, "cannot protect %s: see above",
			    p->o->domain);
			p->hooks_started = i;
			return -EIO;
		}
	}
	p->hooks_started = p->o->n_hooks;
	return 0;
}

static void abandon_hooks(struct primary *p)
{
	const struct xrepl_epoch_hooks *h;

	while (p->hooks_started) {
		h = &p->o->hooks[--p->hooks_started];
		if (h->abandon)
			h->abandon(h->data);
	}
}

/*
 * The guest keeps running whatever happened to its backup: 1 if DOMID was
 * left suspended by a checkpoint and runs again, 0 if it was not
 * suspended, < 0 if it does not resume.
 */
static int resume_suspended(struct xrepl_ctx *ctx, libxl_ctx *lx,
			    uint32_t domid)
{
	libxl_dominfo info;
	int r = 0;

	libxl_dominfo_init(&info);
	if (!libxl_domain_info(lx, &info, domid) && info.shutdown &&
	    info.shutdown_reason == LIBXL_SHUTDOWN_REASON_SUSPEND) {
		r = libxl_domain_resume(lx, domid, 1, NULL) ? -EIO : 1;
		if (r < 0)
			err(ctx,
			    "domain %u was left suspended and does not resume",
			    domid);
	}
	libxl_dominfo_dispose(&info);
	return r;
}

XREPL_EXPORT int xrepl_resume_suspended(struct xrepl_ctx *ctx, uint32_t domid)
{
	xentoollog_logger *xtl = xrepl_xtl_new(ctx);
	libxl_ctx *lx;
	int r;

	if (!xtl)
		return -ENOMEM;
	if (libxl_ctx_alloc(&lx, LIBXL_VERSION, 0, xtl)) {
		err(ctx, "cannot open libxl: is this a Xen control domain?");
		xtl_logger_destroy(xtl);
		return -EIO;
	}
	r = resume_suspended(ctx, lx, domid);
	libxl_ctx_free(lx);
	xtl_logger_destroy(xtl);
	return r;
}

static int start_threads(struct primary *p)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	p->pipe_r = fds[0];
	p->pipe_w = fds[1];
	/* a large pipe lets libxc write a checkpoint without waiting on us */
	fcntl(p->pipe_w, F_SETPIPE_SZ, 1 << 20);
	if (pthread_create(&p->reader, NULL, reader_main, p) ||
	    pthread_create(&p->sender, NULL, sender_main, p))
		return -EAGAIN;
	if (!p->o->blackhole &&
	    pthread_create(&p->receiver, NULL, receiver_main, p))
		return -EAGAIN;
	return 0;
}

XREPL_EXPORT int xrepl_protect(struct xrepl_ctx *ctx,
			       const struct xrepl_protect_opts *o)
{
	struct save_callbacks cb = {
		.suspend = suspend_cb,
		.postcopy = postcopy_cb,
		.checkpoint = checkpoint_cb,
		.switch_qemu_logdirty = switch_qemu_logdirty_cb,
	};
	struct xrepl_codec_opts copts = { o->compress, o->cache_bytes };
	struct primary p = { .ctx = ctx, .o = o, .pipe_r = -1, .pipe_w = -1 };
	pthread_condattr_t attr;
	int r, saved;

	p.t_start = xrepl_now_ms();
	p.interval_ms = o->interval_ms;
	adaptive_init(&p.adaptive, o->interval_ms);
	pthread_mutex_init(&p.lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p.cond, &attr);
	pthread_condattr_destroy(&attr);
	chunk_queue_init(&p.q);
	cb.data = &p;

	r = open_xen(&p);
	if (r < 0)
		goto out;
	r = start_hooks(&p);
	if (r < 0)
		goto out;
	if (!o->blackhole)
		p.w = xrepl_wire_new(ctx, o->in, o->out, o->key);
	p.enc = xrepl_encoder_new(ctx, &copts, send_stream, &p);
	if ((!p.w && !o->blackhole) || !p.enc) {
		r = -ENOMEM;
		goto out;
	}
	r = connect_backup(&p);
	if (r < 0)
		goto out;
	r = start_threads(&p);
	if (r < 0)
		goto out;
	r = write_stream_header(&p);
	if (r < 0)
		goto out;
	info(ctx, "protecting %s (domain %u), checkpoint every %u ms",
	     o->domain, p.domid, o->interval_ms);
	write_status(&p, "starting");
	p.t_epoch_start = xrepl_now_ms();
	saved = xc_domain_save(p.xch, p.pipe_w, p.domid, XCFLAGS_LIVE, &cb,
			       XC_STREAM_REMUS, -1);
	close(p.pipe_w);
	p.pipe_w = -1;
	pthread_join(p.reader, NULL);
	pthread_join(p.sender, NULL);
	if (p.lost || saved)
		resume_suspended(ctx, p.lx, p.domid);
	if (p.lost) {
		err(ctx,
		    "protection of %s stopped after %llu checkpoints: backup lost: %s",
		    o->domain, (unsigned long long)p.acked, p.why);
		write_status(&p, "backup-lost");
		r = -ENOTCONN;
	} else if (saved) {
		err(ctx, "protection of %s stopped: xc_domain_save failed",
		    o->domain);
		write_status(&p, "failed");
		r = -EIO;
	} else {
		if (!o->blackhole)
			xrepl_wire_send(p.w, XREPL_FRAME_BYE, "unprotect", 9);
		info(ctx, "protection of %s stopped after %llu checkpoints",
		     o->domain, (unsigned long long)p.acked);
		write_status(&p, "stopped");
		r = 0;
	}
	abandon_hooks(&p);
	if (!o->blackhole) {
		/* wakes the receiver on a socket; on pipes it ends by timeout */
		shutdown(o->in, SHUT_RDWR);
		pthread_join(p.receiver, NULL);
	}
out:
	abandon_hooks(&p);
	if (p.pipe_w >= 0)
		close(p.pipe_w);
	if (p.pipe_r >= 0)
		close(p.pipe_r);
	xrepl_encoder_free(p.enc);
	xrepl_wire_free(p.w);
	if (p.xch)
		xc_interface_close(p.xch);
	if (p.lx)
		libxl_ctx_free(p.lx);
	xtl_logger_destroy(p.xtl);
	chunk_queue_fini(&p.q);
	return r;
}
