// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The backup: authenticates the primary, builds the backup domain paused
 * with libxl_domain_create_restore (checkpointed stream, Remus), and hands
 * libxl only whole checkpoints: the decoded stream of checkpoint N is held
 * in memory until its EPOCH_END, acknowledged, then written to libxl's
 * restore pipe by a feeder thread. When the primary is lost the pipe is
 * closed at a checkpoint boundary, libxl fails over to the last complete
 * checkpoint, and the domain is renamed to the guest's name and unpaused
 * (and its MACs announced on the LAN: announce.c).
 *
 * Only silence or a broken link is a lost primary, and with an arbiter (a
 * quorum) even that promotes only with its leave: otherwise the copy goes.
 * A STOP from the primary (unprotect, the guest's shutdown, reboot or
 * crash, a fault there) means the guest lives on there or nowhere: the
 * copy here is destroyed, never run, and the primary is told so (STOP
 * CONFIRM), which lets it release its held output. The one exception is
 * RESURRECT: the guest crashed on the primary, and the admin asked for a
 * crash to fail it over.
 * Every stop decided here (a failed restore or commit, a bad stream,
 * SIGTERM) destroys the copy and tells the primary why. A heartbeat thread
 * keeps talking from the config on, while the main thread hashes a replica
 * for a checksum resync or applies a long first sync.
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

#include "announce.h"
#include "chunk_queue.h"
#include "libxrepl-private.h"
#include "lifecycle.h"
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
	pthread_t beater;
	pthread_mutex_t send_lock; /* the main thread and the beater send */
	volatile int beating;
	volatile int restore_done; /* libxl returned: no more checkpoints */
	int restore_rc;
	int feed_err;
	enum xrepl_stop stopped; /* the primary's STOP, or ours */
	struct xrepl_switchover back; /* a switchover's, for protection back */
	char why[200]; /* what went wrong here, for the primary */
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
	fprintf(f, ", \"split_brain_guard\": \"%s\"",
		b->o->arbiter ? b->o->arbiter->name : "none");
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
	b->restore_done = 1;
	return NULL;
}

static int send_locked(struct backup *b, unsigned int type, uint64_t v)
{
	int r;

	pthread_mutex_lock(&b->send_lock);
	r = xrepl_wire_send_u64(b->w, type, v);
	pthread_mutex_unlock(&b->send_lock);
	return r;
}

static int send_frame(struct backup *b, unsigned int type, const void *p,
		      size_t len)
{
	int r;

	pthread_mutex_lock(&b->send_lock);
	r = xrepl_wire_send(b->w, type, p, len);
	pthread_mutex_unlock(&b->send_lock);
	return r;
}

static void send_stop(struct backup *b, enum xrepl_stop reason,
		      const char *text)
{
	pthread_mutex_lock(&b->send_lock);
	xrepl_wire_send_stop(b->w, reason, text);
	pthread_mutex_unlock(&b->send_lock);
}

/* A send that fails here is noticed by the main thread's next one. */
static void *beater_main(void *arg)
{
	struct backup *b = arg;
	unsigned int tick = b->o->timeout_ms / 4;

	while (b->beating) {
		if (send_locked(b, XREPL_FRAME_HEARTBEAT,
				(uint64_t)xrepl_now_ms()) < 0)
			break;
		usleep(tick * 1000);
	}
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
 * Stamped before the ACK leaves, once the checkpoint is whole here: an
 * observer that sees output released before this time has caught a primary
 * that did not wait for the backup.
 */
static void trace_ack(struct backup *b, uint64_t n)
{
	struct timespec ts;

	if (!b->o->ack_trace)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(b->o->ack_trace, "%lld.%06ld ack %llu\n", (long long)ts.tv_sec,
		ts.tv_nsec / 1000, (unsigned long long)n);
	fflush(b->o->ack_trace);
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
		snprintf(b->why, sizeof(b->why),
			 "protocol error: EPOCH_END %llu out of order",
			 (unsigned long long)n);
		return -EIO;
	}
	trace_ack(b, n);
	acked = !send_locked(b, XREPL_FRAME_ACK, n);
	if (h && h->commit && h->commit(h->data, n) < 0) {
		snprintf(b->why, sizeof(b->why),
			 "committing checkpoint %llu's disk writes failed",
			 (unsigned long long)n);
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
		snprintf(b->why, sizeof(b->why), "protocol error: %s", why);
		return -EPROTO;
	}
	if (!h || !h->disk_data) {
		err(b->ctx, "the primary replicates disk %s, but no disk here",
		    vdev);
		snprintf(b->why, sizeof(b->why), "no replica for disk %s",
			 vdev);
		return -EPROTO;
	}
	if (h->disk_data(h->data, vdev, data, len) < 0) {
		snprintf(b->why, sizeof(b->why),
			 "disk %s's replica cannot take its writes", vdev);
		return -EPROTO;
	}
	return 0;
}

enum outcome { PRIMARY_LOST, UNPROTECTED, FAILED, SWITCHED, NOT_PROMOTED };

/*
 * The primary's STOP: the guest lives on there or nowhere, unless it
 * crashed there and the admin asked for a crash to fail it over, or the
 * admin hands it over here (a switchover).
 */
static enum outcome take_stop(struct backup *b, const struct xrepl_frame *f)
{
	const char *text, *why;
	size_t len;

	if (xrepl_stop_parse(f, &b->stopped, &text, &len, &why) < 0 ||
	    b->stopped == XREPL_STOP_CONFIRM ||
	    b->stopped == XREPL_STOP_RUNNING) {
		err(b->ctx, "protocol error: %s",
		    b->stopped == XREPL_STOP_CONFIRM ?
			    "a STOP CONFIRM unasked" :
		    b->stopped == XREPL_STOP_RUNNING ?
			    "a STOP RUNNING unasked" :
			    why);
		snprintf(b->why, sizeof(b->why), "protocol error in a STOP");
		b->stopped = 0;
		return FAILED;
	}
	if (b->stopped == XREPL_STOP_SWITCHOVER) {
		if (xrepl_switchover_parse(text, len, &b->back, &why) < 0) {
			err(b->ctx, "protocol error: %s: %.*s", why, (int)len,
			    text);
			snprintf(b->why, sizeof(b->why), "protocol error: %s",
				 why);
			b->stopped = XREPL_STOP_FAULT;
			return FAILED;
		}
		info(b->ctx,
		     "the primary hands %s over (a switchover): it runs here from checkpoint %llu",
		     b->name, (unsigned long long)b->acked);
		return SWITCHED;
	}
	if (b->stopped == XREPL_STOP_RESURRECT) {
		info(b->ctx,
		     "the guest crashed on the primary, which asks for it to run here from the last checkpoint: %.*s",
		     (int)len, text);
		return PRIMARY_LOST;
	}
	info(b->ctx, "the primary stopped protection (%s): %.*s",
	     xrepl_stop_name(b->stopped), (int)len, text);
	return UNPROTECTED;
}

/* What went wrong here that ends reception, if anything. */
static int stopped_here(struct backup *b)
{
	if (b->o->stop && *b->o->stop) {
		info(b->ctx, "stopped by a signal");
		b->stopped = XREPL_STOP_TERMINATED;
		snprintf(b->why, sizeof(b->why), "xrepl receive was stopped");
		return 1;
	}
	if (b->restore_done) {
		err(b->ctx,
		    "libxl could not build the backup domain (libxl error %d, see above)",
		    b->restore_rc);
		snprintf(
			b->why, sizeof(b->why),
			"libxl could not build the backup domain (libxl error %d)",
			b->restore_rc);
		return 1;
	}
	if (b->feed_err) {
		err(b->ctx, "libxl stopped reading the stream: %s",
		    strerror(-b->feed_err));
		snprintf(b->why, sizeof(b->why),
			 "libxl stopped reading the stream: %s",
			 strerror(-b->feed_err));
		return 1;
	}
	return 0;
}

static enum outcome receive_loop(struct backup *b)
{
	/* short enough for xrepl failover's signal to be seen promptly */
	int tick = b->o->timeout_ms / 4 < 500 ? (int)b->o->timeout_ms / 4 : 500;
	int r;
	double last_heard = xrepl_now_ms();
	struct xrepl_frame f;

	for (;;) {
		if (b->o->failover && *b->o->failover) {
			info(b->ctx, "failover requested");
			return PRIMARY_LOST;
		}
		if (stopped_here(b))
			return FAILED;
		r = xrepl_wire_recv(b->w, &f, tick);
		if (r == -ETIMEDOUT) {
			if (xrepl_now_ms() - last_heard < b->o->timeout_ms)
				continue;
			info(b->ctx, "primary lost: nothing heard for %u ms",
			     b->o->timeout_ms);
			return PRIMARY_LOST;
		}
		if (r == -EPROTO) {
			snprintf(b->why, sizeof(b->why), "%s",
				 xrepl_wire_strerror(b->w));
			return FAILED;
		}
		if (r < 0) {
			info(b->ctx, "primary lost: %s",
			     xrepl_wire_strerror(b->w));
			return PRIMARY_LOST;
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
		case XREPL_FRAME_STOP:
			return take_stop(b, &f);
		default:
			err(b->ctx, "protocol error: unexpected %s frame",
			    xrepl_frame_type_name(f.type));
			snprintf(b->why, sizeof(b->why),
				 "protocol error: unexpected %s frame",
				 xrepl_frame_type_name(f.type));
			return FAILED;
		}
		if (r < 0) {
			err(b->ctx,
			    "the stream from the primary is invalid: %s",
			    xrepl_decoder_strerror(b->dec));
			snprintf(b->why, sizeof(b->why),
				 "the checkpoint stream is invalid: %s",
				 xrepl_decoder_strerror(b->dec));
			return FAILED;
		}
	}
}

/* ------------------------------------------------------------ setup */

/* RUN_DIR/NAME.EXT: the number in it, or 0 */
static int run_file_number(const struct backup *b, const char *ext)
{
	char path[4096];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s.%s",
		 b->o->run_dir ? b->o->run_dir : "/run/xrepl", b->name, ext);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%d", &n) != 1 || n < 0)
		n = 0;
	fclose(f);
	return n;
}

static void run_file_write(const struct backup *b, const char *ext, int n)
{
	char path[4096];
	FILE *f;

	if (!b->o->run_dir)
		return;
	snprintf(path, sizeof(path), "%s/%s.%s", b->o->run_dir, b->name, ext);
	f = fopen(path, "we");
	if (!f)
		return;
	fprintf(f, "%d\n", n);
	fclose(f);
}

/* The receiver its pid file names, if alive and not this process. */
static int other_receiver(const struct backup *b)
{
	int pid = run_file_number(b, "backup.pid");

	return pid > 0 && pid != getpid() && !kill(pid, 0) ? pid : 0;
}

/* 1 if DOMID is the guest, *going if it is paused, dying or shut down */
static int is_guest(struct backup *b, uint32_t domid, int *going)
{
	char *name = libxl_domid_to_name(b->lx, domid);
	libxl_dominfo info;
	int r = name && !strcmp(name, b->name);

	free(name);
	libxl_dominfo_init(&info);
	*going = r && !libxl_domain_info(b->lx, &info, domid) &&
		 (info.paused || info.dying || info.shutdown);
	libxl_dominfo_dispose(&info);
	return r;
}

/*
 * A primary cut off by a partition comes back to a backup that has run
 * the guest since: a copy of it received here again would be a second
 * one to fail over. The guest this host failed over, while it runs under
 * its name, is refused. One that a switchover hands back is destroyed
 * (paused first) as its new primary connects: that is waited for.
 */
static int runs_here(struct backup *b)
{
	uint32_t domid = (uint32_t)run_file_number(b, "failed-over");
	double end = xrepl_now_ms() + 60000;
	int going;

	if (!domid)
		return 0;
	while (is_guest(b, domid, &going)) {
		if (!going || xrepl_now_ms() > end) {
			err(b->ctx,
			    "%s was failed over to this host and runs here (domain %u): not received again",
			    b->name, domid);
			snprintf(
				b->why, sizeof(b->why),
				"%s was failed over to the backup host and runs there (domain %u)",
				b->name, domid);
			return 1;
		}
		if (xrepl_wire_send_u64(b->w, XREPL_FRAME_HEARTBEAT,
					(uint64_t)xrepl_now_ms()) < 0) {
			snprintf(b->why, sizeof(b->why),
				 "the primary went away");
			return 1;
		}
		usleep(b->o->timeout_ms / 4 * 1000);
	}
	return 0;
}

/*
 * Another receiver of this guest is most often one that destroys its copy
 * after the primary's STOP, and the primary of a rebooted guest is back at
 * once: wait for it, heartbeats keeping the primary waiting, so that the
 * two never hold the replica, or a guest's memory each, at the same time.
 * One that lives on serves a second primary of the guest: refused.
 */
static int wait_for_receiver(struct backup *b, int pid)
{
	/* under load, the end of a Remus restore and a destroy take seconds */
	double end = xrepl_now_ms() + 60000;

	info(b->ctx, "waiting for the receiver of %s in process %d to end",
	     b->name, pid);
	while (!kill(pid, 0)) {
		if (xrepl_now_ms() > end || (b->o->stop && *b->o->stop)) {
			err(b->ctx, "%s is received here already (pid %d)",
			    b->name, pid);
			snprintf(b->why, sizeof(b->why),
				 "%s is received on the backup already",
				 b->name);
			return -EBUSY;
		}
		if (xrepl_wire_send_u64(b->w, XREPL_FRAME_HEARTBEAT,
					(uint64_t)xrepl_now_ms()) < 0)
			return -EPIPE;
		usleep(b->o->timeout_ms / 4 * 1000);
	}
	return 0;
}

/*
 * The incoming name must be free, unless a killed receiver left its copy
 * behind: then that stale copy goes.
 */
static int claim_incoming(struct backup *b)
{
	uint32_t domid;
	int pid = other_receiver(b), r;

	if (pid) {
		r = wait_for_receiver(b, pid);
		if (r < 0)
			return r;
	}
	/* after the wait: the receiver waited for may have failed over */
	if (runs_here(b))
		return -EEXIST;
	if (libxl_name_to_domid(b->lx, b->incoming, &domid))
		return 0;
	warn(b->ctx, "destroying %s (%u), left by a receiver that was killed",
	     b->incoming, domid);
	libxl_domain_destroy(b->lx, domid, NULL);
	return 0;
}

/* xrepl failover DOMAIN finds this process here. */
static void write_pid_file(struct backup *b)
{
	snprintf(b->pid_file, sizeof(b->pid_file), "%s/%s.backup.pid",
		 b->o->run_dir, b->name);
	run_file_write(b, "backup.pid", (int)getpid());
}

/* The reason in b->why, logged and sent to the primary. */
static int refuse(struct backup *b)
{
	err(b->ctx, "%s", b->why);
	xrepl_wire_send(b->w, XREPL_FRAME_BYE, b->why, strlen(b->why));
	return -EPERM;
}

/* libxl runs a device's script as root: only Xen's own are taken. */
static int scripts_refused(struct backup *b)
{
	const char *why;
	int i;

	for (i = 0; i < b->dc.num_disks; i++)
		if (device_script_check(b->dc.disks[i].script, &why) < 0) {
			snprintf(b->why, sizeof(b->why),
				 "disk %.32s is refused by the backup: %s",
				 b->dc.disks[i].vdev ? b->dc.disks[i].vdev :
						       "?",
				 why);
			return 1;
		}
	for (i = 0; i < b->dc.num_nics; i++)
		if (device_script_check(b->dc.nics[i].script, &why) < 0) {
			snprintf(
				b->why, sizeof(b->why),
				"network interface %d is refused by the backup: %s",
				i, why);
			return 1;
		}
	return 0;
}

static int read_config(struct backup *b)
{
	struct xrepl_frame f;
	const char *why;
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
	if (domain_name_check(b->dc.c_info.name, &why) < 0) {
		snprintf(b->why, sizeof(b->why),
			 "the guest's name is refused by the backup: %s", why);
		return refuse(b);
	}
	if (scripts_refused(b))
		return refuse(b);
	b->name = strdup(b->dc.c_info.name);
	if (asprintf(&b->incoming, "%s--incoming", b->name) < 0)
		return -ENOMEM;
	free(b->dc.c_info.name);
	b->dc.c_info.name = strdup(b->incoming);
	r = claim_incoming(b);
	if (r < 0) {
		xrepl_wire_send(b->w, XREPL_FRAME_BYE, b->why, strlen(b->why));
		return r;
	}
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

/* the beater's heartbeats go between them: hashing a disk takes long */
static int send_hashes(void *arg, const char *vdev, uint64_t first,
		       const uint8_t *hashes, size_t n)
{
	struct backup *b = arg;
	int r;

	pthread_mutex_lock(&b->send_lock);
	r = xrepl_wire_send_disk_hashes(b->w, vdev, first, hashes, n);
	pthread_mutex_unlock(&b->send_lock);
	return r;
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
	const char *to, *why;
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
		if (to == d->pdev_path &&
		    replica_path_check(d->pdev_path,
				       b->o->replica_dir ? b->o->replica_dir :
							   "/var/lib/xrepl",
				       &why) < 0) {
			snprintf(b->why, sizeof(b->why),
				 "disk %.32s: no replica at %.80s here: %s",
				 d->vdev, d->pdev_path, why);
			return refuse(b);
		}
		if (h->disk(h->data, d->vdev, d->pdev_path, &id) < 0 ||
		    (!id && h->disk_hashes &&
		     h->disk_hashes(h->data, d->vdev, send_hashes, b) < 0) ||
		    add_state(state, &len, d->vdev, id) < 0)
			return -EIO;
	}
	return send_frame(b, XREPL_FRAME_DISK_STATE, state, len);
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

/* From the config on: hashing a replica, a first sync, take long. */
static int start_beating(struct backup *b)
{
	b->beating = 1;
	if (!pthread_create(&b->beater, NULL, beater_main, b))
		return 0;
	b->beating = 0;
	return -EAGAIN;
}

static void stop_beating(struct backup *b)
{
	if (!b->beating)
		return;
	b->beating = 0;
	pthread_join(b->beater, NULL);
}

static int has_domain(const struct backup *b)
{
	return b->domid && b->domid != (uint32_t)INVALID_DOMID;
}

/* Lets libxl finish with what it has: the last complete checkpoint. */
static void stop_feeding(struct backup *b)
{
	chunk_queue_close(&b->q);
	/* a libxl that gave up reads no more: the feeder must not wait */
	if (b->restore_done) {
		close(b->pipe_r);
		b->pipe_r = -1;
	}
	pthread_join(b->feeder, NULL);
	close(b->pipe_w);
	b->pipe_w = -1;
	pthread_join(b->restorer, NULL);
}

/*
 * No failover: the primary hears at once (its STOP confirmed, or our own
 * reason), since nothing on this path unpauses the copy, and then the copy
 * is destroyed, which under load takes seconds.
 */
static int end_without_failover(struct backup *b, enum outcome how)
{
	if (how == UNPROTECTED)
		send_stop(b, XREPL_STOP_CONFIRM, "the backup's copy goes");
	else
		send_stop(b, b->stopped ? b->stopped : XREPL_STOP_FAULT,
			  b->why);
	stop_beating(b);
	stop_feeding(b);
	if (has_domain(b))
		libxl_domain_destroy(b->lx, b->domid, NULL);
	if (how == UNPROTECTED) {
		write_status(b, guest_end_state(b->stopped, "primary-failed"));
		return 0;
	}
	write_status(b, b->stopped == XREPL_STOP_TERMINATED ? "stopped" :
							      "failed");
	return b->stopped == XREPL_STOP_TERMINATED ? 0 : -EPROTO;
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
	run_file_write(b, "failed-over", (int)b->domid);
	write_status(b, "failed-over");
	xrepl_announce(b->ctx, &b->dc);
	return 0;
}

/*
 * The primary is lost: 1 if the copy may run the guest. An admin's
 * failover needs nobody's leave; otherwise the arbiter decides, and while
 * it does the copy stays paused.
 */
static int may_promote(struct backup *b)
{
	int r;

	if (!b->o->arbiter || (b->o->failover && *b->o->failover))
		return 1;
	write_status(b, "arbitrating");
	info(b->ctx, "primary lost: asking %s whether %s may run here",
	     b->o->arbiter->name, b->name);
	r = b->o->arbiter->may_promote(b->o->arbiter->data, b->why,
				       sizeof(b->why));
	if (r > 0)
		info(b->ctx, "%s may run here: %s", b->name, b->why);
	return r > 0;
}

/*
 * The arbiter said no: the primary's host may still run the guest. The
 * copy goes; the replicas keep their last checkpoint, so protection
 * resumes with a resync once the primary reaches us again.
 */
static int not_promoted(struct backup *b)
{
	stop_feeding(b);
	if (has_domain(b))
		libxl_domain_destroy(b->lx, b->domid, NULL);
	err(b->ctx, "%s is not failed over: %s says no: %s", b->name,
	    b->o->arbiter->name, b->why);
	write_status(b, "not-promoted");
	return 0;
}

/*
 * A switchover: the guest runs here as at a failover, with the primary's
 * heartbeats replaced by ours until it hears the guest runs (or why not):
 * only then does its suspended copy go.
 */
static int take_over(struct backup *b)
{
	char text[96];
	int r = fail_over(b);

	if (r < 0) {
		send_stop(b, XREPL_STOP_FAULT,
			  "the backup could not run the guest (see its log)");
		stop_beating(b);
		return r;
	}
	snprintf(text, sizeof(text),
		 "the guest runs on the backup as domain %u", b->domid);
	send_stop(b, XREPL_STOP_RUNNING, text);
	stop_beating(b);
	if (b->o->switched && b->o->domain) {
		*b->o->switched = b->back;
		snprintf(b->o->domain, b->o->domain_len, "%s", b->name);
	}
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
	pthread_mutex_init(&b.send_lock, NULL);
	b.w = xrepl_wire_new(ctx, o->in, o->out, o->tls);
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
	if (!r)
		r = start_beating(&b);
	if (r < 0)
		goto out;
	r = map_disks(&b);
	if (r < 0) {
		if (r != -EPERM)
			send_frame(&b, XREPL_FRAME_BYE,
				   "no replicas for its disks", 25);
		goto out;
	}
	r = start(&b);
	if (r < 0)
		goto out;
	info(ctx, "receiving %s as %s", b.name, b.incoming);
	write_status(&b, "receiving");
	how = receive_loop(&b);
	if (how == PRIMARY_LOST) {
		stop_beating(&b);
		if (!may_promote(&b))
			how = NOT_PROMOTED;
	}
	/* uncommitted disk writes go before libxl attaches the replicas */
	if (o->hooks && o->hooks->end)
		o->hooks->end(o->hooks->data,
			      how == PRIMARY_LOST || how == SWITCHED);
	if (how == PRIMARY_LOST) {
		r = fail_over(&b);
	} else if (how == SWITCHED) {
		r = take_over(&b);
	} else if (how == NOT_PROMOTED) {
		r = not_promoted(&b);
	} else {
		r = end_without_failover(&b, how);
	}
out:
	stop_beating(&b);
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
