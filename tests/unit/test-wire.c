// SPDX-License-Identifier: LGPL-2.1-or-later
/* The wire protocol: framing, and hostile frames (tls's: test-tls.c). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "libxrepl.h"

static const uint8_t key_a[XREPL_KEY_LEN] = { 1, 2, 3 };

struct side {
	struct xrepl_ctx *ctx;
	struct xrepl_tls *tls;
	struct xrepl_wire *w;
	int fd;
	int r;
	char msg[256];
};

static void *backup_thread(void *arg)
{
	struct side *b = arg;

	b->r = xrepl_wire_accept(b->w, 2000);
	snprintf(b->msg, sizeof(b->msg), "%s", xrepl_wire_strerror(b->w));
	return NULL;
}

static void open_pair(struct side *p, struct side *b, const uint8_t *kp,
		      const uint8_t *kb)
{
	struct xrepl_tls_opts op = { .key = kp }, ob = { .key = kb };
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p->ctx = xrepl_new();
	b->ctx = xrepl_new();
	xrepl_set_log_priority(p->ctx, 0);
	xrepl_set_log_priority(b->ctx, 0);
	p->fd = sv[0];
	b->fd = sv[1];
	p->tls = xrepl_tls_new(p->ctx, &op);
	b->tls = xrepl_tls_new(b->ctx, &ob);
	assert_non_null(p->tls);
	assert_non_null(b->tls);
	p->w = xrepl_wire_new(p->ctx, sv[0], sv[0], p->tls);
	b->w = xrepl_wire_new(b->ctx, sv[1], sv[1], b->tls);
}

static void close_side(struct side *s)
{
	xrepl_wire_free(s->w);
	xrepl_tls_free(s->tls);
	xrepl_unref(s->ctx);
	close(s->fd);
}

static void handshake(struct side *p, struct side *b)
{
	pthread_t t;

	pthread_create(&t, NULL, backup_thread, b);
	p->r = xrepl_wire_connect(p->w, 2000);
	snprintf(p->msg, sizeof(p->msg), "%s", xrepl_wire_strerror(p->w));
	pthread_join(t, NULL);
}

static void same_key_authenticates_and_frames_flow(void **state)
{
	struct side p, b;
	struct xrepl_frame f;
	uint8_t big[100000];
	uint64_t epoch = 7;

	open_pair(&p, &b, key_a, key_a);
	handshake(&p, &b);
	assert_int_equal(p.r, 0);
	assert_int_equal(b.r, 0);

	memset(big, 0x42, sizeof(big));
	assert_int_equal(
		xrepl_wire_send(p.w, XREPL_FRAME_STREAM, big, sizeof(big)), 0);
	assert_int_equal(xrepl_wire_send(p.w, XREPL_FRAME_EPOCH_END, &epoch, 8),
			 0);
	assert_int_equal(xrepl_wire_recv(b.w, &f, 1000), 1);
	assert_int_equal(f.type, XREPL_FRAME_STREAM);
	assert_int_equal(f.len, sizeof(big));
	assert_memory_equal(f.payload, big, sizeof(big));
	assert_int_equal(xrepl_wire_recv(b.w, &f, 1000), 1);
	assert_int_equal(f.type, XREPL_FRAME_EPOCH_END);
	assert_memory_equal(f.payload, &epoch, 8);
	assert_int_equal(xrepl_wire_send(b.w, XREPL_FRAME_ACK, &epoch, 8), 0);
	assert_int_equal(xrepl_wire_recv(p.w, &f, 1000), 1);
	assert_int_equal(f.type, XREPL_FRAME_ACK);
	close_side(&p);
	close_side(&b);
}

#define DISK_BYTES (5u << 20)

static void *send_disk_thread(void *arg)
{
	struct side *p = arg;
	uint8_t *buf = malloc(DISK_BYTES);
	uint32_t i;

	for (i = 0; i < DISK_BYTES; i++)
		buf[i] = (uint8_t)(i * 7);
	p->r = xrepl_wire_send_disk(p->w, "xvda", buf, DISK_BYTES);
	free(buf);
	return NULL;
}

/* A disk's records go in frames of at most 2 MiB, each naming the disk. */
static void disk_frames_carry_the_device(void **state)
{
	char vdev[XREPL_VDEV_MAX + 1], name[40];
	uint8_t bad[8] = { 0 };
	struct xrepl_frame f;
	struct side p, b;
	const uint8_t *data;
	const char *why;
	size_t len, got = 0;
	pthread_t t;
	int frames = 0;

	open_pair(&p, &b, key_a, key_a);
	handshake(&p, &b);
	pthread_create(&t, NULL, send_disk_thread, &p);
	while (got < DISK_BYTES) {
		assert_int_equal(xrepl_wire_recv(b.w, &f, 2000), 1);
		assert_int_equal(f.type, XREPL_FRAME_DISK);
		assert_int_equal(
			xrepl_disk_frame_parse(&f, vdev, &data, &len, &why), 0);
		assert_string_equal(vdev, "xvda");
		assert_true(len <= XREPL_WIRE_STREAM_MAX);
		assert_int_equal(data[0], (uint8_t)(got * 7));
		got += len;
		frames++;
	}
	pthread_join(t, NULL);
	assert_int_equal(p.r, 0);
	assert_int_equal(got, DISK_BYTES);
	assert_int_equal(frames, 3);

	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(xrepl_wire_send_disk(p.w, name, bad, 1), -EINVAL);
	f = (struct xrepl_frame){ XREPL_FRAME_DISK, 0, bad };
	assert_int_equal(xrepl_disk_frame_parse(&f, vdev, &data, &len, &why),
			 -EPROTO);
	bad[0] = 9; /* longer than the frame */
	f.len = 8;
	assert_int_equal(xrepl_disk_frame_parse(&f, vdev, &data, &len, &why),
			 -EPROTO);
	assert_string_equal(why, "bad device name length");
	bad[0] = 3; /* "\0\0\0" */
	assert_int_equal(xrepl_disk_frame_parse(&f, vdev, &data, &len, &why),
			 -EPROTO);
	assert_string_equal(why, "a NUL in a device name");
	close_side(&p);
	close_side(&b);
}

/* The backup's replicas: entries in order, then the end; a cut one is
 * refused. */
static void disk_state_entries(void **state)
{
	uint8_t p[64] = { 4, 'x', 'v', 'd', 'a', 7, 0, 0, 0, 0, 0, 0, 0,
			  4, 'x', 'v', 'd', 'b', 0, 0, 0, 0, 0, 0, 0, 0 };
	struct xrepl_frame f = { XREPL_FRAME_DISK_STATE, 26, p };
	char vdev[XREPL_VDEV_MAX + 1];
	const char *why;
	size_t pos = 0;
	uint64_t id;

	assert_int_equal(xrepl_disk_state_next(&f, &pos, vdev, &id, &why), 1);
	assert_string_equal(vdev, "xvda");
	assert_true(id == 7);
	assert_int_equal(xrepl_disk_state_next(&f, &pos, vdev, &id, &why), 1);
	assert_string_equal(vdev, "xvdb");
	assert_true(id == 0);
	assert_int_equal(xrepl_disk_state_next(&f, &pos, vdev, &id, &why), 0);
	f.len = 20;
	pos = 13;
	assert_int_equal(xrepl_disk_state_next(&f, &pos, vdev, &id, &why),
			 -EPROTO);
	assert_string_equal(why, "DISK_STATE entry without its id");
	f.type = XREPL_FRAME_DISK;
	pos = 0;
	assert_int_equal(xrepl_disk_state_next(&f, &pos, vdev, &id, &why),
			 -EPROTO);
}

#define DIGESTS 5000

static void *send_hashes_thread(void *arg)
{
	struct side *p = arg;
	uint8_t *h = malloc(DIGESTS * XREPL_DISK_HASH_LEN);
	uint32_t i;

	for (i = 0; i < DIGESTS * XREPL_DISK_HASH_LEN; i++)
		h[i] = (uint8_t)(i / XREPL_DISK_HASH_LEN);
	p->r = xrepl_wire_send_disk_hashes(p->w, "xvdb", 0, h, DIGESTS);
	free(h);
	return NULL;
}

/* A replica's digests go in frames of at most 4096, each saying where they
 * start; a frame without whole digests is refused. */
static void disk_hashes_frames(void **state)
{
	uint8_t bad[64] = { 4, 'x', 'v', 'd', 'a' };
	char vdev[XREPL_VDEV_MAX + 1];
	const uint8_t *h;
	struct xrepl_frame f;
	struct side p, b;
	const char *why;
	uint64_t first, got = 0;
	pthread_t t;
	size_t n;

	open_pair(&p, &b, key_a, key_a);
	handshake(&p, &b);
	pthread_create(&t, NULL, send_hashes_thread, &p);
	while (got < DIGESTS) {
		assert_int_equal(xrepl_wire_recv(b.w, &f, 2000), 1);
		assert_int_equal(xrepl_disk_hashes_parse(&f, vdev, &first, &h,
							 &n, &why),
				 0);
		assert_string_equal(vdev, "xvdb");
		assert_true(first == got);
		assert_true(n <= XREPL_DISK_HASHES_PER_FRAME);
		assert_int_equal(h[0], (uint8_t)first);
		got += n;
	}
	pthread_join(t, NULL);
	assert_int_equal(p.r, 0);
	assert_true(got == DIGESTS);

	f = (struct xrepl_frame){ XREPL_FRAME_DISK_HASHES, 5 + 8 + 31, bad };
	assert_int_equal(xrepl_disk_hashes_parse(&f, vdev, &first, &h, &n,
						 &why),
			 -EPROTO);
	assert_string_equal(
		why, "DISK_HASHES without its first chunk or whole digests");
	memset(bad + 5, 0xff, 8);
	f.len = 5 + 8 + 32;
	assert_int_equal(xrepl_disk_hashes_parse(&f, vdev, &first, &h, &n,
						 &why),
			 -EPROTO);
	assert_string_equal(why, "DISK_HASHES past any disk's last chunk");
	close_side(&p);
	close_side(&b);
}

static void frames_are_bounds_checked(void **state)
{
	static const struct {
		uint8_t hdr[8];
		const char *text;
	} bad[] = {
		{ { 0x63, 0, 0, 0, 0, 0, 0, 0 }, "unknown frame type 99" },
		{ { XREPL_FRAME_ACK, 1, 0, 0, 8, 0, 0, 0 }, "reserved bytes" },
		{ { XREPL_FRAME_ACK, 0, 0, 0, 9, 0, 0, 0 },
		  "ACK frame of 9 bytes (want 8)" },
		{ { XREPL_FRAME_STREAM, 0, 0, 0, 1, 0, 0x20, 0 },
		  "STREAM frame of 2097153 bytes (at most 2097152)" },
		{ { XREPL_FRAME_HELLO, 0, 0, 0, 0xff, 0xff, 0xff, 0xff },
		  "HELLO frame of 4294967295 bytes" },
	};
	static const uint8_t ack[16] = {
		XREPL_FRAME_ACK, 0, 0, 0, 8, 0, 0, 0, 1
	};
	struct xrepl_ctx *ctx = xrepl_new();
	struct xrepl_frame f;
	struct xrepl_wire *w;
	size_t i, used;

	xrepl_set_log_priority(ctx, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w = xrepl_wire_new(ctx, -1, -1, NULL);
		assert_int_equal(xrepl_wire_parse(w, bad[i].hdr, 8, &used, &f),
				 -EPROTO);
		if (!strstr(xrepl_wire_strerror(w), bad[i].text))
			fail_msg("\"%s\" lacks \"%s\"", xrepl_wire_strerror(w),
				 bad[i].text);
		/* the framing is lost: nothing after it is a frame */
		assert_int_equal(xrepl_wire_parse(w, ack, sizeof(ack), &used,
						  &f),
				 -EPROTO);
		xrepl_wire_free(w);
	}
	w = xrepl_wire_new(ctx, -1, -1, NULL);
	assert_int_equal(xrepl_wire_parse(w, ack, sizeof(ack), &used, &f), 1);
	xrepl_wire_free(w);
	xrepl_unref(ctx);
}

static void parse_in_any_chunks(void **state)
{
	uint8_t bytes[8 + 8 + 8 + 3] = { XREPL_FRAME_ACK,
					 0,
					 0,
					 0,
					 8,
					 0,
					 0,
					 0,
					 9,
					 0,
					 0,
					 0,
					 0,
					 0,
					 0,
					 0,
					 XREPL_FRAME_BYE,
					 0,
					 0,
					 0,
					 3,
					 0,
					 0,
					 0,
					 'b',
					 'y',
					 'e' };
	struct xrepl_ctx *ctx = xrepl_new();
	struct xrepl_wire *w = xrepl_wire_new(ctx, -1, -1, NULL);
	struct xrepl_frame f;
	size_t pos = 0, used;
	unsigned int types[2], n = 0;
	int r;

	/* one byte at a time */
	while (pos < sizeof(bytes)) {
		r = xrepl_wire_parse(w, bytes + pos, 1, &used, &f);
		assert_true(r >= 0);
		assert_int_equal(used, 1);
		pos++;
		if (r)
			types[n++] = f.type;
	}
	assert_int_equal(n, 2);
	assert_int_equal(types[0], XREPL_FRAME_ACK);
	assert_int_equal(types[1], XREPL_FRAME_BYE);
	assert_memory_equal(f.payload, "bye", 3);
	xrepl_wire_free(w);
	xrepl_unref(ctx);
}

/* A STOP carries its reason both ways; a hostile one is refused by name. */
static void stop_frames(void **state)
{
	static const struct {
		uint8_t bytes[6];
		size_t len;
		const char *why;
	} bad[] = {
		{ { 0 }, 0, "not a STOP frame" },
		{ { 0 }, 1, "unknown reason" },
		{ { 99, 'x' }, 2, "unknown reason" },
		{ { XREPL_STOP_FAULT, 'a', '\n' }, 3, "printable" },
		{ { XREPL_STOP_FAULT, '"', '}' }, 3, "printable" },
	};
	struct xrepl_frame f = { .type = XREPL_FRAME_STOP };
	struct side p, b;
	enum xrepl_stop reason;
	const char *text, *why;
	size_t len, i;

	open_pair(&p, &b, key_a, key_a);
	handshake(&p, &b);
	assert_int_equal(xrepl_wire_send_stop(p.w, XREPL_STOP_SHUTDOWN,
					      "guest powered off"),
			 0);
	assert_int_equal(xrepl_wire_recv(b.w, &f, 1000), 1);
	assert_int_equal(f.type, XREPL_FRAME_STOP);
	assert_int_equal(xrepl_stop_parse(&f, &reason, &text, &len, &why), 0);
	assert_int_equal(reason, XREPL_STOP_SHUTDOWN);
	assert_int_equal(len, strlen("guest powered off"));
	assert_memory_equal(text, "guest powered off", len);
	assert_string_equal(xrepl_stop_name(reason), "shutdown");
	assert_int_equal(xrepl_wire_send_stop(b.w, XREPL_STOP_CONFIRM, ""), 0);
	assert_int_equal(xrepl_wire_recv(p.w, &f, 1000), 1);
	assert_int_equal(xrepl_stop_parse(&f, &reason, &text, &len, &why), 0);
	assert_int_equal(reason, XREPL_STOP_CONFIRM);
	assert_int_equal(len, 0);
	close_side(&p);
	close_side(&b);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f.type = i ? XREPL_FRAME_STOP : XREPL_FRAME_BYE;
		f.payload = bad[i].bytes;
		f.len = (uint32_t)bad[i].len;
		why = NULL;
		assert_int_equal(xrepl_stop_parse(&f, &reason, &text, &len,
						  &why),
				 -EPROTO);
		if (!strstr(why, bad[i].why))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, why,
				 bad[i].why);
	}
	assert_string_equal(xrepl_stop_name(0), "unknown");
}

/* A switchover's request: exactly what was formatted, nothing else. */
static void switchover_requests(void **state)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "", "fields" },
		{ "port=7800 interval=100 timeout=5000", "separated" },
		{ "port=7800 interval=100 timeout=5000 flags=1 x",
		  "more than" },
		{ "port=0 interval=100 timeout=5000 flags=0", "bounds" },
		{ "port=65536 interval=100 timeout=5000 flags=0", "bounds" },
		{ "port=7800 interval=100 timeout=99 flags=0", "bounds" },
		{ "port=7800 interval=100 timeout=5000 flags=16", "bounds" },
		{ "port=7800 interval=123456789 timeout=5000 flags=0",
		  "bounds" },
		{ "port=-1 interval=100 timeout=5000 flags=0", "bounds" },
		{ "port=7800  interval=100 timeout=5000 flags=0", "fields" },
		{ "interval=100 port=7800 timeout=5000 flags=0", "fields" },
		{ "port=7800 interval=100 timeout=5000 flags=", "bounds" },
		{ "port=7800;interval=100 timeout=5000 flags=0", "separated" },
	};
	struct xrepl_switchover s = { 7800, 250, 3000,
				      XREPL_SWITCHOVER_ADAPTIVE |
					      XREPL_SWITCHOVER_NO_DISK },
				t;
	char text[128], tiny[16];
	const char *why;
	size_t i;

	assert_int_equal(xrepl_switchover_format(&s, text, sizeof(text)), 0);
	assert_string_equal(text,
			    "port=7800 interval=250 timeout=3000 flags=5");
	assert_int_equal(xrepl_switchover_format(&s, tiny, sizeof(tiny)),
			 -ENOSPC);
	assert_int_equal(xrepl_switchover_parse(text, strlen(text), &t, &why),
			 0);
	assert_int_equal(t.port, 7800);
	assert_int_equal(t.interval_ms, 250);
	assert_int_equal(t.timeout_ms, 3000);
	assert_int_equal(t.flags, s.flags);
	/* the text is not NUL-terminated in a frame: its length counts */
	strcat(text, "9 x");
	assert_int_equal(
		xrepl_switchover_parse(text, strlen(text) - 3, &t, &why), 0);
	assert_int_equal(t.flags, 5);
	assert_int_equal(xrepl_switchover_parse(text, 20, &t, &why), -EPROTO);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(xrepl_switchover_parse(bad[i].text,
							strlen(bad[i].text), &t,
							&why),
				 -EPROTO);
		if (!strstr(why, bad[i].why))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, why,
				 bad[i].why);
	}
	assert_string_equal(xrepl_stop_name(XREPL_STOP_SWITCHOVER),
			    "switchover");
	assert_string_equal(xrepl_stop_name(XREPL_STOP_RUNNING), "running");
}

static void silence_times_out(void **state)
{
	struct side p, b;
	struct xrepl_frame f;

	open_pair(&p, &b, key_a, key_a);
	assert_int_equal(xrepl_wire_recv(b.w, &f, 100), -ENOTCONN);
	handshake(&p, &b);
	assert_int_equal(xrepl_wire_recv(b.w, &f, 100), -ETIMEDOUT);
	close(p.fd);
	p.fd = -1;
	assert_int_equal(xrepl_wire_recv(b.w, &f, 1000), -EPIPE);
	assert_non_null(strstr(xrepl_wire_strerror(b.w),
			       "connection to the peer lost"));
	close_side(&p);
	close_side(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_key_authenticates_and_frames_flow),
		cmocka_unit_test(disk_frames_carry_the_device),
		cmocka_unit_test(disk_state_entries),
		cmocka_unit_test(disk_hashes_frames),
		cmocka_unit_test(frames_are_bounds_checked),
		cmocka_unit_test(parse_in_any_chunks),
		cmocka_unit_test(stop_frames),
		cmocka_unit_test(switchover_requests),
		cmocka_unit_test(silence_times_out),
	};

	/* as the tools do: a peer gone is an error, not a signal */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
