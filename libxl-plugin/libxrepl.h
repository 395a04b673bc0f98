/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libxrepl - Remus-style replication of Xen guests.
 *
 * One public header for the whole library. Every function returns 0 or a
 * positive count on success and a negative errno on failure; the reason is
 * logged through the context's log function, so callers need not invent
 * their own messages.
 */
#ifndef LIBXREPL_H
#define LIBXREPL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct xrepl_ctx;

typedef void (*xrepl_log_fn)(void *data, int priority, const char *file,
			     int line, const char *fn, const char *format,
			     va_list args);

struct xrepl_ctx *xrepl_new(void);
struct xrepl_ctx *xrepl_ref(struct xrepl_ctx *ctx);
struct xrepl_ctx *xrepl_unref(struct xrepl_ctx *ctx);
void xrepl_set_log_fn(struct xrepl_ctx *ctx, xrepl_log_fn fn, void *data);
int xrepl_get_log_priority(const struct xrepl_ctx *ctx);
void xrepl_set_log_priority(struct xrepl_ctx *ctx, int priority);

const char *xrepl_version(void);

struct xrepl_xen_version {
	unsigned int major;
	unsigned int minor;
	char extra[16];
};

/*
 * Asks the hypervisor for its version. Fails with -ENOENT (and a log line
 * naming the missing file) outside a Xen control domain.
 */
int xrepl_xen_version(struct xrepl_ctx *ctx, struct xrepl_xen_version *ver);

/*
 * Checkpoint stream parser: xl's save header (optional), the libxl v2
 * stream and the libxc stream inline in it, across checkpoints. Input may
 * come in chunks of any size. Everything but the contents of data pages is
 * handed to ->bytes in stream order; each data page goes to ->page.
 */
struct xrepl_stream;

enum xrepl_stream_layer {
	XREPL_LAYER_LIBXL,
	XREPL_LAYER_LIBXC,
};

/* Each returns 0, or a negative errno that stops the parser. */
struct xrepl_stream_ops {
	int (*bytes)(void *data, const void *buf, size_t len);
	int (*page)(void *data, uint64_t pfn, unsigned int type,
		    const void *page);
	/* a record header has been read (offset of the header); optional */
	int (*record)(void *data, enum xrepl_stream_layer layer, uint32_t type,
		      uint32_t length, uint64_t offset);
	/* checkpoint n (counting from 1) is complete; optional */
	int (*checkpoint)(void *data, unsigned int n);
};

struct xrepl_stream *xrepl_stream_new(struct xrepl_ctx *ctx,
				      const struct xrepl_stream_ops *ops,
				      void *data);
void xrepl_stream_free(struct xrepl_stream *s);
/* 0, or a negative errno once the stream is invalid (see _strerror) */
int xrepl_stream_feed(struct xrepl_stream *s, const void *buf, size_t len);
/*
 * End of input: 0 when the stream ended with libxl's END record, -EPIPE
 * when it was cut ("N complete checkpoints, then truncated ..."), or the
 * error that stopped it.
 */
int xrepl_stream_finish(struct xrepl_stream *s);
unsigned int xrepl_stream_checkpoints(const struct xrepl_stream *s);
uint64_t xrepl_stream_offset(const struct xrepl_stream *s);
/* bytes up to the end of the last complete checkpoint */
uint64_t xrepl_stream_checkpoint_offset(const struct xrepl_stream *s);
const char *xrepl_stream_strerror(const struct xrepl_stream *s);
/*
 * What the stream needs next: 0 with *pfn set when it is at the start of a
 * data page, else the number of bytes before anything else can follow.
 */
size_t xrepl_stream_next(const struct xrepl_stream *s, uint64_t *pfn);

/*
 * Page-delta codec. The encoder turns stream bytes into frames: data pages
 * become unchanged / zero / XBZRLE delta / raw against a pfn-keyed page
 * cache, everything else passes verbatim, and frames are LZ4-compressed.
 * The decoder turns frames back into the identical stream bytes. Each
 * checkpoint ends on a frame boundary.
 */
enum xrepl_compress {
	XREPL_COMPRESS_NONE,
	XREPL_COMPRESS_LZ4,
	XREPL_COMPRESS_XBZRLE,
	XREPL_COMPRESS_XBZRLE_LZ4,
};

int xrepl_compress_parse(const char *name, enum xrepl_compress *mode);
const char *xrepl_compress_name(enum xrepl_compress mode);

enum xrepl_page_kind {
	XREPL_PAGE_UNCHANGED, /* byte-identical to the cached copy */
	XREPL_PAGE_ZERO,
	XREPL_PAGE_XBZRLE, /* delta against the cached copy */
	XREPL_PAGE_ZDELTA, /* first seen: delta against a zero page */
	XREPL_PAGE_RAW,
	XREPL_PAGE_KINDS,
};

const char *xrepl_page_kind_name(enum xrepl_page_kind kind);

#define XREPL_CACHE_BYTES_DEFAULT (256ull << 20)

struct xrepl_codec_opts {
	enum xrepl_compress compress;
	/* encoder: the page cache; decoder: the largest a peer may ask for */
	uint64_t cache_bytes;
};

struct xrepl_codec_stats {
	uint64_t stream_bytes; /* stream in (encoder) or out (decoder) */
	uint64_t wire_bytes; /* frames out (encoder) or in (decoder) */
	uint64_t page_bytes; /* of stream_bytes, data page contents */
	uint64_t pages[XREPL_PAGE_KINDS];
	uint64_t overflows; /* deltas longer than the page, sent raw */
	uint64_t cache_lookups;
	uint64_t cache_hits;
	uint64_t frames;
	unsigned int checkpoints;
};

/* Receives frames (encoder) or stream bytes (decoder); 0 or -errno. */
typedef int (*xrepl_write_fn)(void *data, const void *buf, size_t len);

struct xrepl_encoder;
struct xrepl_encoder *xrepl_encoder_new(struct xrepl_ctx *ctx,
					const struct xrepl_codec_opts *opts,
					xrepl_write_fn write, void *data);
void xrepl_encoder_free(struct xrepl_encoder *enc);
int xrepl_encoder_feed(struct xrepl_encoder *enc, const void *buf, size_t len);
/* Sends what is pending as a frame. */
int xrepl_encoder_flush(struct xrepl_encoder *enc);
void xrepl_encoder_stats(const struct xrepl_encoder *enc,
			 struct xrepl_codec_stats *stats);
const struct xrepl_stream *
xrepl_encoder_stream(const struct xrepl_encoder *enc);

struct xrepl_decoder;
struct xrepl_decoder *xrepl_decoder_new(struct xrepl_ctx *ctx,
					const struct xrepl_codec_opts *opts,
					xrepl_write_fn write, void *data);
void xrepl_decoder_free(struct xrepl_decoder *dec);
/* Frames in chunks of any size; -EINVAL (logged) on malformed input. */
int xrepl_decoder_feed(struct xrepl_decoder *dec, const void *buf, size_t len);
void xrepl_decoder_stats(const struct xrepl_decoder *dec,
			 struct xrepl_codec_stats *stats);
const struct xrepl_stream *
xrepl_decoder_stream(const struct xrepl_decoder *dec);
const char *xrepl_decoder_strerror(const struct xrepl_decoder *dec);

/*
 * One page's XBZRLE delta, as the encoder makes it: the length (0 for an
 * identical page), or -1 when it would not fit in dlen.
 */
int xrepl_xbzrle_encode(const void *old, const void *new, void *dst,
			size_t dlen);
/* The instruction set the encoder uses: avx512bw, avx2 or scalar. */
const char *xrepl_xbzrle_isa(void);

/*
 * Pre-shared keys: 32 random bytes, kept as 64 hex digits and a newline in
 * a file of mode 0600 (xrepl genkey).
 */
#define XREPL_KEY_LEN 32
int xrepl_key_generate(uint8_t key[XREPL_KEY_LEN]);
int xrepl_key_save(struct xrepl_ctx *ctx, const char *path,
		   const uint8_t key[XREPL_KEY_LEN]);
int xrepl_key_load(struct xrepl_ctx *ctx, const char *path,
		   uint8_t key[XREPL_KEY_LEN]);

/*
 * The channel's credentials, for TLS 1.3 (OpenSSL): the pre-shared key as
 * an external PSK, or X.509 certificates both ways under one CA. One object
 * serves every connection of a process, on either side; -EACCES, -EPROTO
 * and the log say why a peer is refused (wrong key, a certificate that
 * does not verify and why, a peer that does not speak TLS 1.3).
 */
struct xrepl_tls_opts {
	const uint8_t *key; /* XREPL_KEY_LEN bytes: PSK */
	const char *cert; /* or X.509: this host's certificate chain (PEM) */
	const char *cert_key; /* its private key (PEM, mode 0600) */
	const char *ca; /* the CA certificate(s) the peer's must chain to */
	/* a primary's: the name (DNS or IP) the backup's certificate carries */
	const char *peer_name;
};
struct xrepl_tls;
struct xrepl_tls *xrepl_tls_new(struct xrepl_ctx *ctx,
				const struct xrepl_tls_opts *o);
void xrepl_tls_free(struct xrepl_tls *t);

/*
 * The wire protocol: framed messages inside TLS 1.3, opened by a protocol
 * version check. Every field read from the peer is bounds-checked; a
 * malformed frame is an -EPROTO error whose text (xrepl_wire_strerror)
 * names the frame and the byte offset, and a record that fails TLS's
 * integrity check is -EBADMSG: either ends the connection.
 */
enum xrepl_frame_type {
	XREPL_FRAME_HELLO = 1, /* u32 protocol version */
	/* 2 and 3: the HMAC handshake of protocol 3 and before */
	XREPL_FRAME_ACCEPT = 4, /* u32 protocol version */
	XREPL_FRAME_CONFIG, /* the domain's config, libxl JSON */
	XREPL_FRAME_STREAM, /* codec frames */
	XREPL_FRAME_EPOCH_END, /* u64: checkpoint N is wholly sent */
	XREPL_FRAME_ACK, /* u64: checkpoint N is wholly held */
	XREPL_FRAME_HEARTBEAT, /* u64: sender's clock, ms */
	XREPL_FRAME_BYE, /* text: the handshake or the config is refused */
	XREPL_FRAME_DISK, /* u8 n, n bytes of vdev, its blkrepl records */
	XREPL_FRAME_DISK_STATE, /* per replica: u8 n, vdev, u64 resync id */
	XREPL_FRAME_STOP, /* u8 enum xrepl_stop, printable text: why */
	/* u8 n, vdev, u64 first chunk, SHA-256 digests of chunks from it */
	XREPL_FRAME_DISK_HASHES,
};

/*
 * Why one side ends protection, in a STOP frame. Every stop the primary
 * decides on is one of the first six or MOVED, and the backup answers it
 * with CONFIRM once its copy is destroyed: only then may the primary release
 * output the backup never acknowledged. A backup that stops says FAULT or
 * TERMINATED; it will not run the guest either. RESURRECT and SWITCHOVER
 * have the backup run the guest; it answers SWITCHOVER with RUNNING once
 * the guest runs there, or FAULT.
 */
enum xrepl_stop {
	XREPL_STOP_UNPROTECT = 1, /* the admin ended protection */
	XREPL_STOP_FAULT, /* an error on the sender's side (the text says) */
	XREPL_STOP_SHUTDOWN, /* the guest shut down or powered off */
	XREPL_STOP_DESTROYED, /* the guest was destroyed (or moved away) */
	XREPL_STOP_CRASH, /* the guest crashed */
	XREPL_STOP_REBOOT, /* the guest reboots: a new domain will follow */
	XREPL_STOP_TERMINATED, /* the sender's process was told to stop */
	XREPL_STOP_CONFIRM, /* the backup's copy is gone and will not run */
	/*
	 * the guest crashed, its domain here goes, and the admin asked for it
	 * to run on from the last checkpoint (--failover-on-crash)
	 */
	XREPL_STOP_RESURRECT,
	XREPL_STOP_MOVED, /* xl save or xl migrate takes the guest away */
	/*
	 * a planned switchover: the backup runs the guest from the last
	 * checkpoint, which the primary holds suspended; the text is a
	 * struct xrepl_switchover
	 */
	XREPL_STOP_SWITCHOVER,
	XREPL_STOP_RUNNING, /* the backup's answer: the guest runs there */
};

#define XREPL_WIRE_STREAM_MAX (2u << 20)
#define XREPL_VDEV_MAX 32
#define XREPL_DISK_STATE_MAX 16384
#define XREPL_DISK_HASH_LEN 32
#define XREPL_DISK_HASHES_PER_FRAME 4096

struct xrepl_frame {
	unsigned int type;
	uint32_t len;
	const uint8_t *payload; /* valid until the next receive */
};

struct xrepl_wire;
/* TLS may be NULL for a wire that only parses (xrepl_wire_parse). */
struct xrepl_wire *xrepl_wire_new(struct xrepl_ctx *ctx, int in, int out,
				  struct xrepl_tls *tls);
void xrepl_wire_free(struct xrepl_wire *w);
/* The primary's side of the handshake; 0 once both sides are proven. */
int xrepl_wire_connect(struct xrepl_wire *w, int timeout_ms);
/* The backup's side; a peer of another protocol version gets a BYE. */
int xrepl_wire_accept(struct xrepl_wire *w, int timeout_ms);
/* Sends fail (-ETIMEDOUT) after this long without progress (-1: never). */
void xrepl_wire_set_send_timeout(struct xrepl_wire *w, int timeout_ms);
int xrepl_wire_send(struct xrepl_wire *w, unsigned int type,
		    const void *payload, size_t len);
/* A frame whose payload is one little-endian u64 (EPOCH_END, ACK...). */
int xrepl_wire_send_u64(struct xrepl_wire *w, unsigned int type, uint64_t v);
/* A disk's replication records, in as many DISK frames as they need. */
int xrepl_wire_send_disk(struct xrepl_wire *w, const char *vdev,
			 const void *buf, size_t len);
/* A DISK frame's parts; -EPROTO (with the reason in *why) if malformed. */
int xrepl_disk_frame_parse(const struct xrepl_frame *f,
			   char vdev[XREPL_VDEV_MAX + 1], const uint8_t **data,
			   size_t *len, const char **why);
/*
 * A DISK_STATE frame's entries, from *POS (0 to start): 1 with the next one,
 * 0 after the last, -EPROTO (with *why) if malformed.
 */
int xrepl_disk_state_next(const struct xrepl_frame *f, size_t *pos,
			  char vdev[XREPL_VDEV_MAX + 1], uint64_t *resync_id,
			  const char **why);
/*
 * A replica's chunk digests (N of them, XREPL_DISK_HASH_LEN bytes each,
 * from chunk FIRST) in as many DISK_HASHES frames as they need, for a
 * checksum resync.
 */
int xrepl_wire_send_disk_hashes(struct xrepl_wire *w, const char *vdev,
				uint64_t first, const uint8_t *hashes,
				size_t n);
/* A DISK_HASHES frame's parts; -EPROTO (with *why) if malformed. */
int xrepl_disk_hashes_parse(const struct xrepl_frame *f,
			    char vdev[XREPL_VDEV_MAX + 1], uint64_t *first,
			    const uint8_t **hashes, size_t *n,
			    const char **why);
/* A STOP frame: REASON and TEXT (printable ASCII, at most 255 bytes). */
int xrepl_wire_send_stop(struct xrepl_wire *w, enum xrepl_stop reason,
			 const char *text);
/*
 * A STOP frame's parts (*text is not NUL-terminated); -EPROTO (with the
 * reason in *why) if malformed.
 */
int xrepl_stop_parse(const struct xrepl_frame *f, enum xrepl_stop *reason,
		     const char **text, size_t *len, const char **why);
/*
 * What the backup protects a guest handed over to it back to the old
 * primary's host with: its `xrepl receive --listen' port and protect's
 * options.
 */
#define XREPL_SWITCHOVER_ADAPTIVE 1u
#define XREPL_SWITCHOVER_NO_NETBUF 2u
#define XREPL_SWITCHOVER_NO_DISK 4u
#define XREPL_SWITCHOVER_CRASH_FAILOVER 8u
struct xrepl_switchover {
	uint16_t port;
	unsigned int interval_ms;
	unsigned int timeout_ms;
	unsigned int flags; /* XREPL_SWITCHOVER_* */
};

/* As a STOP SWITCHOVER's text; -ENOSPC if LEN is too short. */
int xrepl_switchover_format(const struct xrepl_switchover *s, char *text,
			    size_t len);
/* From a STOP's text; -EPROTO (with *why) unless exactly as formatted. */
int xrepl_switchover_parse(const char *text, size_t len,
			   struct xrepl_switchover *s, const char **why);
/* "unprotect", "fault", "shutdown"... or "unknown". */
const char *xrepl_stop_name(unsigned int reason);
/* 1 with *frame set, or a negative errno (-ETIMEDOUT, -EPIPE, -EPROTO). */
int xrepl_wire_recv(struct xrepl_wire *w, struct xrepl_frame *frame,
		    int timeout_ms);
/*
 * Frames from bytes already read: 1 with *frame set once one is complete
 * (*used bytes consumed), 0 when more bytes are needed, -EPROTO.
 */
int xrepl_wire_parse(struct xrepl_wire *w, const void *buf, size_t len,
		     size_t *used, struct xrepl_frame *frame);
void xrepl_wire_counters(const struct xrepl_wire *w, uint64_t *in,
			 uint64_t *out);
const char *xrepl_wire_strerror(const struct xrepl_wire *w);
/* The TLS ciphersuite in use once connected, else "none". */
const char *xrepl_wire_cipher(const struct xrepl_wire *w);
/* 1 when the kernel encrypts what this side sends (XREPL_TLS_KTLS=1) */
int xrepl_wire_kernel_tls(const struct xrepl_wire *w);
const char *xrepl_frame_type_name(unsigned int type);

/*
 * What commits an epoch's side effects: netbuf and blkrepl plug in here.
 * start() runs once the domain is known, before anything is sent (< 0
 * refuses to protect); backup_disk() for each replica the backup has (a
 * disk's virtual device and the id its replica was last committed under,
 * or 0), before the first checkpoint; suspend(N) as epoch N's checkpoint
 * starts (its
 * output is held from here on); suspended(N) once the guest is suspended
 * (every write it saw complete belongs to epoch N); send(N) in the sender
 * thread just before checkpoint N's EPOCH_END, to send what else epoch N
 * needs on W (NULL with --blackhole); send_early(N), in the same thread
 * between the stream's frames, may send what epoch N has so far (a first
 * sync of a large disk goes out as it is read); commit(N) once the backup has
 * acknowledged checkpoint N; abandon() when protection stops (RELEASE:
 * let out everything held; 0: drop it, the backup may run the guest from
 * an earlier checkpoint). A suspend, suspended, send or commit that fails stops
 * protection. report() adds members (", \"key\": value") to the status
 * JSON object. Any may be NULL.
 */
struct xrepl_epoch_hooks {
	int (*start)(void *data, uint32_t domid);
	int (*backup_disk)(void *data, const char *vdev, uint64_t resync_id);
	int (*backup_disk_hashes)(void *data, const char *vdev, uint64_t first,
				  const uint8_t *hashes, size_t n);
	int (*suspend)(void *data, uint64_t epoch);
	int (*suspended)(void *data, uint64_t epoch);
	int (*send)(void *data, uint64_t epoch, struct xrepl_wire *w);
	int (*send_early)(void *data, uint64_t epoch, struct xrepl_wire *w);
	int (*commit)(void *data, uint64_t epoch);
	void (*abandon)(void *data, int release);
	void (*report)(void *data, FILE *f);
	void *data;
};

/*
 * What keeps a lost peer from becoming split brain: asked by the primary
 * when its backup is lost, and by the backup when its primary is (not
 * when the admin asks for the failover). Each blocks until it knows: 1
 * yes, 0 no (WHY says why), and decides "no" whenever in doubt. NULL:
 * nothing does, and both sides say so.
 *
 * may_run_on: whether the guest may run on here, its held output let out;
 *     0 pauses the guest and drops that output.
 * may_promote: whether the copy here may run the guest; 0 destroys it.
 */
struct xrepl_arbiter {
	const char *name; /* in the status: "split_brain_guard" */
	int (*may_run_on)(void *data, char *why, size_t len);
	int (*may_promote)(void *data, char *why, size_t len);
	void *data;
};

struct xrepl_protect_opts {
	const char *domain;
	int in; /* the connection to the backup, already open */
	int out;
	struct xrepl_tls *tls;
	unsigned int interval_ms;
	int adaptive; /* the interval follows the dirty rate, interval/4..x4 */
	unsigned int timeout_ms; /* heartbeat: silence this long = lost */
	enum xrepl_compress compress;
	uint64_t cache_bytes;
	const char *status_file; /* JSON, rewritten every epoch; or NULL */
	const struct xrepl_epoch_hooks *hooks; /* n_hooks of them, in order */
	size_t n_hooks;
	volatile int *stop; /* set (by a signal) to stop cleanly */
	int blackhole; /* no backup: checkpoints are encoded and dropped */
	/*
	 * a crash has the backup run the guest from its last checkpoint
	 * (RESURRECT) and destroys the domain here, instead of its on_crash
	 */
	int failover_on_crash;
	/*
	 * out, if set: why protection ended (0: the backup lost or stopped);
	 * REBOOT only when the guest was started again (its on_reboot)
	 */
	enum xrepl_stop *ended;
	/*
	 * out, if set: 1 when the backup was lost, or its receiver was
	 * stopped (a restart): it may take the guest again
	 */
	int *backup_gone;
	/*
	 * set (by a signal) to hand the guest over to the backup at the next
	 * checkpoint (a planned switchover), which protects it back with
	 * *back; the domain here is destroyed once the backup runs it
	 */
	volatile int *switch_over;
	const struct xrepl_switchover *back;
	const struct xrepl_arbiter *arbiter;
};

/*
 * Protects a running PVH guest until *stop is set or the guest shuts down,
 * reboots, crashes or is destroyed (0, with the reason in *ended), it is
 * handed over to the backup (*switch_over: 0 and SWITCHOVER once the
 * backup runs it, -EIO if that did not happen), the backup is lost or
 * stops (-ENOTCONN; the guest keeps running), the backup is lost and the
 * arbiter says no (-EHOSTUNREACH; the guest is paused), or a fault (-EIO).
 * Every reason is logged; see primary.c for what happens to the output
 * held at the end.
 */
int xrepl_protect(struct xrepl_ctx *ctx, const struct xrepl_protect_opts *o);

/*
 * 1 with *domid set if a domain named NAME exists and has not shut down
 * (paused counts as running), 0 if not, < 0 if libxl cannot be opened.
 */
int xrepl_domain_running(struct xrepl_ctx *ctx, const char *name,
			 uint32_t *domid);

/*
 * Resumes DOMID if a checkpoint left it suspended (its primary was killed):
 * 1 if it runs again, 0 if it was not suspended, < 0 if it does not resume.
 */
int xrepl_resume_suspended(struct xrepl_ctx *ctx, uint32_t domid);

/*
 * The backup's side of the hooks. disk() names each of the guest's disks on
 * block-xrepl (script=block-xrepl) and the path its replica is at here,
 * before anything else arrives, and sets *resync_id to the id the replica
 * was last committed under (0: it needs a full sync), which the primary is
 * told; disk_data() gets the records a DISK frame
 * carries; commit(N) runs when checkpoint N is complete, before it goes to
 * libxl (a failure stops the backup); end() when reception ends, before the
 * domain is resumed at a failover (FAILOVER set: drop what is not
 * committed). report() as for the primary. Any may be NULL.
 */
struct xrepl_receive_hooks {
	int (*disk)(void *data, const char *vdev, const char *path,
		    uint64_t *resync_id);
	int (*disk_hashes)(void *data, const char *vdev,
			   int (*send)(void *arg, const char *vdev,
				       uint64_t first, const uint8_t *hashes,
				       size_t n),
			   void *arg);
	int (*disk_data)(void *data, const char *vdev, const void *buf,
			 size_t len);
	int (*commit)(void *data, uint64_t epoch);
	void (*end)(void *data, int failover);
	void (*report)(void *data, FILE *f);
	void *data;
};

struct xrepl_receive_opts {
	int in; /* the connection from the primary, already open */
	int out;
	struct xrepl_tls *tls;
	unsigned int timeout_ms;
	uint64_t cache_bytes; /* the largest page cache a primary may ask for */
	const char *run_dir; /* status and pid files: <run_dir>/<domain>.* */
	volatile int *failover; /* set (by a signal) to fail over now */
	/* set (by a signal) to stop: the copy is destroyed, the primary told */
	volatile int *stop;
	/*
	 * "FROM=TO", NULL-terminated: a disk the primary has at FROM is at TO
	 * here (a backup on the same host, or other storage paths)
	 */
	const char *const *disk_map;
	/*
	 * where a replica may be that --disk-map does not name: under this
	 * folder (NULL: /var/lib/xrepl); anywhere else is refused
	 */
	const char *replica_dir;
	const struct xrepl_receive_hooks *hooks;
	/* "<unix time> ack N" just before each ACK is sent, or NULL */
	FILE *ack_trace;
	/*
	 * out, if set: the primary handed its guest over (the port is not 0
	 * then), and the guest runs here as DOMAIN, to be protected back
	 */
	struct xrepl_switchover *switched;
	char *domain;
	size_t domain_len;
	const struct xrepl_arbiter *arbiter;
};

/*
 * Receives a protected guest: the backup domain is built paused from the
 * complete checkpoints; when the primary is lost (or *failover is set) it
 * resumes under the guest's own name from the last complete checkpoint.
 * Returns 0 after a failover, a STOP from the primary or *stop, negative
 * on errors (the primary is told why).
 */
int xrepl_receive(struct xrepl_ctx *ctx, const struct xrepl_receive_opts *o);

#ifdef __cplusplus
}
#endif
#endif
