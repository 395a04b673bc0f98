// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The wire protocol between primary and backup: framed messages over one
 * byte stream (TCP, or ssh's stdio), opened by a versioned handshake with
 * mutual HMAC-SHA256 challenge-response on a pre-shared key.
 *
 * Frame: u8 type, u8 zero, u16 zero, u32 length (little-endian), payload.
 *
 * Handshake (P = primary, B = backup, K = key, | = concatenation):
 *   P -> B  HELLO      version, nonce_p
 *   B -> P  CHALLENGE  version, nonce_b, HMAC(K, "xrepl backup" | nonce_p | nonce_b)
 *   P -> B  AUTH       HMAC(K, "xrepl primary" | nonce_b | nonce_p)
 *   B -> P  ACCEPT
 * Each side proves the key over a nonce the other chose, and the labels
 * keep one side's proof from being replayed as the other's.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libxrepl-private.h"

#define WIRE_HDR 8
#define WIRE_VERSION 3
#define NONCE_LEN 32
#define MAC_LEN 32

struct xrepl_wire {
	struct xrepl_ctx *ctx;
	int in;
	int out;
	uint8_t key[XREPL_KEY_LEN];
	uint8_t hdr[WIRE_HDR];
	size_t hdr_have;
	uint8_t *payload;
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
	[XREPL_FRAME_CHALLENGE] = "CHALLENGE",
	[XREPL_FRAME_AUTH] = "AUTH",
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

/* the longest of them all (DISK), which the receive buffer must hold */
#define PAYLOAD_MAX (1 + XREPL_VDEV_MAX + XREPL_WIRE_STREAM_MAX)

/* The longest payload each frame type may carry; 0: not a frame type. */
static const uint32_t type_max[] = {
	[XREPL_FRAME_HELLO] = 4 + NONCE_LEN,
	[XREPL_FRAME_CHALLENGE] = 4 + NONCE_LEN + MAC_LEN,
	[XREPL_FRAME_AUTH] = MAC_LEN,
	[XREPL_FRAME_ACCEPT] = 0,
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

/* ------------------------------------------------------------ keys */

XREPL_EXPORT int xrepl_key_generate(uint8_t key[XREPL_KEY_LEN])
{
	return RAND_bytes(key, XREPL_KEY_LEN) == 1 ? 0 : -EIO;
}

XREPL_EXPORT int xrepl_key_save(struct xrepl_ctx *ctx, const char *path,
				const uint8_t key[XREPL_KEY_LEN])
{
	char hex[2 * XREPL_KEY_LEN + 2];
	int fd, i, r = 0;

	for (i = 0; i < XREPL_KEY_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	hex[2 * XREPL_KEY_LEN] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		err(ctx, "cannot create key file %s: %s", path,
		    strerror(errno));
		return r;
	}
	if (write(fd, hex, 2 * XREPL_KEY_LEN + 1) != 2 * XREPL_KEY_LEN + 1) {
		r = -EIO;
		err(ctx, "cannot write key file %s", path);
	}
	if (close(fd) < 0 && !r)
		r = -errno;
	if (r)
		unlink(path);
	return r;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * As ssh treats a private key: whoever else can read the key can be either
 * side, so a key file others may read or write, or that another user owns,
 * is refused, not warned about.
 */
static int key_file_safe(struct xrepl_ctx *ctx, int fd, const char *path)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		err(ctx, "cannot stat key file %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		err(ctx, "key file %s is not a regular file", path);
		return -EINVAL;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		err(ctx,
		    "key file %s is owned by uid %u, not by root or uid %u",
		    path, (unsigned int)st.st_uid, (unsigned int)geteuid());
		return -EACCES;
	}
	if (st.st_mode & 077) {
		err(ctx,
		    "key file %s is open to group or others (mode %04o): chmod 600 it",
		    path, (unsigned int)(st.st_mode & 07777));
		return -EACCES;
	}
	return 0;
}

XREPL_EXPORT int xrepl_key_load(struct xrepl_ctx *ctx, const char *path,
				uint8_t key[XREPL_KEY_LEN])
{
	char hex[2 * XREPL_KEY_LEN + 4];
	ssize_t n;
	int fd, i, hi, lo, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		err(ctx, "cannot open key file %s: %s", path,
		    errno == ELOOP ?
			    "it is a symbolic link (name the file itself)" :
			    strerror(errno));
		return -errno;
	}
	r = key_file_safe(ctx, fd, path);
	if (r < 0) {
		close(fd);
		return r;
	}
	n = read(fd, hex, sizeof(hex));
	close(fd);
	if (n < 2 * XREPL_KEY_LEN ||
	    (n > 2 * XREPL_KEY_LEN && hex[2 * XREPL_KEY_LEN] != '\n') ||
	    n > 2 * XREPL_KEY_LEN + 1) {
		err(ctx,
		    "key file %s: want %d hex digits and a newline (xrepl genkey writes one)",
		    path, 2 * XREPL_KEY_LEN);
		return -EINVAL;
	}
	for (i = 0; i < XREPL_KEY_LEN; i++) {
		hi = hex_value(hex[2 * i]);
		lo = hex_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			err(ctx, "key file %s: not a hex digit at offset %d",
			    path, 2 * i + (hi < 0 ? 0 : 1));
			return -EINVAL;
		}
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* ------------------------------------------------------------ frames */

XREPL_EXPORT struct xrepl_wire *xrepl_wire_new(struct xrepl_ctx *ctx, int in,
					       int out,
					       const uint8_t key[XREPL_KEY_LEN])
{
	struct xrepl_wire *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->payload = malloc(PAYLOAD_MAX);
	if (!w->payload) {
		free(w);
		return NULL;
	}
	w->ctx = xrepl_ref(ctx);
	w->in = in;
	w->out = out;
	memcpy(w->key, key, XREPL_KEY_LEN);
	return w;
}

XREPL_EXPORT void xrepl_wire_free(struct xrepl_wire *w)
{
	if (!w)
		return;
	OPENSSL_cleanse(w->key, sizeof(w->key));
	xrepl_unref(w->ctx);
	free(w->payload);
	free(w);
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

static int write_all(struct xrepl_wire *w, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = write(w->out, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return wire_error(w, n < 0 ? -errno : -EPIPE,
					  "sending to the peer: %s",
					  n < 0 ? strerror(errno) : "closed");
		p += n;
		len -= (size_t)n;
		w->bytes_out += (size_t)n;
	}
	return 0;
}

/* A frame whose payload is HEAD then BODY. */
static int send_parts(struct xrepl_wire *w, unsigned int type, const void *head,
		      size_t hlen, const void *body, size_t blen)
{
	uint8_t hdr[WIRE_HDR] = { (uint8_t)type };
	uint32_t le = htole32((uint32_t)(hlen + blen));
	int r;

	if (type >= sizeof(type_max) / sizeof(type_max[0]) ||
	    !type_names[type] || hlen + blen > type_max[type])
		return -EINVAL;
	memcpy(hdr + 4, &le, 4);
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
	struct pollfd pfd = { .fd = w->in, .events = POLLIN };
	size_t used;
	ssize_t n;
	int r, wait;

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
			return wire_error(w, -ETIMEDOUT,
					  "the peer sent nothing for %d ms",
					  timeout_ms);
		r = poll(&pfd, 1, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (!r)
			continue;
		n = read(w->in, w->inbuf, sizeof(w->inbuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return wire_error(w, n < 0 ? -errno : -EPIPE,
					  "connection to the peer lost: %s",
					  n < 0 ? strerror(errno) : "closed");
		w->in_pos = 0;
		w->in_len = (size_t)n;
	}
}

/* ------------------------------------------------------------ handshake */

static int mac(struct xrepl_wire *w, const char *label, const uint8_t *a,
	       const uint8_t *b, uint8_t out[MAC_LEN])
{
	uint8_t msg[16 + 2 * NONCE_LEN];
	size_t l = strlen(label);
	unsigned int len = MAC_LEN;

	memcpy(msg, label, l);
	memcpy(msg + l, a, NONCE_LEN);
	memcpy(msg + l + NONCE_LEN, b, NONCE_LEN);
	if (!HMAC(EVP_sha256(), w->key, XREPL_KEY_LEN, msg, l + 2 * NONCE_LEN,
		  out, &len) ||
	    len != MAC_LEN)
		return wire_error(w, -EIO, "HMAC-SHA256 failed (OpenSSL)");
	return 0;
}

static void put_version(uint8_t *p)
{
	uint32_t v = htole32(WIRE_VERSION);

	memcpy(p, &v, 4);
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
	if (type != XREPL_FRAME_HELLO && type != XREPL_FRAME_CHALLENGE)
		return 0;
	memcpy(&version, f->payload, 4);
	if (le32toh(version) != WIRE_VERSION)
		return wire_error(
			w, -EPROTO,
			"handshake: the peer speaks protocol version %u, we speak %u",
			le32toh(version), WIRE_VERSION);
	return 0;
}

static int refuse(struct xrepl_wire *w, int r)
{
	xrepl_wire_send(w, XREPL_FRAME_BYE, w->msg, strlen(w->msg));
	return r;
}

XREPL_EXPORT int xrepl_wire_connect(struct xrepl_wire *w, int timeout_ms)
{
	uint8_t hello[4 + NONCE_LEN], nonce_b[NONCE_LEN], want[MAC_LEN];
	uint8_t auth[MAC_LEN];
	struct xrepl_frame f;
	int r;

	put_version(hello);
	if (RAND_bytes(hello + 4, NONCE_LEN) != 1)
		return -EIO;
	r = xrepl_wire_send(w, XREPL_FRAME_HELLO, hello, sizeof(hello));
	if (r < 0)
		return r;
	r = expect(w, &f, XREPL_FRAME_CHALLENGE, timeout_ms);
	if (r < 0)
		return r;
	memcpy(nonce_b, f.payload + 4, NONCE_LEN);
	if (mac(w, "xrepl backup", hello + 4, nonce_b, want) < 0 ||
	    mac(w, "xrepl primary", nonce_b, hello + 4, auth) < 0)
		return -EIO;
	if (CRYPTO_memcmp(want, f.payload + 4 + NONCE_LEN, MAC_LEN))
		return refuse(
			w,
			wire_error(
				w, -EACCES,
				"the backup does not hold our key: authentication failed"));
	r = xrepl_wire_send(w, XREPL_FRAME_AUTH, auth, sizeof(auth));
	if (r < 0)
		return r;
	return expect(w, &f, XREPL_FRAME_ACCEPT, timeout_ms);
}

XREPL_EXPORT int xrepl_wire_accept(struct xrepl_wire *w, int timeout_ms)
{
	uint8_t challenge[4 + NONCE_LEN + MAC_LEN], nonce_p[NONCE_LEN];
	uint8_t want[MAC_LEN];
	struct xrepl_frame f;
	int r;

	r = expect(w, &f, XREPL_FRAME_HELLO, timeout_ms);
	if (r < 0)
		return r == -EPROTO ? refuse(w, r) : r;
	memcpy(nonce_p, f.payload + 4, NONCE_LEN);
	put_version(challenge);
	if (RAND_bytes(challenge + 4, NONCE_LEN) != 1)
		return -EIO;
	if (mac(w, "xrepl backup", nonce_p, challenge + 4,
		challenge + 4 + NONCE_LEN) < 0)
		return -EIO;
	r = xrepl_wire_send(w, XREPL_FRAME_CHALLENGE, challenge,
			    sizeof(challenge));
	if (r < 0)
		return r;
	r = expect(w, &f, XREPL_FRAME_AUTH, timeout_ms);
	if (r < 0)
		return r == -EPROTO ? refuse(w, r) : r;
	if (mac(w, "xrepl primary", challenge + 4, nonce_p, want) < 0)
		return -EIO;
	if (CRYPTO_memcmp(want, f.payload, MAC_LEN))
		return refuse(
			w,
			wire_error(
				w, -EACCES,
				"the primary does not hold our key: authentication failed"));
	return xrepl_wire_send(w, XREPL_FRAME_ACCEPT, NULL, 0);
}
