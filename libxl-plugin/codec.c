// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The page-delta codec: stream bytes <-> frames.
 *
 * Both sides run the stream parser. The encoder's parser splits its input
 * into verbatim bytes and data pages; verbatim bytes are copied into the
 * frame, each page is replaced by an item (a kind byte, then a delta or
 * the raw page). The decoder's parser runs over the stream it rebuilds and
 * so always knows whether the next bytes of a frame are verbatim or a page
 * item, and for which pfn: no lengths or pfns travel twice.
 *
 * Frame: u8 type, u8 flags, u16 zero, u32 raw length, u32 stored length
 * (little-endian), then the payload, LZ4-compressed when flags say so.
 * The first frame (HELLO) carries the page cache size the decoder must use.
 */
#include <endian.h>
#include <errno.h>
#include <lz4.h>
#include <lz4hc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libxrepl-private.h"
#include "page_cache.h"
#include "stream.h"
#include "xbzrle.h"

#define FRAME_HDR 12
#define FRAME_HELLO 1
#define FRAME_DATA 2
#define FRAME_LZ4 0x01
#define HELLO_LEN 16
#define CODEC_VERSION 1
/*
 * LZ4 gains from larger blocks (measured on the corpus: 64 KiB x19.2,
 * 256 KiB x19.8 after the first checkpoint); the decoder accepts up to
 * FRAME_RAW_MAX.
 */
#define FRAME_TARGET (256u << 10)
/*
 * After the first checkpoint a frame is mostly XBZRLE deltas, a few hundred
 * KiB per checkpoint: LZ4HC level 4 costs a few ms there and gains a fifth
 * (compile x19.8 -> x24.1). The first checkpoint (all of memory) stays on
 * fast LZ4.
 */
#define LZ4HC_LEVEL 4
#define FRAME_RAW_MAX (1u << 20)
/* the largest page item: kind + raw page */
#define ITEM_MAX (1 + XBZRLE_PAGE)
#define DELTA_MAX (XBZRLE_PAGE - 3)

static const char *const compress_names[] = {
	[XREPL_COMPRESS_NONE] = "none",
	[XREPL_COMPRESS_LZ4] = "lz4",
	[XREPL_COMPRESS_XBZRLE] = "xbzrle",
	[XREPL_COMPRESS_XBZRLE_LZ4] = "xbzrle+lz4",
};

static const char *const kind_names[] = {
	[XREPL_PAGE_UNCHANGED] = "unchanged",
	[XREPL_PAGE_ZERO] = "zero",
	[XREPL_PAGE_XBZRLE] = "xbzrle",
	[XREPL_PAGE_ZDELTA] = "zdelta",
	[XREPL_PAGE_RAW] = "raw",
};

static const uint8_t zero_page[XBZRLE_PAGE];

XREPL_EXPORT int xrepl_compress_parse(const char *name,
				      enum xrepl_compress *mode)
{
	size_t i;

	for (i = 0; i < sizeof(compress_names) / sizeof(compress_names[0]);
	     i++) {
		if (!strcmp(name, compress_names[i])) {
			*mode = (enum xrepl_compress)i;
			return 0;
		}
	}
	return -EINVAL;
}

XREPL_EXPORT const char *xrepl_compress_name(enum xrepl_compress mode)
{
	if ((unsigned int)mode >=
	    sizeof(compress_names) / sizeof(compress_names[0]))
		return "unknown";
	return compress_names[mode];
}

XREPL_EXPORT const char *xrepl_page_kind_name(enum xrepl_page_kind kind)
{
	if ((unsigned int)kind >= XREPL_PAGE_KINDS)
		return "unknown";
	return kind_names[kind];
}

static int uses_xbzrle(enum xrepl_compress mode)
{
	return mode == XREPL_COMPRESS_XBZRLE ||
	       mode == XREPL_COMPRESS_XBZRLE_LZ4;
}

static int uses_lz4(enum xrepl_compress mode)
{
	return mode == XREPL_COMPRESS_LZ4 || mode == XREPL_COMPRESS_XBZRLE_LZ4;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static void fill_stats(struct xrepl_codec_stats *out,
		       const struct xrepl_codec_stats *in,
		       const struct page_cache *cache,
		       const struct xrepl_stream *s)
{
	*out = *in;
	out->cache_lookups = cache->lookups;
	out->cache_hits = cache->hits;
	out->checkpoints = xrepl_stream_checkpoints(s);
}

/* ------------------------------------------------------------ encoder */

struct xrepl_encoder {
	struct xrepl_ctx *ctx;
	struct xrepl_codec_opts opts;
	struct xrepl_stream *stream;
	struct page_cache cache;
	page_diff_fn diff;
	xrepl_write_fn write;
	void *data;
	struct xrepl_codec_stats stats;
	size_t len;
	uint8_t *buf; /* FRAME_HDR headroom + FRAME_TARGET + ITEM_MAX */
	uint8_t *frame; /* FRAME_HDR + LZ4 bound */
	void *hc_state;
	int hello_sent;
};

static int emit_frame(struct xrepl_encoder *enc, uint8_t type,
		      const uint8_t *payload, uint32_t raw_len)
{
	uint32_t stored = raw_len;
	uint8_t flags = 0;
	int z, r;

	if (uses_lz4(enc->opts.compress) && type == FRAME_DATA) {
		if (xrepl_stream_checkpoints(enc->stream))
			z = LZ4_compress_HC_extStateHC(
				enc->hc_state, (const char *)payload,
				(char *)enc->frame + FRAME_HDR, (int)raw_len,
				LZ4_compressBound(FRAME_RAW_MAX), LZ4HC_LEVEL);
		else
			z = LZ4_compress_default(
				(const char *)payload,
				(char *)enc->frame + FRAME_HDR, (int)raw_len,
				LZ4_compressBound(FRAME_RAW_MAX));
		if (z > 0 && (uint32_t)z < raw_len) {
			flags = FRAME_LZ4;
			stored = (uint32_t)z;
			payload = enc->frame + FRAME_HDR;
		}
	}
	if (!flags)
		memcpy(enc->frame + FRAME_HDR, payload, raw_len);
	enc->frame[0] = type;
	enc->frame[1] = flags;
	enc->frame[2] = 0;
	enc->frame[3] = 0;
	put_le32(enc->frame + 4, raw_len);
	put_le32(enc->frame + 8, stored);
	r = enc->write(enc->data, enc->frame, FRAME_HDR + stored);
	if (r < 0)
		return r;
	enc->stats.wire_bytes += FRAME_HDR + stored;
	enc->stats.frames++;
	return 0;
}

static int send_hello(struct xrepl_encoder *enc)
{
	uint8_t hello[HELLO_LEN];
	uint64_t slots = uses_xbzrle(enc->opts.compress) ?
				 page_cache_slots(&enc->cache) :
				 0;

	put_le32(hello, CODEC_VERSION);
	put_le32(hello + 4, enc->opts.compress);
	put_le32(hello + 8, (uint32_t)slots);
	put_le32(hello + 12, (uint32_t)(slots >> 32));
	enc->hello_sent = 1;
	return emit_frame(enc, FRAME_HELLO, hello, HELLO_LEN);
}

XREPL_EXPORT int xrepl_encoder_flush(struct xrepl_encoder *enc)
{
	int r;

	if (!enc->hello_sent) {
		r = send_hello(enc);
		if (r < 0)
			return r;
	}
	if (!enc->len)
		return 0;
	r = emit_frame(enc, FRAME_DATA, enc->buf, (uint32_t)enc->len);
	enc->len = 0;
	return r;
}

static int enc_bytes(void *data, const void *buf, size_t len)
{
	struct xrepl_encoder *enc = data;
	const uint8_t *p = buf;
	size_t n;
	int r;

	while (len) {
		if (enc->len == FRAME_TARGET) {
			r = xrepl_encoder_flush(enc);
			if (r < 0)
				return r;
		}
		n = FRAME_TARGET - enc->len < len ? FRAME_TARGET - enc->len :
						    len;
		memcpy(enc->buf + enc->len, p, n);
		enc->len += n;
		p += n;
		len -= n;
	}
	return 0;
}

/* Appends one item; returns its kind. */
static enum xrepl_page_kind encode_page(struct xrepl_encoder *enc, uint64_t pfn,
					const uint8_t *page)
{
	uint8_t *out = enc->buf + enc->len;
	const uint8_t *old = page_cache_lookup(&enc->cache, pfn);
	enum xrepl_page_kind kind;
	struct page_diff d;
	int n;

	/* PAGE_DATA batches mostly run through consecutive pfns */
	enc->diff(old ? old : zero_page, page, &d,
		  page_cache_peek(&enc->cache, pfn + 1), page + XBZRLE_PAGE);
	if (old && d.identical) {
		out[0] = XREPL_PAGE_UNCHANGED;
		enc->len += 1;
		return XREPL_PAGE_UNCHANGED;
	}
	if (d.new_is_zero) {
		out[0] = XREPL_PAGE_ZERO;
		enc->len += 1;
		memset(page_cache_claim(&enc->cache, pfn), 0, XBZRLE_PAGE);
		return XREPL_PAGE_ZERO;
	}
	kind = old ? XREPL_PAGE_XBZRLE : XREPL_PAGE_ZDELTA;
	n = xbzrle_encode(&d, page, out + 3, DELTA_MAX);
	if (n < 0) {
		enc->stats.overflows += old != NULL;
		out[0] = XREPL_PAGE_RAW;
		memcpy(out + 1, page, XBZRLE_PAGE);
		enc->len += 1 + XBZRLE_PAGE;
		kind = XREPL_PAGE_RAW;
	} else {
		out[0] = (uint8_t)kind;
		out[1] = (uint8_t)n;
		out[2] = (uint8_t)(n >> 8);
		enc->len += 3 + (size_t)n;
	}
	memcpy(page_cache_claim(&enc->cache, pfn), page, XBZRLE_PAGE);
	return kind;
}

static int enc_page(void *data, uint64_t pfn, unsigned int type,
		    const void *page)
{
	struct xrepl_encoder *enc = data;
	enum xrepl_page_kind kind;
	int r;

	enc->stats.page_bytes += XBZRLE_PAGE;
	if (!uses_xbzrle(enc->opts.compress)) {
		enc->stats.pages[XREPL_PAGE_RAW]++;
		return enc_bytes(enc, page, XBZRLE_PAGE);
	}
	if (enc->len + ITEM_MAX > FRAME_TARGET) {
		r = xrepl_encoder_flush(enc);
		if (r < 0)
			return r;
	}
	kind = encode_page(enc, pfn, page);
	enc->stats.pages[kind]++;
	return 0;
}

/* A checkpoint always ends a frame: the backup must hold all of it. */
static int enc_checkpoint(void *data, unsigned int n)
{
	return xrepl_encoder_flush(data);
}

static const struct xrepl_stream_ops enc_ops = {
	.bytes = enc_bytes,
	.page = enc_page,
	.checkpoint = enc_checkpoint,
};

XREPL_EXPORT int xrepl_encoder_feed(struct xrepl_encoder *enc, const void *buf,
				    size_t len)
{
	int r;

	enc->stats.stream_bytes += len;
	r = xrepl_stream_feed(enc->stream, buf, len);
	if (r < 0)
		return r;
	/* libxl's END: nothing follows, send the rest now */
	if (xrepl_stream_next(enc->stream, &(uint64_t){ 0 }) == SIZE_MAX)
		return xrepl_encoder_flush(enc);
	return 0;
}

XREPL_EXPORT struct xrepl_encoder *
xrepl_encoder_new(struct xrepl_ctx *ctx, const struct xrepl_codec_opts *opts,
		  xrepl_write_fn write, void *data)
{
	struct xrepl_encoder *enc = calloc(1, sizeof(*enc));
	uint64_t cache_bytes = opts->cache_bytes;

	if (!enc)
		return NULL;
	enc->ctx = xrepl_ref(ctx);
	enc->opts = *opts;
	enc->write = write;
	enc->data = data;
	enc->diff = page_diff_select(NULL);
	if (!uses_xbzrle(opts->compress))
		cache_bytes = 0;
	enc->stream = xrepl_stream_new(ctx, &enc_ops, enc);
	enc->buf = malloc(FRAME_TARGET + ITEM_MAX);
	enc->frame = malloc(FRAME_HDR + LZ4_compressBound(FRAME_RAW_MAX));
	enc->hc_state = malloc((size_t)LZ4_sizeofStateHC());
	if (enc->stream && enc->buf && enc->frame && enc->hc_state &&
	    page_cache_init(&enc->cache, cache_bytes) == 0)
		return enc;
	err(ctx, "out of memory for an encoder with a %llu MiB page cache",
	    (unsigned long long)(cache_bytes >> 20));
	xrepl_encoder_free(enc);
	return NULL;
}

XREPL_EXPORT void xrepl_encoder_free(struct xrepl_encoder *enc)
{
	if (!enc)
		return;
	page_cache_fini(&enc->cache);
	xrepl_stream_free(enc->stream);
	free(enc->buf);
	free(enc->frame);
	free(enc->hc_state);
	xrepl_unref(enc->ctx);
	free(enc);
}

XREPL_EXPORT void xrepl_encoder_stats(const struct xrepl_encoder *enc,
				      struct xrepl_codec_stats *stats)
{
	fill_stats(stats, &enc->stats, &enc->cache, enc->stream);
}

XREPL_EXPORT const struct xrepl_stream *
xrepl_encoder_stream(const struct xrepl_encoder *enc)
{
	return enc->stream;
}

/* ------------------------------------------------------------ decoder */

struct xrepl_decoder {
	struct xrepl_ctx *ctx;
	struct xrepl_codec_opts opts;
	struct xrepl_stream *stream;
	struct page_cache cache;
	xrepl_write_fn write;
	void *data;
	struct xrepl_codec_stats stats;
	int hello_seen;
	int failed;
	uint64_t frames;
	uint8_t hdr[FRAME_HDR];
	size_t hdr_have;
	uint32_t raw_len;
	uint32_t stored_len;
	size_t have; /* payload bytes gathered */
	uint8_t *stored; /* LZ4_compressBound(FRAME_RAW_MAX) */
	uint8_t *raw; /* FRAME_RAW_MAX */
	char msg[256];
	uint8_t scratch[XBZRLE_PAGE];
};

static int vbad_frame(struct xrepl_decoder *dec, const char *fmt, va_list ap)
{
	char what[200];

	vsnprintf(what, sizeof(what), fmt, ap);
	snprintf(dec->msg, sizeof(dec->msg),
		 "frame %llu (wire offset %llu): %s",
		 (unsigned long long)dec->frames,
		 (unsigned long long)dec->stats.wire_bytes, what);
	err(dec->ctx, "invalid frame: %s", dec->msg);
	dec->failed = 1;
	return -EINVAL;
}

__attribute__((format(printf, 2, 3))) static int
bad_frame(struct xrepl_decoder *dec, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vbad_frame(dec, fmt, ap);
	va_end(ap);
	return r;
}

/* bad_frame() for decode_item(), which returns the page or NULL */
__attribute__((format(printf, 2, 3))) static const uint8_t *
bad_item(struct xrepl_decoder *dec, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vbad_frame(dec, fmt, ap);
	va_end(ap);
	return NULL;
}

static int dec_bytes(void *data, const void *buf, size_t len)
{
	struct xrepl_decoder *dec = data;

	dec->stats.stream_bytes += len;
	return dec->write(dec->data, buf, len);
}

static int dec_page(void *data, uint64_t pfn, unsigned int type,
		    const void *page)
{
	struct xrepl_decoder *dec = data;

	dec->stats.stream_bytes += XBZRLE_PAGE;
	dec->stats.page_bytes += XBZRLE_PAGE;
	return dec->write(dec->data, page, XBZRLE_PAGE);
}

static const struct xrepl_stream_ops dec_ops = {
	.bytes = dec_bytes,
	.page = dec_page,
};

static int hello(struct xrepl_decoder *dec, const uint8_t *p, uint32_t len)
{
	uint64_t slots, bytes;
	uint32_t mode;

	if (dec->hello_seen)
		return bad_frame(dec, "a second HELLO");
	if (len != HELLO_LEN)
		return bad_frame(dec, "HELLO of %u bytes, want %u", len,
				 HELLO_LEN);
	if (get_le32(p) != CODEC_VERSION)
		return bad_frame(dec, "codec version %u, want %u", get_le32(p),
				 CODEC_VERSION);
	mode = get_le32(p + 4);
	if (mode > XREPL_COMPRESS_XBZRLE_LZ4)
		return bad_frame(dec, "unknown compression %u", mode);
	slots = get_le32(p + 8) | (uint64_t)get_le32(p + 12) << 32;
	if (slots & (slots - 1))
		return bad_frame(
			dec, "page cache of %llu slots is not a power of two",
			(unsigned long long)slots);
	bytes = slots * XBZRLE_PAGE;
	if (slots > (1ull << 40) || bytes > dec->opts.cache_bytes)
		return bad_frame(
			dec,
			"the peer's page cache of %llu MiB exceeds the limit of %llu MiB",
			(unsigned long long)(slots >> 8),
			(unsigned long long)(dec->opts.cache_bytes >> 20));
	dec->opts.compress = (enum xrepl_compress)mode;
	if (slots && page_cache_init(&dec->cache, bytes) < 0)
		return bad_frame(dec, "out of memory for a %llu MiB page cache",
				 (unsigned long long)(bytes >> 20));
	dec->hello_seen = 1;
	return 0;
}

/*
 * Rebuilds the page an item describes, in the cache; NULL when the item is
 * invalid. *used is the item's length.
 */
static const uint8_t *decode_item(struct xrepl_decoder *dec, uint64_t pfn,
				  const uint8_t *p, size_t len, size_t *used)
{
	unsigned long long ull = pfn;
	const uint8_t *old;
	uint8_t *slot;
	size_t dlen;

	if (!dec->cache.tags)
		return bad_item(
			dec, "a page item, but the stream has no page cache");
	if (len < 1)
		return bad_item(
			dec,
			"pfn 0x%llx: the page item is cut by the frame end",
			ull);
	if (p[0] >= XREPL_PAGE_KINDS)
		return bad_item(dec, "pfn 0x%llx: unknown page kind %u", ull,
				p[0]);
	dec->stats.pages[p[0]]++;
	*used = 1;
	switch (p[0]) {
	case XREPL_PAGE_UNCHANGED:
		old = page_cache_lookup(&dec->cache, pfn);
		if (!old)
			return bad_item(
				dec,
				"pfn 0x%llx: unchanged, but the cache does not hold it",
				ull);
		return old;
	case XREPL_PAGE_ZERO:
		slot = page_cache_claim(&dec->cache, pfn);
		memset(slot, 0, XBZRLE_PAGE);
		return slot;
	case XREPL_PAGE_RAW:
		if (len < 1 + XBZRLE_PAGE)
			return bad_item(
				dec,
				"pfn 0x%llx: a raw page is cut by the frame end",
				ull);
		slot = page_cache_claim(&dec->cache, pfn);
		memcpy(slot, p + 1, XBZRLE_PAGE);
		*used = 1 + XBZRLE_PAGE;
		return slot;
	}
	if (len < 3)
		return bad_item(
			dec,
			"pfn 0x%llx: the delta header is cut by the frame end",
			ull);
	dlen = p[1] | (size_t)p[2] << 8;
	if (dlen > DELTA_MAX || dlen + 3 > len)
		return bad_item(dec,
				"pfn 0x%llx: a delta of %zu bytes does not fit",
				ull, dlen);
	old = p[0] == XREPL_PAGE_ZDELTA ? zero_page :
					  page_cache_lookup(&dec->cache, pfn);
	if (!old)
		return bad_item(
			dec,
			"pfn 0x%llx: a delta against a page the cache does not hold",
			ull);
	/* decode aside: a malformed delta must not touch the cache */
	memcpy(dec->scratch, old, XBZRLE_PAGE);
	if (xbzrle_decode(p + 3, dlen, dec->scratch) < 0)
		return bad_item(dec, "pfn 0x%llx: malformed XBZRLE delta", ull);
	slot = page_cache_claim(&dec->cache, pfn);
	memcpy(slot, dec->scratch, XBZRLE_PAGE);
	*used = 3 + dlen;
	return slot;
}

static int stream_failed(struct xrepl_decoder *dec)
{
	dec->failed = 1;
	snprintf(dec->msg, sizeof(dec->msg),
		 "frame %llu: the rebuilt stream is invalid: %s",
		 (unsigned long long)dec->frames,
		 xrepl_stream_strerror(dec->stream));
	return -EINVAL;
}

static int data_frame(struct xrepl_decoder *dec, const uint8_t *p, size_t len)
{
	const uint8_t *page;
	uint64_t pfn;
	size_t n;
	int r;

	if (!dec->hello_seen)
		return bad_frame(dec, "data before HELLO");
	while (len) {
		n = xrepl_stream_next(dec->stream, &pfn);
		if (n == SIZE_MAX)
			return bad_frame(
				dec, "%zu bytes after the end of the stream",
				len);
		if (n && uses_xbzrle(dec->opts.compress)) {
			n = n < len ? n : len;
			r = xrepl_stream_feed(dec->stream, p, n);
		} else if (uses_xbzrle(dec->opts.compress)) {
			page = decode_item(dec, pfn, p, len, &n);
			if (!page)
				return -EINVAL;
			r = xrepl_stream_feed(dec->stream, page, XBZRLE_PAGE);
		} else {
			n = len;
			r = xrepl_stream_feed(dec->stream, p, n);
		}
		if (r < 0)
			return dec->failed ? r : stream_failed(dec);
		p += n;
		len -= n;
	}
	return 0;
}

static int frame_header(struct xrepl_decoder *dec)
{
	uint8_t type = dec->hdr[0], flags = dec->hdr[1];

	dec->raw_len = get_le32(dec->hdr + 4);
	dec->stored_len = get_le32(dec->hdr + 8);
	if (type != FRAME_HELLO && type != FRAME_DATA)
		return bad_frame(dec, "unknown frame type %u", type);
	if (flags & ~FRAME_LZ4 || dec->hdr[2] || dec->hdr[3])
		return bad_frame(dec, "unknown flags 0x%x", flags);
	if (dec->raw_len > FRAME_RAW_MAX)
		return bad_frame(dec, "%u bytes, at most %u", dec->raw_len,
				 FRAME_RAW_MAX);
	if (flags & FRAME_LZ4 ? dec->stored_len >= dec->raw_len :
				dec->stored_len != dec->raw_len)
		return bad_frame(dec, "stored length %u for %u bytes",
				 dec->stored_len, dec->raw_len);
	return 0;
}

static int frame_payload(struct xrepl_decoder *dec)
{
	const uint8_t *payload = dec->stored;
	int n;

	if (dec->hdr[1] & FRAME_LZ4) {
		n = LZ4_decompress_safe((const char *)dec->stored,
					(char *)dec->raw, (int)dec->stored_len,
					FRAME_RAW_MAX);
		if (n < 0 || (uint32_t)n != dec->raw_len)
			return bad_frame(
				dec, "LZ4 data does not decompress to %u bytes",
				dec->raw_len);
		payload = dec->raw;
	}
	if (dec->hdr[0] == FRAME_HELLO)
		return hello(dec, payload, dec->raw_len);
	return data_frame(dec, payload, dec->raw_len);
}

XREPL_EXPORT int xrepl_decoder_feed(struct xrepl_decoder *dec, const void *buf,
				    size_t len)
{
	const uint8_t *p = buf;
	size_t n;
	int r;

	if (dec->failed)
		return -EINVAL;
	while (len) {
		if (dec->hdr_have < FRAME_HDR) {
			n = FRAME_HDR - dec->hdr_have < len ?
				    FRAME_HDR - dec->hdr_have :
				    len;
			memcpy(dec->hdr + dec->hdr_have, p, n);
			dec->hdr_have += n;
			dec->have = 0;
			if (dec->hdr_have == FRAME_HDR && frame_header(dec) < 0)
				return -EINVAL;
		} else {
			n = dec->stored_len - dec->have < len ?
				    dec->stored_len - dec->have :
				    len;
			memcpy(dec->stored + dec->have, p, n);
			dec->have += n;
		}
		p += n;
		len -= n;
		dec->stats.wire_bytes += n;
		if (dec->hdr_have < FRAME_HDR || dec->have < dec->stored_len)
			continue;
		r = frame_payload(dec);
		if (r < 0)
			return r;
		dec->frames++;
		dec->stats.frames++;
		dec->hdr_have = 0;
	}
	return 0;
}

XREPL_EXPORT struct xrepl_decoder *
xrepl_decoder_new(struct xrepl_ctx *ctx, const struct xrepl_codec_opts *opts,
		  xrepl_write_fn write, void *data)
{
	struct xrepl_decoder *dec = calloc(1, sizeof(*dec));

	if (!dec)
		return NULL;
	dec->ctx = xrepl_ref(ctx);
	dec->opts = *opts;
	dec->write = write;
	dec->data = data;
	dec->stream = xrepl_stream_new(ctx, &dec_ops, dec);
	dec->stored = malloc(LZ4_compressBound(FRAME_RAW_MAX));
	dec->raw = malloc(FRAME_RAW_MAX);
	if (dec->stream && dec->stored && dec->raw)
		return dec;
	xrepl_decoder_free(dec);
	return NULL;
}

XREPL_EXPORT void xrepl_decoder_free(struct xrepl_decoder *dec)
{
	if (!dec)
		return;
	page_cache_fini(&dec->cache);
	xrepl_stream_free(dec->stream);
	free(dec->stored);
	free(dec->raw);
	xrepl_unref(dec->ctx);
	free(dec);
}

XREPL_EXPORT void xrepl_decoder_stats(const struct xrepl_decoder *dec,
				      struct xrepl_codec_stats *stats)
{
	fill_stats(stats, &dec->stats, &dec->cache, dec->stream);
}

XREPL_EXPORT const struct xrepl_stream *
xrepl_decoder_stream(const struct xrepl_decoder *dec)
{
	return dec->stream;
}

XREPL_EXPORT const char *xrepl_decoder_strerror(const struct xrepl_decoder *dec)
{
	return dec->msg;
}

XREPL_EXPORT int xrepl_xbzrle_encode(const void *old, const void *new,
				     void *dst, size_t dlen)
{
	static page_diff_fn diff;
	struct page_diff d;

	if (!diff)
		diff = page_diff_select(NULL);
	diff(old, new, &d, old, new);
	return xbzrle_encode(&d, new, dst, dlen);
}

XREPL_EXPORT const char *xrepl_xbzrle_isa(void)
{
	const char *name;

	page_diff_select(&name);
	return name;
}
