// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The wire protocol between primary and backup: framed messages inside one
 * TLS 1.3 connection (tls.c) over a byte stream (TCP, or a transport
 * command's stdio).
 *
 * Frame: u8 type, u8 zero, u16 zero, u32 length (little-endian), payload.
 *
 * Once TLS has authenticated both sides, the primary says which protocol
 * it speaks and the backup answers with its own or refuses:
 *   P -> B  HELLO   u32 version
 *   B -> P  ACCEPT  u32 version   (or BYE, with the reason)
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libxrepl-private.h"
#include "tls.h"

#define WIRE_HDR 8
/* a frame this small goes whole into one TLS record (ACKs, heartbeats) */
#define SMALL_FRAME 1024
/* 4: inside TLS 1.3; 3 and before: in the clear after an HMAC handshake */
#define WIRE_VERSION 4

struct xrepl_wire {
	struct xrepl_ctx *ctx;
	int in;
	int out;
	struct xrepl_tls *tls;
	struct tls_conn conn;
	int open; /* conn holds an SSL object */
	int send_timeout_ms; /* -1: a send waits as long as it takes */
	uint8_t hdr[WIRE_HDR];
	size_t hdr_have;
	uint8_t *payload;
	size_t cap; /* grown to the longest frame yet (a primary's are small) */
	size_t have;
	uint32_t len;
	uint64_t bytes_in;
	uint64_t bytes_out;
	char msg[256];
	int broken; /* a protocol error: the stream's framing is lost */
	size_t in_pos;
	size_t in_len;
	uint8_t inbuf[1 << 16];
};

static const char *const type_names[] = {
	[XREPL_FRAME_HELLO] = "HELLO",
	[XREPL_FRAME_ACCEPT] = "ACCEPT",
	[XREPL_FRAME_CONFIG] = "CONFIG",
	[XREPL_FRAME_STREAM] = "STREAM",
	[XREPL_FRAME_EPOCH_END] = "EPOCH_END",
	[XREPL_FRAME_ACK] = "ACK",
	[XREPL_FRAME_HEARTBEAT] = "HEARTBEAT",
	[XREPL_FRAME_BYE] = "BYE",
	[XREPL_FRAME_DISK] = "DISK",
	[XREPL_FRAME_DISK_STATE] = "DISK_STATE",
	[XREPL_FRAME_STOP] = "STOP",
	[XREPL_FRAME_DISK_HASHES] = "DISK_HASHES",
};

static const char *const stop_names[] = {
	[XREPL_STOP_UNPROTECT] = "unprotect",
	[XREPL_STOP_FAULT] = "fault",
	[XREPL_STOP_SHUTDOWN] = "shutdown",
	[XREPL_STOP_DESTROYED] = "destroyed",
	[XREPL_STOP_CRASH] = "crash",
	[XREPL_STOP_REBOOT] = "reboot",
	[XREPL_STOP_TERMINATED] = "terminated",
	[XREPL_STOP_CONFIRM] = "confirm",
	[XREPL_STOP_RESURRECT] = "resurrect",
	[XREPL_STOP_MOVED] = "moved",
	[XREPL_STOP_SWITCHOVER] = "switchover",
	[XREPL_STOP_RUNNING] = "running",
};

/* a DISK_HASHES frame's u8 n, vdev, u64 first chunk at most */
#define DISK_HASHES_HEAD (1 + XREPL_VDEV_MAX + 8)

/* the longest frame of all: DISK */
#define PAYLOAD_MAX (1 + XREPL_VDEV_MAX + XREPL_WIRE_STREAM_MAX)

/* The longest payload each frame type may carry; 0: not a frame type. */
static const uint32_t type_max[] = {
	[XREPL_FRAME_HELLO] = 4,
	[XREPL_FRAME_ACCEPT] = 4,
	[XREPL_FRAME_CONFIG] = 1u << 20,
	[XREPL_FRAME_STREAM] = XREPL_WIRE_STREAM_MAX,
	[XREPL_FRAME_EPOCH_END] = 8,
	[XREPL_FRAME_ACK] = 8,
	[XREPL_FRAME_HEARTBEAT] = 8,
	[XREPL_FRAME_BYE] = 256,
	[XREPL_FRAME_DISK] = PAYLOAD_MAX,
	[XREPL_FRAME_DISK_STATE] = XREPL_DISK_STATE_MAX,
	[XREPL_FRAME_STOP] = 1 + 255,
	[XREPL_FRAME_DISK_HASHES] =
		DISK_HASHES_HEAD +
		XREPL_DISK_HASHES_PER_FRAME * XREPL_DISK_HASH_LEN,
};

/* Frames whose payload has exactly its maximum length. */
static int fixed_length(uint8_t type)
{
	return type != XREPL_FRAME_CONFIG && type != XREPL_FRAME_STREAM &&
	       type != XREPL_FRAME_BYE && type != XREPL_FRAME_DISK &&
	       type != XREPL_FRAME_DISK_STATE && type != XREPL_FRAME_STOP &&
	       type != XREPL_FRAME_DISK_HASHES;
}

XREPL_EXPORT const char *xrepl_frame_type_name(unsigned int type)
{
	if (type >= sizeof(type_names) / sizeof(type_names[0]) ||
	    !type_names[type])
		return "unknown";
	return type_names[type];
}

XREPL_EXPORT const char *xrepl_stop_name(unsigned int reason)
{
	if (reason >= sizeof(stop_names) / sizeof(stop_names[0]) ||
	    !stop_names[reason])
		return "unknown";
	return stop_names[reason];
}

/* ------------------------------------------------------------ frames */

XREPL_EXPORT struct xrepl_wire *xrepl_wire_new(struct xrepl_ctx *ctx, int in,
					       int out, struct xrepl_tls *tls)
{
	struct xrepl_wire *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->cap = SMALL_FRAME;
	w->payload = malloc(w->cap);
	if (!w->payload) {
		free(w);
		return NULL;
	}
	w->ctx = xrepl_ref(ctx);
	w->in = in;
	w->out = out;
	w->tls = tls;
	w->send_timeout_ms = -1;
	return w;
}

XREPL_EXPORT void xrepl_wire_free(struct xrepl_wire *w)
{
	if (!w)
		return;
	if (w->open)
		tls_conn_close(&w->conn);
	xrepl_unref(w->ctx);
	free(w->payload);
	free(w);
}

XREPL_EXPORT const char *xrepl_wire_cipher(const struct xrepl_wire *w)
{
	return w->open ? tls_conn_cipher(&w->conn) : "none";
}

XREPL_EXPORT int xrepl_wire_kernel_tls(const struct xrepl_wire *w)
{
	return w->open && tls_conn_kernel_sends(&w->conn);
}

XREPL_EXPORT const char *xrepl_wire_strerror(const struct xrepl_wire *w)
{
	return w->msg;
}

XREPL_EXPORT void xrepl_wire_counters(const struct xrepl_wire *w, uint64_t *in,
				      uint64_t *out)
{
	*in = w->bytes_in;
	*out = w->bytes_out;
}

__attribute__((format(printf, 3, 4))) static int
wire_error(struct xrepl_wire *w, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
	/* a quiet peer is the caller's to judge: it may just be idle */
	if (r != -ETIMEDOUT)
		err(w->ctx, "%s", w->msg);
	return r;
}

XREPL_EXPORT void xrepl_wire_set_send_timeout(struct xrepl_wire *w,
					      int timeout_ms)
{
	w->send_timeout_ms = timeout_ms;
}

static int write_all(struct xrepl_wire *w, const void *buf, size_t len)
{
	char msg[sizeof(w->msg)];
	int r;

	if (!w->open)
		return wire_error(w, -ENOTCONN, "sending before the handshake");
	r = tls_conn_write(&w->conn, buf, len, w->send_timeout_ms, msg,
			   sizeof(msg));
	if (r < 0)
		return wire_error(w, r, "%s", msg);
	w->bytes_out += len;
	return 0;
}

/* A frame whose payload is HEAD then BODY. */
static int send_parts(struct xrepl_wire *w, unsigned int type, const void *head,
		      size_t hlen, const void *body, size_t blen)
{
	uint8_t hdr[WIRE_HDR] = { (uint8_t)type },
		small[WIRE_HDR + SMALL_FRAME];
	uint32_t le = htole32((uint32_t)(hlen + blen));
	int r;

	if (type >= sizeof(type_max) / sizeof(type_max[0]) ||
	    !type_names[type] || hlen + blen > type_max[type])
		return -EINVAL;
	memcpy(hdr + 4, &le, 4);
	if (hlen + blen <= SMALL_FRAME) {
		memcpy(small, hdr, WIRE_HDR);
		if (hlen)
			memcpy(small + WIRE_HDR, head, hlen);
		if (blen)
			memcpy(small + WIRE_HDR + hlen, body, blen);
		return write_all(w, small, WIRE_HDR + hlen + blen);
	}
	r = write_all(w, hdr, WIRE_HDR);
	if (!r && hlen)
		r = write_all(w, head, hlen);
	if (!r && blen)
		r = write_all(w, body, blen);
	return r;
}

XREPL_EXPORT int xrepl_wire_send(struct xrepl_wire *w, unsigned int type,
				 const void *payload, size_t len)
{
	return send_parts(w, type, NULL, 0, payload, len);
}

/* u8 n and the n bytes of VDEV at HEAD: their length, or 0 if VDEV is bad */
static size_t put_vdev(uint8_t *head, const char *vdev)
{
	size_t vlen = strlen(vdev);

	if (!vlen || vlen > XREPL_VDEV_MAX)
		return 0;
	head[0] = (uint8_t)vlen;
	memcpy(head + 1, vdev, vlen);
	return 1 + vlen;
}

XREPL_EXPORT int xrepl_wire_send_disk(struct xrepl_wire *w, const char *vdev,
				      const void *buf, size_t len)
{
	uint8_t head[1 + XREPL_VDEV_MAX];
	size_t hlen = put_vdev(head, vdev), n;
	const uint8_t *p = buf;
	int r = 0;

	if (!hlen)
		return -EINVAL;
	for (; !r && len; p += n, len -= n) {
		n = len < XREPL_WIRE_STREAM_MAX ? len : XREPL_WIRE_STREAM_MAX;
		r = send_parts(w, XREPL_FRAME_DISK, head, hlen, p, n);
	}
	return r;
}

XREPL_EXPORT int xrepl_wire_send_disk_hashes(struct xrepl_wire *w,
					     const char *vdev, uint64_t first,
					     const uint8_t *hashes, size_t n)
{
	uint8_t head[DISK_HASHES_HEAD];
	size_t hlen = put_vdev(head, vdev), k;
	uint64_t le;
	int r = 0;

	if (!hlen)
		return -EINVAL;
	for (; !r && n; first += k, n -= k) {
		k = n < XREPL_DISK_HASHES_PER_FRAME ?
			    n :
			    XREPL_DISK_HASHES_PER_FRAME;
		le = htole64(first);
		memcpy(head + hlen, &le, 8);
		r = send_parts(w, XREPL_FRAME_DISK_HASHES, head, hlen + 8,
			       hashes, k * XREPL_DISK_HASH_LEN);
		hashes += k * XREPL_DISK_HASH_LEN;
	}
	return r;
}

XREPL_EXPORT int xrepl_wire_send_stop(struct xrepl_wire *w,
				      enum xrepl_stop reason, const char *text)
{
	uint8_t head = (uint8_t)reason;
	size_t len = strnlen(text, 255);

	return send_parts(w, XREPL_FRAME_STOP, &head, 1, text, len);
}

XREPL_EXPORT int xrepl_stop_parse(const struct xrepl_frame *f,
				  enum xrepl_stop *reason, const char **text,
				  size_t *len, const char **why)
{
	size_t i;

	if (f->type != XREPL_FRAME_STOP || !f->len) {
		*why = "not a STOP frame";
		return -EPROTO;
	}
	if (!strcmp(xrepl_stop_name(f->payload[0]), "unknown")) {
		*why = "unknown reason in a STOP frame";
		return -EPROTO;
	}
	/* it goes into logs and status JSON as it is */
	for (i = 1; i < f->len; i++)
		if (f->payload[i] < 0x20 || f->payload[i] > 0x7e ||
		    f->payload[i] == '"' || f->payload[i] == '\\') {
			*why = "a STOP frame's text is not plain printable ASCII";
			return -EPROTO;
		}
	*reason = (enum xrepl_stop)f->payload[0];
	*text = (const char *)f->payload + 1;
	*len = f->len - 1;
	return 0;
}

/* u8 n, then n bytes of a device name without NULs, at P (LEN left) */
static int vdev_at(const uint8_t *p, size_t len, char vdev[XREPL_VDEV_MAX + 1],
		   size_t *used, const char **why)
{
	size_t vlen = len ? p[0] : 0;

	if (!vlen || vlen > XREPL_VDEV_MAX || 1 + vlen > len) {
		*why = "bad device name length";
		return -EPROTO;
	}
	if (memchr(p + 1, '\0', vlen)) {
		*why = "a NUL in a device name";
		return -EPROTO;
	}
	memcpy(vdev, p + 1, vlen);
	vdev[vlen] = '\0';
	*used = 1 + vlen;
	return 0;
}

XREPL_EXPORT int xrepl_disk_state_next(const struct xrepl_frame *f, size_t *pos,
				       char vdev[XREPL_VDEV_MAX + 1],
				       uint64_t *resync_id, const char **why)
{
	size_t used;
	uint64_t id;

	if (f->type != XREPL_FRAME_DISK_STATE) {
		*why = "not a DISK_STATE frame";
		return -EPROTO;
	}
	if (*pos >= f->len)
		return 0;
	if (vdev_at(f->payload + *pos, f->len - *pos, vdev, &used, why) < 0)
		return -EPROTO;
	if (f->len - *pos - used < 8) {
		*why = "DISK_STATE entry without its id";
		return -EPROTO;
	}
	memcpy(&id, f->payload + *pos + used, 8);
	*resync_id = le64toh(id);
	*pos += used + 8;
	return 1;
}

XREPL_EXPORT int xrepl_disk_hashes_parse(const struct xrepl_frame *f,
					 char vdev[XREPL_VDEV_MAX + 1],
					 uint64_t *first,
					 const uint8_t **hashes, size_t *n,
					 const char **why)
{
	size_t used, rest;

	if (f->type != XREPL_FRAME_DISK_HASHES) {
		*why = "not a DISK_HASHES frame";
		return -EPROTO;
	}
	if (vdev_at(f->payload, f->len, vdev, &used, why) < 0)
		return -EPROTO;
	rest = f->len - used;
	if (rest < 8 + XREPL_DISK_HASH_LEN ||
	    (rest - 8) % XREPL_DISK_HASH_LEN) {
		*why = "DISK_HASHES without its first chunk or whole digests";
		return -EPROTO;
	}
	memcpy(first, f->payload + used, 8);
	*first = le64toh(*first);
	*hashes = f->payload + used + 8;
	*n = (rest - 8) / XREPL_DISK_HASH_LEN;
	if (*first > UINT64_MAX / XREPL_DISK_HASH_LEN - *n) {
		*why = "DISK_HASHES past any disk's last chunk";
		return -EPROTO;
	}
	return 0;
}

XREPL_EXPORT int xrepl_disk_frame_parse(const struct xrepl_frame *f,
					char vdev[XREPL_VDEV_MAX + 1],
					const uint8_t **data, size_t *len,
					const char **why)
{
	size_t used;

	if (f->type != XREPL_FRAME_DISK) {
		*why = "not a DISK frame";
		return -EPROTO;
	}
	if (vdev_at(f->payload, f->len, vdev, &used, why) < 0)
		return -EPROTO;
	*data = f->payload + used;
	*len = f->len - used;
	return 0;
}

XREPL_EXPORT int xrepl_wire_send_u64(struct xrepl_wire *w, unsigned int type,
				     uint64_t v)
{
	v = htole64(v);
	return xrepl_wire_send(w, type, &v, sizeof(v));
}

static int check_header(struct xrepl_wire *w)
{
	uint8_t type = w->hdr[0];
	uint32_t len;

	memcpy(&len, w->hdr + 4, 4);
	len = le32toh(len);
	if (type >= sizeof(type_max) / sizeof(type_max[0]) || !type_names[type])
		return wire_error(
			w, -EPROTO,
			"protocol error at byte %llu: unknown frame type %u",
			(unsigned long long)w->bytes_in - WIRE_HDR, type);
	if (w->hdr[1] || w->hdr[2] || w->hdr[3])
		return wire_error(
			w, -EPROTO,
			"protocol error at byte %llu: %s frame with reserved bytes set",
			(unsigned long long)w->bytes_in - WIRE_HDR,
			type_names[type]);
	if (len > type_max[type] ||
	    (fixed_length(type) && len != type_max[type]))
		return wire_error(
			w, -EPROTO,
			"protocol error at byte %llu: %s frame of %u bytes (%s %u)",
			(unsigned long long)w->bytes_in - WIRE_HDR,
			type_names[type], len,
			fixed_length(type) ? "want" : "at most",
			type_max[type]);
	w->len = len;
	return 0;
}

static int make_room(struct xrepl_wire *w)
{
	uint8_t *grown;

	if (w->len <= w->cap)
		return 0;
	grown = realloc(w->payload, w->len);
	if (!grown)
		return wire_error(w, -ENOMEM,
				  "no memory for a %s frame of %u bytes",
				  type_names[w->hdr[0]], w->len);
	w->payload = grown;
	w->cap = w->len;
	return 0;
}

XREPL_EXPORT int xrepl_wire_parse(struct xrepl_wire *w, const void *buf,
				  size_t len, size_t *used,
				  struct xrepl_frame *frame)
{
	const uint8_t *p = buf;
	size_t n, start = 0;
	int r;

	*used = 0;
	if (w->broken)
		return -EPROTO;
	while (start < len) {
		if (w->hdr_have < WIRE_HDR) {
			n = WIRE_HDR - w->hdr_have < len - start ?
				    WIRE_HDR - w->hdr_have :
				    len - start;
			memcpy(w->hdr + w->hdr_have, p + start, n);
			w->hdr_have += n;
			w->bytes_in += n;
			start += n;
			w->have = 0;
			if (w->hdr_have < WIRE_HDR)
				break;
			r = check_header(w);
			if (!r)
				r = make_room(w);
			if (r < 0) {
				w->broken = 1;
				return r;
			}
		}
		n = w->len - w->have < len - start ? w->len - w->have :
						     len - start;
		memcpy(w->payload + w->have, p + start, n);
		w->have += n;
		w->bytes_in += n;
		start += n;
		if (w->have < w->len)
			break;
		frame->type = w->hdr[0];
		frame->len = w->len;
		frame->payload = w->payload;
		w->hdr_have = 0;
		*used = start;
		return 1;
	}
	*used = start;
	return 0;
}

/* Reads one frame, waiting at most timeout_ms for data (-1: forever). */
XREPL_EXPORT int xrepl_wire_recv(struct xrepl_wire *w,
				 struct xrepl_frame *frame, int timeout_ms)
{
	double deadline = xrepl_now_ms() + timeout_ms;
	char msg[sizeof(w->msg)];
	size_t used;
	ssize_t n;
	int r, wait;

	if (!w->open)
		return wire_error(w, -ENOTCONN,
				  "receiving before the handshake");
	for (;;) {
		if (w->in_pos < w->in_len) {
			r = xrepl_wire_parse(w, w->inbuf + w->in_pos,
					     w->in_len - w->in_pos, &used,
					     frame);
			w->in_pos += used;
			if (r)
				return r;
		}
		wait = timeout_ms < 0 ? -1 : (int)(deadline - xrepl_now_ms());
		if (timeout_ms >= 0 && wait <= 0)
			wait = 0;
		n = tls_conn_read(&w->conn, w->inbuf, sizeof(w->inbuf), wait,
				  msg, sizeof(msg));
		if (n == -ETIMEDOUT)
			return wire_error(w, -ETIMEDOUT,
					  "the peer sent nothing for %d ms",
					  timeout_ms);
		if (n < 0)
			return wire_error(w, (int)n, "%s", msg);
		w->in_pos = 0;
		w->in_len = (size_t)n;
	}
}

/* ------------------------------------------------------------ handshake */

static int tls_open(struct xrepl_wire *w, int server, int timeout_ms)
{
	char msg[sizeof(w->msg)];
	int r;

	if (!w->tls)
		return wire_error(w, -EINVAL, "no credentials for TLS");
	if (w->open)
		return wire_error(w, -EALREADY, "the handshake ran already");
	r = tls_conn_open(&w->conn, w->tls, w->in, w->out, server, msg,
			  sizeof(msg));
	w->open = 1;
	if (!r)
		r = tls_conn_handshake(&w->conn, timeout_ms, msg, sizeof(msg));
	if (r < 0)
		return wire_error(w, r, "%s", msg);
	return 0;
}

static int send_version(struct xrepl_wire *w, unsigned int type)
{
	uint32_t v = htole32(WIRE_VERSION);

	return xrepl_wire_send(w, type, &v, sizeof(v));
}

static int expect(struct xrepl_wire *w, struct xrepl_frame *f,
		  unsigned int type, int timeout_ms)
{
	uint32_t version;
	int r = xrepl_wire_recv(w, f, timeout_ms);

	if (r < 0)
		return r;
	if (f->type == XREPL_FRAME_BYE)
		return wire_error(w, -ECONNREFUSED, "the peer refused: %.*s",
				  (int)f->len, (const char *)f->payload);
	if (f->type != type)
		return wire_error(w, -EPROTO, "handshake: got %s, want %s",
				  xrepl_frame_type_name(f->type),
				  xrepl_frame_type_name(type));
	memcpy(&version, f->payload, 4);
	if (le32toh(version) != WIRE_VERSION)
		return wire_error(
			w, -EPROTO,
			"handshake: the peer speaks protocol version %u, we speak %u",
			le32toh(version), WIRE_VERSION);
	return 0;
}

XREPL_EXPORT int xrepl_wire_connect(struct xrepl_wire *w, int timeout_ms)
{
	struct xrepl_frame f;
	int r;

	r = tls_open(w, 0, timeout_ms);
	if (!r)
		r = send_version(w, XREPL_FRAME_HELLO);
	if (!r)
		r = expect(w, &f, XREPL_FRAME_ACCEPT, timeout_ms);
	return r;
}

XREPL_EXPORT int xrepl_wire_accept(struct xrepl_wire *w, int timeout_ms)
{
	struct xrepl_frame f;
	int r;

	r = tls_open(w, 1, timeout_ms);
	if (r < 0)
		return r;
	r = expect(w, &f, XREPL_FRAME_HELLO, timeout_ms);
	if (r == -EPROTO)
		xrepl_wire_send(w, XREPL_FRAME_BYE, w->msg, strlen(w->msg));
	if (r < 0)
		return r;
	return send_version(w, XREPL_FRAME_ACCEPT);
}
