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
 *
 * How protection ends decides what happens to the output held for the
 * epoch the backup has not acknowledged. A backup that is lost (silence, a
 * broken link) or that says it stops lets it out: the guest runs on here;
 * with an arbiter (a quorum), a lost backup lets it out only if the
 * arbiter allows it, and otherwise the guest is paused and that output
 * dropped, for the backup's host may run the guest.
 * Every stop decided here (the admin, the guest's own shutdown, reboot or
 * crash, a fault) is told to the backup with a STOP, and the output is let
 * out only once the backup confirms that its copy is gone; unconfirmed,
 * the backup may yet run the guest from its last checkpoint, so the guest
 * is paused here and that output dropped. A paused guest (xl pause) is
 * not checkpointed until it runs again; heartbeats go on meanwhile. A
 * planned switchover leaves the guest suspended after a checkpoint and,
 * once that is acknowledged, has the backup run it: the domain here goes
 * only when the backup says the guest runs there.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libxl.h>
#include <libxl_utils.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xenctrl.h>
#include <xenguest.h>
#include <xenstore.h>

#include "adaptive.h"
#include "chunk_queue.h"
#include "libxrepl-private.h"
#include "lifecycle.h"
#include "stream.h"
#include "xen_log.h"

#define READ_CHUNK (1u << 20)
/*
 * How often the guest's state is looked at between checkpoints: often
 * enough to see a shutdown's reason before xl destroys the domain.
 */
#define WATCH_MS 20
/* libxl's own suspend waits as long for the guest to take a request */
#define REQUEST_WAIT_MS 60000
#define SUSPEND_TIMEOUT_MS 60000
#define REQUEST_REPEAT_MS 2000
/* the backup's heartbeats go on while it takes a switchover's guest */
#define SWITCH_WAIT_MS 300000

enum ending {
	GOING_ON,
	BACKUP_LOST, /* silence or a broken link: it may be dead */
	BACKUP_STOPPED, /* it said so: it will not run the guest */
	PRIMARY_STOPS, /* decided here (stop says why): tell the backup */
};

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
	struct xs_handle *xs;
	uint32_t domid;
	size_t hooks_started;
	struct xrepl_wire *w;
	struct xrepl_encoder *enc;
	struct chunk_queue q;
	int pipe_r;
	int pipe_w;
	pthread_t reader;
	pthread_t sender;
	int sender_started;
	pthread_t receiver;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* under lock */
	uint64_t acked;
	uint64_t sent;
	uint64_t closing; /* its EPOCH_END is on the way: ACKs may beat sent */
	enum ending lost; /* GOING_ON (0) until protection ends */
	enum xrepl_stop stop; /* ours, or the backup's when it stopped */
	enum xrepl_stop answer; /* the backup's STOP after ours */
	char answer_why[256];
	int receiver_done;
	int came_back; /* a rebooting guest was started again */
	struct guest_shape shape; /* what protection was set up for */
	/* the checkpoint's suspend request is out: a suspended guest is ours */
	int asked;
	unsigned long pids_seen; /* the processes looked at for xl save's */
	int switching; /* this checkpoint hands the guest over */
	double downtime; /* a switchover's, ms */
	char why[200];
	char arbiter_why[200]; /* why the arbiter said no */
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

/* The first reason to end protection is the one that counts. */
static void end_protection(struct primary *p, enum ending how,
			   enum xrepl_stop stop, const char *fmt, va_list ap)
{
	pthread_mutex_lock(&p->lock);
	if (!p->lost) {
		vsnprintf(p->why, sizeof(p->why), fmt, ap);
		p->lost = how;
		p->stop = stop;
	}
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

__attribute__((format(printf, 2, 3))) static void
backup_lost(struct primary *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	end_protection(p, BACKUP_LOST, 0, fmt, ap);
	va_end(ap);
}

/* A stop decided here: the backup is told REASON and the text. */
__attribute__((format(printf, 3, 4))) static void
primary_stops(struct primary *p, enum xrepl_stop reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	end_protection(p, PRIMARY_STOPS, reason, fmt, ap);
	va_end(ap);
}

static int ending(struct primary *p)
{
	int r;

	pthread_mutex_lock(&p->lock);
	r = p->lost != GOING_ON;
	pthread_mutex_unlock(&p->lock);
	return r;
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
			primary_stops(p, XREPL_STOP_FAULT,
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
			primary_stops(p, XREPL_STOP_FAULT,
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

/*
 * What else epoch N needs (its disk writes), before its EPOCH_END; EARLY:
 * what of it has come so far, between the stream's frames.
 */
static int send_hooks(struct primary *p, uint64_t epoch, int early)
{
	const struct xrepl_epoch_hooks *h;
	size_t i;
	int r;

	for (i = 0; i < p->o->n_hooks; i++) {
		h = &p->o->hooks[i];
		if (early)
			r = h->send_early ?
				    h->send_early(h->data, epoch, p->w) :
				    0;
		else
			r = h->send ? h->send(h->data, epoch, p->w) : 0;
		if (r < 0)
			return -EIO;
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
		pthread_mutex_lock(&p->lock);
		p->closing = p->sent + 1;
		pthread_mutex_unlock(&p->lock);
		r = send_hooks(p, p->sent + 1, 0);
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
			if (!r)
				r = send_hooks(p, p->sent + 1, 1);
			continue;
		}
		r = xrepl_encoder_feed(p->enc, c->data, c->len);
		free(c);
		if (!r)
			r = mark_epochs(p);
		if (!r)
			r = send_hooks(p, p->sent + 1, 1);
	}
	/* the wire's error is the link's; any other one is ours */
	if (r < 0 && p->w && xrepl_wire_strerror(p->w)[0])
		backup_lost(p, "sending to the backup: %s",
			    xrepl_wire_strerror(p->w));
	else if (r < 0)
		primary_stops(
			p, XREPL_STOP_FAULT, "cannot send checkpoint %llu: %s",
			(unsigned long long)p->sent + 1,
			xrepl_stream_strerror(xrepl_encoder_stream(p->enc))[0] ?
				xrepl_stream_strerror(
					xrepl_encoder_stream(p->enc)) :
				"its disk writes could not be read");
	return NULL;
}

/* An ACK of a checkpoint not yet sent is forged or broken: never trusted. */
static int take_ack(struct primary *p, const struct xrepl_frame *f)
{
	uint64_t v;
	int r = 0;

	memcpy(&v, f->payload, 8);
	v = le64toh(v);
	pthread_mutex_lock(&p->lock);
	if (v > p->closing)
		r = -EPROTO;
	else if (v > p->acked)
		p->acked = v;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (r)
		backup_lost(
			p,
			"protocol error: the backup acknowledged checkpoint %llu, which was not sent",
			(unsigned long long)v);
	return r;
}

/* The backup's STOP: its answer to ours, or its own stop. */
static void take_stop(struct primary *p, const struct xrepl_frame *f)
{
	enum xrepl_stop reason;
	const char *text, *why;
	size_t len;

	if (xrepl_stop_parse(f, &reason, &text, &len, &why) < 0) {
		backup_lost(p, "protocol error: %s", why);
		return;
	}
	pthread_mutex_lock(&p->lock);
	p->answer = reason;
	snprintf(p->answer_why, sizeof(p->answer_why), "%.*s", (int)len, text);
	if (reason != XREPL_STOP_CONFIRM && !p->lost) {
		snprintf(p->why, sizeof(p->why),
			 "the backup stopped (%s): %.*s",
			 xrepl_stop_name(reason), (int)len, text);
		p->lost = BACKUP_STOPPED;
		p->stop = reason;
	}
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void *receiver_main(void *arg)
{
	struct primary *p = arg;
	struct xrepl_frame f;
	int r;

	for (;;) {
		r = xrepl_wire_recv(p->w, &f, (int)p->o->timeout_ms);
		if (r < 0) {
			backup_lost(
				p, "%s",
				r == -ETIMEDOUT ?
					"no heartbeat from the backup within the timeout" :
					xrepl_wire_strerror(p->w));
			break;
		}
		if (f.type == XREPL_FRAME_ACK) {
			if (take_ack(p, &f) < 0)
				break;
		} else if (f.type == XREPL_FRAME_STOP) {
			take_stop(p, &f);
			break;
		} else if (f.type != XREPL_FRAME_HEARTBEAT) {
			backup_lost(p, "protocol error: the backup sent %s",
				    xrepl_frame_type_name(f.type));
			break;
		}
	}
	pthread_mutex_lock(&p->lock);
	p->receiver_done = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return NULL;
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
	fputs("{\"domain\": ", f);
	xrepl_json_string(f, p->o->domain);
	fprintf(f,
		", \"domid\": %u, \"role\": \"primary\", \"state\": \"%s\", ",
		p->domid, state);
	fputs("\"why\": ", f);
	xrepl_json_string(f, p->why);
	fprintf(f,
		", \"epochs\": %llu, \"acked\": %llu, \"interval_ms\": %u, "
		"\"pause_ms\": {\"last\": %.2f, \"avg\": %.2f, \"max\": %.2f}, "
		"\"ack_latency_ms\": {\"last\": %.2f, \"avg\": %.2f, \"max\": %.2f}, "
		"\"dirty_pages_last\": %llu, \"bytes_raw\": %llu, \"bytes_wire\": %llu, "
		"\"compress\": \"%s\", \"uptime_s\": %.1f",
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
	if (p->o->back && !p->o->blackhole)
		fprintf(f, ", \"switchover_port\": %u", p->o->back->port);
	if (p->downtime > 0)
		fprintf(f, ", \"downtime_ms\": %.2f", p->downtime);
	fprintf(f, ", \"split_brain_guard\": \"%s\"",
		p->o->arbiter ? p->o->arbiter->name : "none");
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
 * Between checkpoints: a guest that shut down, crashed or was destroyed
 * ends protection at once (it would never answer a suspend request; libxl
 * waits a minute to find that out), with the reason for the backup; so
 * does one that xl save or xl migrate suspended, which a checkpoint would
 * resume in the middle of their copy.
 */
static enum guest_state guest_state(struct primary *p)
{
	enum xrepl_stop stop;
	enum guest_state st;
	char why[128];

	st = guest_state_of(p->lx, p->domid, &stop, why, sizeof(why));
	if (st == GUEST_GONE)
		primary_stops(p, stop, "%s", why);
	/* someone else's suspend (xl save, xl migrate) */
	if (st == GUEST_SUSPENDED && !p->asked) {
		primary_stops(
			p, XREPL_STOP_MOVED, "%s",
			"the guest was suspended, not by a checkpoint (xl save or xl migrate takes it away)");
		st = GUEST_GONE;
	}
	return st;
}

static int stop_asked(struct primary *p)
{
	return p->o->stop && *p->o->stop;
}

/*
 * An admin's xl pause: a paused guest would never answer the suspend
 * request, and has nothing new to checkpoint. 0 once it runs again.
 */
static int wait_while_paused(struct primary *p)
{
	enum guest_state st = guest_state(p);
	double since = xrepl_now_ms();

	if (st == GUEST_PAUSED) {
		info(p->ctx, "%s is paused: checkpoints wait until it runs",
		     p->o->domain);
		write_status(p, "paused");
	}
	while (st == GUEST_PAUSED && !stop_asked(p) && !ending(p)) {
		usleep(WATCH_MS * 1000);
		st = guest_state(p);
	}
	if (st == GUEST_GONE || stop_asked(p) || ending(p))
		return -1;
	if (xrepl_now_ms() - since > WATCH_MS)
		info(p->ctx,
		     "%s runs again after %.1f s paused: checkpoints resume",
		     p->o->domain, (xrepl_now_ms() - since) / 1e3);
	return 0;
}

/* A vif, disk or memory change since protection began: checked per
 * checkpoint, before the guest is suspended for it. */
static int reshaped(struct primary *p)
{
	struct guest_shape now;
	char why[256];

	guest_shape_of(p->xs, p->domid, &now);
	if (!guest_shape_changed(&p->shape, &now, why, sizeof(why)))
		return 0;
	primary_stops(p, XREPL_STOP_FAULT, "%s", why);
	return 1;
}

/*
 * xl save's or xl migrate's suspend: their save helper runs (libxl may ask
 * the guest by event channel, unseen in xenstore), or a request waits that
 * is not ours. A checkpoint would resume the guest in the middle of their
 * copy: the guest goes alone, protection ends before (or as) it suspends
 * for them.
 */
static int foreign_suspend(struct primary *p)
{
	/*
	 * A request of ours that still waits stays: it reads the same as
	 * theirs (dropping it could drop theirs), and it dies with this
	 * domain, whose copy comes back as a new one.
	 */
	if (!guest_being_saved(p->domid, &p->pids_seen) &&
	    (p->asked || !guest_suspend_requested(p->xs, p->domid)))
		return 0;
	primary_stops(
		p, XREPL_STOP_MOVED, "%s",
		"a suspend request that is not a checkpoint's (xl save or xl migrate) takes the guest away");
	return 1;
}

/*
 * xl shutdown and xl reboot write their request where libxl's suspend
 * request goes (the guest's control/shutdown): a suspend now would
 * overwrite it before the guest has read it, and the admin's shutdown
 * would never happen. The guest takes it within milliseconds when it runs.
 */
static int wait_for_request(struct primary *p)
{
	double since = xrepl_now_ms(), nudged = since;
	char req[32];

	if (!guest_request_pending(p->xs, p->domid, req, sizeof(req)))
		return 0;
	info(p->ctx, "%s has a '%s' request to read: checkpoints wait for it",
	     p->o->domain, req);
	while (guest_request_pending(p->xs, p->domid, req, sizeof(req))) {
		if (stop_asked(p) || ending(p) || guest_state(p) == GUEST_GONE)
			return -1;
		if (xrepl_now_ms() - nudged > REQUEST_REPEAT_MS) {
			guest_request_repeat(p->xs, p->domid, req);
			nudged = xrepl_now_ms();
		}
		if (xrepl_now_ms() - since > REQUEST_WAIT_MS) {
			warn(p->ctx,
			     "%s did not read its '%s' request in %d s: the request is dropped and checkpoints go on",
			     p->o->domain, req, REQUEST_WAIT_MS / 1000);
			guest_request_drop(p->xs, p->domid, req);
			return 0;
		}
		usleep(WATCH_MS * 1000);
	}
	return guest_state(p) == GUEST_GONE ? -1 : 0;
}

/* Out the interval's rest, watching the guest; 0 if it runs on. */
static int sleep_watching(struct primary *p, double until)
{
	double left;

	while (!stop_asked(p) && !ending(p)) {
		if (guest_state(p) == GUEST_GONE)
			return -1;
		left = until - xrepl_now_ms();
		if (left <= 0)
			return 0;
		usleep((useconds_t)((left < WATCH_MS ? left : WATCH_MS) *
				    1000));
	}
	return -1;
}

/*
 * The hooks start epoch N+1 once; an admin's pause after that only
 * delays the suspend (the output since stays held).
 */
static int suspend_cb(void *data)
{
	struct primary *p = data;
	enum guest_state st;
	enum xrepl_stop stop;
	char why[160];
	int started = 0;

	if (p->o->switch_over && *p->o->switch_over && p->o->back &&
	    !p->o->blackhole)
		p->switching = 1;
	do {
		/* all of them between checkpoints, the new ones in the pause */
		p->pids_seen = 0;
		if (wait_while_paused(p) < 0 || foreign_suspend(p) ||
		    (!p->asked && reshaped(p)) || wait_for_request(p) < 0)
			return 0;
		if (!started && run_hooks(p, HOOK_SUSPEND, p->epoch + 1) < 0) {
			primary_stops(
				p, XREPL_STOP_FAULT,
				"cannot start epoch %llu (buffering failed)",
				(unsigned long long)p->epoch + 1);
			return 0;
		}
		started = 1;
		p->t_last_suspend = p->t_suspend;
		p->t_suspend = xrepl_now_ms();
		st = guest_suspend(p->xs, p->lx, p->domid, SUSPEND_TIMEOUT_MS,
				   &p->asked, &stop, why, sizeof(why));
	} while (st == GUEST_PAUSED || st == GUEST_BUSY);
	if (st == GUEST_GONE) {
		primary_stops(p, stop, "%s", why);
		return 0;
	}
	/* suspended for xl save or migrate, not for us: it is theirs now */
	if (st == GUEST_SUSPENDED && foreign_suspend(p))
		return 0;
	if (st != GUEST_SUSPENDED) {
		primary_stops(p, XREPL_STOP_FAULT, "%s", why);
		return 0;
	}
	if (run_hooks(p, HOOK_SUSPENDED, p->epoch + 1) < 0) {
		primary_stops(p, XREPL_STOP_FAULT,
			      "cannot end epoch %llu (disk mark failed)",
			      (unsigned long long)p->epoch + 1);
		return 0;
	}
	return 1;
}

static int postcopy_cb(void *data)
{
	struct primary *p = data;
	int r;

	/* the backup runs it from here on: it stays suspended, and ours */
	if (p->switching)
		return 1;
	r = libxl_domain_resume(p->lx, p->domid, 1, NULL);
	p->asked = 0;
	figure_add(&p->pause, xrepl_now_ms() - p->t_suspend);
	if (r) {
		primary_stops(p, XREPL_STOP_FAULT,
			      "cannot resume domain %u (libxl error %d)",
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
	double t_sent;
	int lost, acked;

	p->epoch++;
	if (write_record(p, LIBXL_REC_CHECKPOINT_END) < 0) {
		primary_stops(p, XREPL_STOP_FAULT,
			      "cannot write to the stream pipe");
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
		primary_stops(p, XREPL_STOP_FAULT,
			      "cannot commit epoch %llu (release failed)",
			      (unsigned long long)p->epoch);
		return 0;
	}
	if (p->switching) {
		primary_stops(p, XREPL_STOP_SWITCHOVER,
			      "a planned switchover to the backup");
		return 0;
	}
	write_status(p, "protecting");
	if (sleep_watching(p, p->t_epoch_start + p->interval_ms) < 0)
		return 0;
	p->t_epoch_start = xrepl_now_ms();
	return 1;
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

/* A replica's digests, for a checksum resync, to the hooks. */
static int backup_disk_hashes(struct primary *p, const struct xrepl_frame *f)
{
	char vdev[XREPL_VDEV_MAX + 1];
	const struct xrepl_epoch_hooks *h;
	const uint8_t *hashes;
	const char *why;
	uint64_t first;
	size_t n, i;

	if (xrepl_disk_hashes_parse(f, vdev, &first, &hashes, &n, &why) < 0) {
		err(p->ctx, "protocol error: the backup sent %s", why);
		return -EPROTO;
	}
	for (i = 0; i < p->o->n_hooks; i++) {
		h = &p->o->hooks[i];
		if (h->backup_disk_hashes &&
		    h->backup_disk_hashes(h->data, vdev, first, hashes, n) < 0)
			return -EPROTO;
	}
	return 0;
}

/*
 * The next frame but heartbeats (the backup sends them while it waits for
 * its last receiver to end, or hashes its replicas) and DISK_HASHES.
 */
static int recv_disk_answer(struct primary *p, struct xrepl_frame *f)
{
	int r;

	for (;;) {
		r = xrepl_wire_recv(p->w, f, (int)p->o->timeout_ms);
		if (r < 0) {
			err(p->ctx, "the backup did not answer the config: %s",
			    xrepl_wire_strerror(p->w));
			return r;
		}
		if (f->type == XREPL_FRAME_HEARTBEAT)
			continue;
		if (f->type != XREPL_FRAME_DISK_HASHES)
			return 0;
		r = backup_disk_hashes(p, f);
		if (r < 0)
			return r;
	}
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

	r = recv_disk_answer(p, &f);
	if (r < 0)
		return r;
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

static int start_sender(struct primary *p)
{
	if (pthread_create(&p->sender, NULL, sender_main, p))
		return -EAGAIN;
	p->sender_started = 1;
	return 0;
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
	/* no send waits longer than the heartbeat timeout on a silent backup */
	xrepl_wire_set_send_timeout(p->w, (int)p->o->timeout_ms);
	r = xrepl_wire_send(p->w, XREPL_FRAME_CONFIG, json, strlen(json));
	/* heartbeats from here: a disk's first sync takes long to prepare */
	if (!r)
		r = start_sender(p);
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
	p->xs = xs_open(0);
	/* a suspending guest is seen at once: its shutdown fires this */
	if (!p->xs || !xs_watch(p->xs, "@releaseDomain", "xrepl")) {
		err(p->ctx, "cannot open xenstore: %s", strerror(errno));
		return -EIO;
	}
	if (libxl_name_to_domid(p->lx, p->o->domain, &p->domid)) {
		err(p->ctx, "no domain named %s", p->o->domain);
		return -ENOENT;
	}
	guest_shape_of(p->xs, p->domid, &p->shape);
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

static void abandon_hooks(struct primary *p, int release)
{
	const struct xrepl_epoch_hooks *h;

	while (p->hooks_started) {
		h = &p->o->hooks[--p->hooks_started];
		if (h->abandon)
			h->abandon(h->data, release);
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
	    (!p->sender_started && start_sender(p) < 0))
		return -EAGAIN;
	if (!p->o->blackhole &&
	    pthread_create(&p->receiver, NULL, receiver_main, p))
		return -EAGAIN;
	return 0;
}

/* The backup's answer to our STOP (0: none within MS, or it is lost). */
static enum xrepl_stop wait_answer(struct primary *p, unsigned int ms)
{
	struct timespec deadline = xrepl_deadline(ms);
	enum xrepl_stop r;

	pthread_mutex_lock(&p->lock);
	while (!p->answer && !p->receiver_done)
		if (pthread_cond_timedwait(&p->cond, &p->lock, &deadline) ==
		    ETIMEDOUT)
			break;
	r = p->answer;
	pthread_mutex_unlock(&p->lock);
	return r;
}

/*
 * A stop decided here: tell the backup, and wait (bounded) for it to
 * confirm that its copy is gone. 1 if it did.
 */
static int tell_backup(struct primary *p)
{
	if (p->o->blackhole)
		return 1;
	if (xrepl_wire_strerror(p->w)[0] ||
	    xrepl_wire_send_stop(p->w, p->stop, p->why) < 0)
		return 0;
	return wait_answer(p, p->o->timeout_ms) == XREPL_STOP_CONFIRM;
}

/*
 * The backup cannot run the guest any more (it said so, or confirmed our
 * STOP) or is lost: the guest runs on here, and what it said goes out.
 */
static int run_on(struct primary *p)
{
	enum xrepl_stop stop = p->lost == PRIMARY_STOPS ? p->stop : 0;

	if (stop != XREPL_STOP_SHUTDOWN && stop != XREPL_STOP_DESTROYED &&
	    stop != XREPL_STOP_CRASH && stop != XREPL_STOP_REBOOT &&
	    stop != XREPL_STOP_MOVED)
		resume_suspended(p->ctx, p->lx, p->domid);
	abandon_hooks(p, 1);
	if (p->lost != PRIMARY_STOPS) {
		err(p->ctx,
		    "protection of %s stopped after %llu checkpoints: backup lost: %s",
		    p->o->domain, (unsigned long long)p->acked, p->why);
		write_status(p, p->lost == BACKUP_LOST ? "backup-lost" :
							 "backup-stopped");
		return -ENOTCONN;
	}
	if (stop == XREPL_STOP_FAULT)
		err(p->ctx,
		    "protection of %s stopped after %llu checkpoints: %s",
		    p->o->domain, (unsigned long long)p->acked, p->why);
	else
		info(p->ctx,
		     "protection of %s stopped after %llu checkpoints (%s): %s",
		     p->o->domain, (unsigned long long)p->acked,
		     xrepl_stop_name(stop), p->why);
	write_status(p, guest_end_state(stop, "failed"));
	if (stop == XREPL_STOP_SHUTDOWN || stop == XREPL_STOP_CRASH ||
	    stop == XREPL_STOP_REBOOT)
		p->came_back =
			guest_shutdown_action(p->ctx, p->lx, p->domid, stop);
	return stop == XREPL_STOP_FAULT ? -EIO : 0;
}

/* Pauses the guest if it is still there (1), and drops its held output. */
static int pause_and_drop(struct primary *p)
{
	libxl_dominfo info;
	int alive;

	libxl_dominfo_init(&info);
	alive = !libxl_domain_info(p->lx, &info, p->domid) && !info.dying;
	libxl_dominfo_dispose(&info);
	if (alive)
		libxl_domain_pause(p->lx, p->domid, NULL);
	abandon_hooks(p, 0);
	return alive;
}

/*
 * Our STOP went unconfirmed: the backup may run the guest from checkpoint
 * N, so nothing the guest did after N may be seen. It stays paused here
 * and its held output is dropped; the admin decides which copy lives.
 */
static int hold_back(struct primary *p)
{
	int alive = pause_and_drop(p);

	err(p->ctx,
	    "protection of %s stopped (%s: %s), but the backup did not confirm it: it may run the guest from checkpoint %llu. %s; its output since was dropped. Check the backup host, then `xl unpause %s' or `xl destroy %s'",
	    p->o->domain, xrepl_stop_name(p->stop), p->why,
	    (unsigned long long)p->acked,
	    alive ? "The guest is paused here" : "The guest is gone here",
	    p->o->domain, p->o->domain);
	write_status(p, "unconfirmed");
	return -EIO;
}

/* The arbiter's answer to a lost backup (see struct xrepl_arbiter). */
static int may_run_on(struct primary *p)
{
	char why[200] = "";
	int r;

	write_status(p, "arbitrating");
	info(p->ctx, "backup lost: asking %s whether %s may run on here",
	     p->o->arbiter->name, p->o->domain);
	r = p->o->arbiter->may_run_on(p->o->arbiter->data, why, sizeof(why));
	if (r > 0)
		info(p->ctx, "%s may run on here: %s", p->o->domain, why);
	else
		snprintf(p->arbiter_why, sizeof(p->arbiter_why), "%s", why);
	return r > 0;
}

/*
 * The backup is lost and this host may not keep the guest: the backup's
 * host may run it from checkpoint N, so nothing the guest did since may be
 * seen, and it must not go on here.
 */
static int isolate(struct primary *p)
{
	int alive = pause_and_drop(p);

	err(p->ctx,
	    "protection of %s stopped after %llu checkpoints: backup lost (%s), and %s says no to running on here: %s. %s; its output since checkpoint %llu was dropped. The backup's host may run it: check there before `xl unpause %s'",
	    p->o->domain, (unsigned long long)p->acked, p->why,
	    p->o->arbiter->name, p->arbiter_why,
	    alive ? "The guest is paused here" : "The guest is gone here",
	    (unsigned long long)p->acked, p->o->domain);
	write_status(p, "isolated");
	return -EHOSTUNREACH;
}

/*
 * The guest crashed and the admin asked for its failover. The backup is
 * told at once: a destroy takes seconds, in which the backup, hearing
 * nothing, would take the silence for a dead primary. A crashed domain
 * never runs again by itself, so the copy the backup resumes is the one
 * that runs; the crashed one then goes, with what it held since the last
 * acknowledged checkpoint (the copy runs from that checkpoint). < 0 if the
 * backup cannot be told (then the crash ends protection as any crash does).
 */
static int resurrect_on_backup(struct primary *p)
{
	if (xrepl_wire_send_stop(p->w, XREPL_STOP_RESURRECT, p->why) < 0)
		return -EPIPE;
	abandon_hooks(p, 0);
	warn(p->ctx,
	     "%s crashed (%s): the backup runs it from checkpoint %llu or later, as --failover-on-crash asks",
	     p->o->domain, p->why, (unsigned long long)p->acked);
	if (libxl_domain_destroy(p->lx, p->domid, NULL))
		err(p->ctx,
		    "cannot destroy the crashed domain %u of %s: destroy it (it does not run)",
		    p->domid, p->o->domain);
	write_status(p, "resurrected-on-backup");
	return 0;
}

/*
 * A planned switchover: checkpoint N is acknowledged and its output out,
 * and the guest has stood suspended since. The backup runs it from N and
 * says so (its heartbeats go on meanwhile): only then does the domain here
 * go. A backup that cannot run it says why, and it resumes here; one that
 * does not answer may run it: it stays suspended here.
 */
static int hand_over(struct primary *p)
{
	enum xrepl_stop answer = 0;
	char text[128];

	if (!xrepl_switchover_format(p->o->back, text, sizeof(text)) &&
	    !xrepl_wire_strerror(p->w)[0] &&
	    !xrepl_wire_send_stop(p->w, XREPL_STOP_SWITCHOVER, text))
		answer = wait_answer(p, SWITCH_WAIT_MS);
	if (answer == XREPL_STOP_RUNNING) {
		p->downtime = xrepl_now_ms() - p->t_suspend;
		info(p->ctx,
		     "%s switched over: the backup runs it from checkpoint %llu, after %.0f ms stood still",
		     p->o->domain, (unsigned long long)p->acked, p->downtime);
		/* said before the destroy: it takes seconds, the move is done */
		write_status(p, "switched-over");
		abandon_hooks(p, 1);
		if (libxl_domain_destroy(p->lx, p->domid, NULL))
			err(p->ctx,
			    "cannot destroy domain %u of %s, which the backup runs now: destroy it (it is suspended)",
			    p->domid, p->o->domain);
		return 0;
	}
	if (answer) {
		resume_suspended(p->ctx, p->lx, p->domid);
		abandon_hooks(p, 1);
		pthread_mutex_lock(&p->lock);
		snprintf(p->why, sizeof(p->why),
			 "the backup cannot run it (%s: %.150s)",
			 xrepl_stop_name(answer), p->answer_why);
		pthread_mutex_unlock(&p->lock);
		err(p->ctx,
		    "switchover of %s refused: %s: it runs on here, unprotected",
		    p->o->domain, p->why);
		write_status(p, "backup-stopped");
		return -EIO;
	}
	abandon_hooks(p, 0);
	pthread_mutex_lock(&p->lock);
	snprintf(
		p->why, sizeof(p->why),
		"the backup did not answer and may run the guest: it stays suspended here");
	pthread_mutex_unlock(&p->lock);
	err(p->ctx,
	    "switchover of %s: the backup did not answer, and it may run the guest from checkpoint %llu. The guest stays suspended here: check the backup host, then `xrepl unprotect %s' resumes it here, or `xl destroy %s'",
	    p->o->domain, (unsigned long long)p->acked, p->o->domain,
	    p->o->domain);
	write_status(p, "unconfirmed");
	return -EIO;
}

/* After xc_domain_save: end protection the way its reason asks. */
static int finish(struct primary *p, int saved)
{
	/* a stop asked for just before a suspend fails libxc's save too */
	saved = saved && !stop_asked(p);
	pthread_mutex_lock(&p->lock);
	if (!p->lost) {
		p->lost = PRIMARY_STOPS;
		p->stop = saved ? XREPL_STOP_FAULT : XREPL_STOP_UNPROTECT;
		snprintf(p->why, sizeof(p->why), "%s",
			 saved ? "libxc's save failed (see above)" :
				 "xrepl unprotect");
	}
	pthread_mutex_unlock(&p->lock);
	/* a sender blocked in write() to a silent backup waits no longer */
	if (p->lost != PRIMARY_STOPS && !p->o->blackhole)
		shutdown(p->o->out, SHUT_RDWR);
	pthread_join(p->sender, NULL);
	p->sender_started = 0;
	if (p->lost == PRIMARY_STOPS && p->stop == XREPL_STOP_CRASH &&
	    p->o->failover_on_crash && !p->o->blackhole &&
	    !xrepl_wire_strerror(p->w)[0] && !resurrect_on_backup(p))
		return 0;
	if (p->lost == PRIMARY_STOPS && p->stop == XREPL_STOP_SWITCHOVER)
		return hand_over(p);
	if (p->lost == BACKUP_LOST && p->o->arbiter && !may_run_on(p))
		return isolate(p);
	if (p->lost != PRIMARY_STOPS || tell_backup(p))
		return run_on(p);
	return hold_back(p);
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
		p.w = xrepl_wire_new(ctx, o->in, o->out, o->tls);
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
	r = finish(&p, saved);
	if (o->backup_gone)
		*o->backup_gone =
			(p.lost == BACKUP_LOST && r != -EHOSTUNREACH) ||
			(p.lost == BACKUP_STOPPED &&
			 p.stop == XREPL_STOP_TERMINATED);
	if (o->ended)
		*o->ended = p.lost != PRIMARY_STOPS ? 0 :
			    p.stop == XREPL_STOP_REBOOT && !p.came_back ?
						      XREPL_STOP_SHUTDOWN :
						      p.stop;
	if (!o->blackhole) {
		/* wakes the receiver on a socket; on pipes it ends by timeout */
		shutdown(o->in, SHUT_RDWR);
		pthread_join(p.receiver, NULL);
	}
out:
	if (p.sender_started) {
		chunk_queue_close(&p.q);
		pthread_join(p.sender, NULL);
	}
	abandon_hooks(&p, 1);
	if (p.pipe_w >= 0)
		close(p.pipe_w);
	if (p.pipe_r >= 0)
		close(p.pipe_r);
	xrepl_encoder_free(p.enc);
	xrepl_wire_free(p.w);
	if (p.xch)
		xc_interface_close(p.xch);
	if (p.xs)
		xs_close(p.xs);
	if (p.lx)
		libxl_ctx_free(p.lx);
	xtl_logger_destroy(p.xtl);
	chunk_queue_fini(&p.q);
	return r;
}
