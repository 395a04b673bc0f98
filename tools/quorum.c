// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The quorum decision: whether a host that lost its peer may run the
 * guest, asked of corosync's votequorum, where corosync-qdevice's vote
 * (corosync-qnetd on a third machine) breaks a two-node cluster's tie:
 * of two partitions, at most one is quorate for long.
 *
 * "For long": a node cut off from everything still counts itself quorate
 * for a while, on its old membership and the quorum device's last vote,
 * until its token times out (token + consensus) and the device's vote
 * expires: corosync-qdevice keeps casting it until it misses a heartbeat
 * reply from the witness, which it asks for every 0.8 x
 * quorum.device.timeout, so for up to twice that. That window W is read
 * from corosync at start; the decisions wait it out. From the moment each side notices the
 * silence (the heartbeat timeout T, within a tick of the other):
 *  - the primary holds its output (it always does until an ACK) and, W
 *    later, asks once, giving corosync a second to answer: quorate, the
 *    guest runs on and its output goes out; not quorate, or no answer, the
 *    guest is paused and that output dropped;
 *  - the backup promotes only once it is quorate and the primary's node
 *    has been out of its membership for the grace G = W + 3 s (counted
 *    from when it noticed, at the earliest): by then an isolated primary
 *    has paused its guest. If the primary's node is still a member after
 *    G, only the replication link failed: the copy goes, and the primary
 *    resyncs it when the link returns.
 * Corosync unreachable counts as not quorate: in doubt, nobody promotes
 * and the primary stops.
 */
#include <corosync/cmap.h>
#include <corosync/votequorum.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "quorum.h"
#include "subcommands.h"

#define LOOK_MS 100
/* how long the primary's last look may take: a hung corosync is a no */
#define ANSWER_MS 1000
/*
 * the backup's grace beyond W: the primary's answer, the sides noticing
 * the silence half a second apart, and its guest's pause
 */
#define MARGIN_MS 3000
/* corosync-qdevice's default quorum.device.timeout */
#define DEVICE_TIMEOUT_MS 10000

struct quorum {
	struct xrepl_arbiter arbiter;
	char peer[256]; /* the peer's name in the nodelist */
	uint32_t peer_id;
	uint32_t my_id;
	unsigned int stale_ms; /* W: how long a cut-off node stays quorate */
	unsigned int grace_ms;
	volatile int *stop;
	volatile int *failover;
	votequorum_handle_t vq;
	int connected;
	int looking; /* a bounded look's thread is still asking */
};

struct look {
	int quorate;
	int peer_member;
	unsigned int votes;
	unsigned int needed;
};

/* A look in a thread of its own, so that the primary waits bounded. */
struct bounded_look {
	struct quorum *q;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct look l;
	int r;
	int done;
	int abandoned;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int connect_vq(struct quorum *q)
{
	votequorum_callbacks_t none = { 0 };

	if (q->connected)
		return 0;
	if (votequorum_initialize(&q->vq, &none) != CS_OK)
		return -ENOTCONN;
	q->connected = 1;
	return 0;
}

static void disconnect_vq(struct quorum *q)
{
	if (q->connected)
		votequorum_finalize(q->vq);
	q->connected = 0;
}

/* The cluster as this node sees it now; < 0: corosync cannot be asked. */
static int look(struct quorum *q, struct look *l)
{
	struct votequorum_info me, peer;
	cs_error_t e;

	memset(l, 0, sizeof(*l));
	if (connect_vq(q) < 0)
		return -ENOTCONN;
	if (votequorum_getinfo(q->vq, q->my_id, &me) != CS_OK) {
		disconnect_vq(q);
		return -ENOTCONN;
	}
	l->quorate = !!(me.flags & VOTEQUORUM_INFO_QUORATE);
	l->votes = me.total_votes;
	l->needed = me.quorum;
	e = votequorum_getinfo(q->vq, q->peer_id, &peer);
	l->peer_member = e == CS_OK &&
			 peer.node_state == VOTEQUORUM_NODESTATE_MEMBER;
	return 0;
}

static void say_look(const struct quorum *q, int r, const struct look *l,
		     char *why, size_t len)
{
	if (r < 0) {
		snprintf(why, len, "corosync cannot be asked (is it running?)");
		return;
	}
	snprintf(
		why, len,
		"this host is %squorate (%u vote%s, %u needed), node %s is %sa member",
		l->quorate ? "" : "not ", l->votes, l->votes == 1 ? "" : "s",
		l->needed, q->peer, l->peer_member ? "" : "not ");
}

static void *look_main(void *arg)
{
	struct bounded_look *b = arg;
	struct look l = { 0 };
	int r = look(b->q, &l), abandoned;

	pthread_mutex_lock(&b->lock);
	b->l = l;
	b->r = r;
	b->done = 1;
	b->q->looking = 0;
	abandoned = b->abandoned;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	if (abandoned)
		free(b);
	return NULL;
}

/* look(), or -ETIMEDOUT after MS: then its thread is left to finish. */
static int look_within(struct quorum *q, struct look *l, unsigned int ms)
{
	struct bounded_look *b = calloc(1, sizeof(*b));
	struct timespec deadline;
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (!b)
		return -ENOMEM;
	b->q = q;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	q->looking = 1;
	if (pthread_create(&t, &attr, look_main, b)) {
		pthread_attr_destroy(&attr);
		q->looking = 0;
		free(b);
		return -EAGAIN;
	}
	pthread_attr_destroy(&attr);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long)(ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&b->lock);
	while (!b->done && pthread_cond_timedwait(&b->cond, &b->lock,
						  &deadline) != ETIMEDOUT)
		;
	r = b->done ? b->r : -ETIMEDOUT;
	if (b->done)
		*l = b->l;
	else
		b->abandoned = 1;
	pthread_mutex_unlock(&b->lock);
	if (r != -ETIMEDOUT)
		free(b);
	return r;
}

static int may_run_on(void *data, char *why, size_t len)
{
	struct quorum *q = data;
	double t0 = now_ms();
	struct look l = { 0 };
	int r;

	while (now_ms() - t0 < q->stale_ms && !*q->stop)
		usleep(LOOK_MS * 1000);
	r = look_within(q, &l, ANSWER_MS);
	if (r == -ETIMEDOUT) {
		snprintf(why, len, "corosync did not answer within %u ms",
			 ANSWER_MS);
		return 0;
	}
	say_look(q, r, &l, why, len);
	return r == 0 && l.quorate;
}

static int may_promote(void *data, char *why, size_t len)
{
	struct quorum *q = data;
	double t0 = now_ms(), absent_since = 0, t;
	int r, waiting = 0;
	struct look l;

	for (;; usleep(LOOK_MS * 1000)) {
		if (*q->failover) {
			snprintf(why, len, "the admin asked for the failover");
			return 1;
		}
		if (*q->stop) {
			snprintf(why, len, "reception was stopped");
			return 0;
		}
		r = look(q, &l);
		t = now_ms();
		if (r < 0 || l.peer_member)
			absent_since = 0;
		else if (!absent_since)
			absent_since = t;
		say_look(q, r, &l, why, len);
		if (r == 0 && l.quorate && absent_since &&
		    t - absent_since >= q->grace_ms)
			return 1;
		if (r == 0 && l.peer_member && t - t0 >= q->grace_ms) {
			snprintf(
				why, len,
				"node %s is a member of the cluster: its host runs (only the replication link failed, or its xrepl)",
				q->peer);
			return 0;
		}
		if (!waiting && t - t0 >= q->grace_ms) {
			fprintf(stderr, "%s: %s: waiting\n", prog_name, why);
			waiting = 1;
		}
	}
}

/* the nodelist entry I of corosync.conf: its id and names */
static int node_entry(cmap_handle_t h, unsigned int i, uint32_t *id,
		      char **name, char **addr)
{
	char key[CMAP_KEYNAME_MAXLEN];

	snprintf(key, sizeof(key), "nodelist.node.%u.nodeid", i);
	if (cmap_get_uint32(h, key, id) != CS_OK)
		return -ENOENT;
	*name = NULL;
	*addr = NULL;
	snprintf(key, sizeof(key), "nodelist.node.%u.name", i);
	cmap_get_string(h, key, name);
	snprintf(key, sizeof(key), "nodelist.node.%u.ring0_addr", i);
	cmap_get_string(h, key, addr);
	return 0;
}

static int names(const char *peer, uint32_t id, const char *name,
		 const char *addr)
{
	char num[16];

	snprintf(num, sizeof(num), "%u", id);
	return (name && !strcmp(peer, name)) || (addr && !strcmp(peer, addr)) ||
	       !strcmp(peer, num);
}

/* Finds this node and the peer in the nodelist (PEER NULL: the other one). */
static int find_nodes(struct quorum *q, cmap_handle_t h, const char *peer)
{
	uint32_t pos, id;
	char *name, *addr;
	unsigned int i, others = 0;

	if (cmap_get_uint32(h, "nodelist.local_node_pos", &pos) != CS_OK) {
		fprintf(stderr,
			"%s: corosync has no nodelist with this host in it: xrepl needs corosync.conf's nodelist\n",
			prog_name);
		return -ENOENT;
	}
	q->peer_id = 0;
	for (i = 0; !node_entry(h, i, &id, &name, &addr); i++) {
		if (i == pos) {
			q->my_id = id;
		} else {
			others++;
			if (peer ? names(peer, id, name, addr) : others == 1) {
				q->peer_id = id;
				snprintf(q->peer, sizeof(q->peer), "%s",
					 name ? name :
					 addr ? addr :
						"?");
			}
		}
		free(name);
		free(addr);
	}
	if (!peer && others != 1) {
		fprintf(stderr,
			"%s: corosync's nodelist has %u other nodes: name the guest's peer with --quorum-peer\n",
			prog_name, others);
		return -EINVAL;
	}
	if (!q->peer_id || q->peer_id == q->my_id) {
		fprintf(stderr,
			"%s: --quorum-peer %s is no other node of corosync's nodelist (a name, ring0_addr or nodeid)\n",
			prog_name, peer);
		return -EINVAL;
	}
	return 0;
}

/*
 * W, from corosync's own timings: the token, the consensus after it and,
 * with a quorum device, its vote's lifetime. A heartbeat shorter than a
 * membership change would be judged on old news.
 */
static int check_timing(struct quorum *q, cmap_handle_t h,
			unsigned int timeout_ms, unsigned int grace_ms)
{
	uint32_t token, consensus, device = 0;
	char *model = NULL;

	if (cmap_get_uint32(h, "runtime.config.totem.token", &token) != CS_OK ||
	    cmap_get_uint32(h, "runtime.config.totem.consensus", &consensus) !=
		    CS_OK) {
		fprintf(stderr, "%s: corosync does not say its token timeout\n",
			prog_name);
		return -EIO;
	}
	if (cmap_get_string(h, "quorum.device.model", &model) == CS_OK &&
	    cmap_get_uint32(h, "quorum.device.timeout", &device) != CS_OK)
		device = DEVICE_TIMEOUT_MS;
	free(model);
	if (timeout_ms <= token + consensus) {
		fprintf(stderr,
			"%s: --timeout %u ms must exceed corosync's token + consensus (%u + %u ms): the heartbeat would be lost before the membership changes\n",
			prog_name, timeout_ms, token, consensus);
		return -EINVAL;
	}
	q->stale_ms = token + consensus + 2 * device + 1000;
	q->grace_ms = grace_ms ? grace_ms : q->stale_ms + MARGIN_MS;
	if (q->grace_ms < q->stale_ms + MARGIN_MS) {
		fprintf(stderr,
			"%s: --quorum-grace %u ms is too short: a primary cut off from the cluster may count itself quorate for %u ms (corosync's token %u + consensus %u + 2 x quorum device timeout %u + 1000 ms), and stops its guest up to %u ms after that\n",
			prog_name, grace_ms, q->stale_ms, token, consensus,
			device, MARGIN_MS);
		return -EINVAL;
	}
	return 0;
}

/* Two nodes without a tie-breaker: both halves of a partition are quorate. */
static int check_votes(struct quorum *q)
{
	struct votequorum_info me;

	if (connect_vq(q) < 0 ||
	    votequorum_getinfo(q->vq, q->my_id, &me) != CS_OK) {
		fprintf(stderr, "%s: corosync's votequorum cannot be asked\n",
			prog_name);
		return -ENOTCONN;
	}
	if ((me.flags & VOTEQUORUM_INFO_TWONODE) &&
	    !(me.flags & VOTEQUORUM_INFO_QDEVICE_REGISTERED)) {
		fprintf(stderr,
			"%s: corosync runs two_node without a quorum device: both halves of a partition stay quorate. Add corosync-qdevice (see xrepl(8), SPLIT BRAIN)\n",
			prog_name);
		return -EINVAL;
	}
	return 0;
}

static struct quorum *quorum_open(const char *peer, unsigned int timeout_ms,
				  unsigned int grace_ms, volatile int *stop,
				  volatile int *failover)
{
	static volatile int never;
	struct quorum *q = calloc(1, sizeof(*q));
	cmap_handle_t h;
	int r;

	if (!q)
		return NULL;
	if (cmap_initialize(&h) != CS_OK) {
		fprintf(stderr,
			"%s: --quorum corosync: corosync does not answer (is it running?)\n",
			prog_name);
		free(q);
		return NULL;
	}
	r = find_nodes(q, h, peer);
	if (!r)
		r = check_timing(q, h, timeout_ms, grace_ms);
	cmap_finalize(h);
	if (!r)
		r = check_votes(q);
	/* each process connects for itself: a receiver's are forked */
	disconnect_vq(q);
	if (r < 0) {
		quorum_close(q);
		return NULL;
	}
	q->stop = stop ? stop : &never;
	q->failover = failover ? failover : &never;
	q->arbiter = (struct xrepl_arbiter){ .name = "corosync",
					     .may_run_on = may_run_on,
					     .may_promote = may_promote,
					     .data = q };
	return q;
}

void quorum_close(struct quorum *q)
{
	/* a look corosync never answered still owns it: the process ends */
	if (!q || q->looking)
		return;
	disconnect_vq(q);
	free(q);
}

const struct xrepl_arbiter *quorum_arbiter(struct quorum *q)
{
	return &q->arbiter;
}

/* One line for the admin: the peer, its node id, the two delays */
static void quorum_describe(const struct quorum *q, char *buf, size_t len)
{
	snprintf(
		buf, len,
		"peer node %s (id %u); a primary decides %u ms after it lost its backup, a backup promotes %u ms after it lost its primary at the earliest",
		q->peer, q->peer_id, q->stale_ms, q->grace_ms);
}

int quorum_setup(const char *source, const char *peer, unsigned int grace_ms,
		 unsigned int timeout_ms, volatile int *stop,
		 volatile int *failover, struct quorum **q)
{
	char what[600];

	*q = NULL;
	if (!source || !strcmp(source, "none")) {
		if (peer || grace_ms) {
			fprintf(stderr,
				"%s: --quorum-peer and --quorum-grace need --quorum corosync\n",
				prog_name);
			return -EINVAL;
		}
		fprintf(stderr,
			"%s: warning: nothing prevents split brain (no --quorum): if only the link between the hosts fails, both run the guest\n",
			prog_name);
		return 0;
	}
	if (strcmp(source, "corosync")) {
		fprintf(stderr, "%s: --quorum %s: unknown (corosync or none)\n",
			prog_name, source);
		return -EINVAL;
	}
	*q = quorum_open(peer, timeout_ms, grace_ms, stop, failover);
	if (!*q)
		return -EINVAL;
	quorum_describe(*q, what, sizeof(what));
	fprintf(stderr, "%s: split brain guarded by corosync's quorum: %s\n",
		prog_name, what);
	return 0;
}
