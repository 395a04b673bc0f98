// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Incremental parser of the checkpoint stream: xl's header, the libxl v2
 * stream and the libxc stream inline in it. A checkpointed stream flips
 * between the two layers: libxc's CHECKPOINT hands over to libxl records,
 * libxl's CHECKPOINT_END back to libxc records, with no new libxc header.
 *
 * Every state either gathers a fixed-size header into s->buf or passes a
 * known number of bytes through, so a chunk may end anywhere.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libxrepl-private.h"
#include "stream.h"

enum state {
	ST_START,
	ST_XL_HDR,
	ST_XL_OPTDATA,
	ST_LIBXL_HDR,
	ST_LIBXL_REC,
	ST_LIBXL_BODY,
	ST_LIBXC_IHDR,
	ST_LIBXC_DHDR,
	ST_LIBXC_REC,
	ST_LIBXC_BODY,
	ST_PAGE_HDR,
	ST_PAGE_PFNS,
	ST_PAGE_DATA,
	ST_DONE,
	ST_ERROR,
};

struct xrepl_stream {
	struct xrepl_ctx *ctx;
	const struct xrepl_stream_ops *ops;
	void *data;
	enum state state;
	uint64_t offset;
	size_t need; /* bytes the current state gathers or passes */
	size_t have; /* bytes gathered so far */
	/* the record being read */
	enum xrepl_stream_layer layer;
	uint32_t rec_type;
	uint32_t rec_len;
	uint64_t rec_offset;
	int in_record; /* errors name the record */
	/* PAGE_DATA: pfn words and which of them is next */
	uint32_t count;
	uint32_t next_pfn;
	int libxc_started;
	unsigned int checkpoints;
	uint64_t checkpoint_offset;
	char msg[256];
	uint8_t page[PAGE_SIZE_X86];
	uint8_t buf[PAGE_BATCH_MAX * 8];
};

static const char *const libxl_names[] = {
	"END",
	"LIBXC_CONTEXT",
	"EMULATOR_XENSTORE_DATA",
	"EMULATOR_CONTEXT",
	"CHECKPOINT_END",
	"CHECKPOINT_STATE",
};

static const char *const libxc_names[] = {
	"END",
	"PAGE_DATA",
	"X86_PV_INFO",
	"X86_PV_P2M_FRAMES",
	"X86_PV_VCPU_BASIC",
	"X86_PV_VCPU_EXTENDED",
	"X86_PV_VCPU_XSAVE",
	"SHARED_INFO",
	"X86_TSC_INFO",
	"HVM_CONTEXT",
	"HVM_PARAMS",
	"TOOLSTACK",
	"X86_PV_VCPU_MSRS",
	"VERIFY",
	"CHECKPOINT",
	"CHECKPOINT_DIRTY_PFN_LIST",
	"STATIC_DATA_END",
	"X86_CPUID_POLICY",
	"X86_MSR_POLICY",
};

const char *libxl_rec_name(uint32_t type)
{
	if (type < sizeof(libxl_names) / sizeof(libxl_names[0]))
		return libxl_names[type];
	return "unknown";
}

const char *libxc_rec_name(uint32_t type)
{
	type &= ~LIBXC_REC_OPTIONAL;
	if (type < sizeof(libxc_names) / sizeof(libxc_names[0]))
		return libxc_names[type];
	return "unknown";
}

static const char *const state_names[] = {
	[ST_START] = "the stream header",
	[ST_XL_HDR] = "xl's save header",
	[ST_XL_OPTDATA] = "xl's domain config",
	[ST_LIBXL_HDR] = "the libxl stream header",
	[ST_LIBXL_REC] = "a libxl record header",
	[ST_LIBXL_BODY] = "a libxl record",
	[ST_LIBXC_IHDR] = "the libxc image header",
	[ST_LIBXC_DHDR] = "the libxc domain header",
	[ST_LIBXC_REC] = "a libxc record header",
	[ST_LIBXC_BODY] = "a libxc record",
	[ST_PAGE_HDR] = "a PAGE_DATA header",
	[ST_PAGE_PFNS] = "a PAGE_DATA pfn list",
	[ST_PAGE_DATA] = "PAGE_DATA page contents",
	[ST_DONE] = "the end",
	[ST_ERROR] = "an error",
};

static uint32_t le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static uint32_t be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static const char *rec_name(const struct xrepl_stream *s)
{
	return s->layer == XREPL_LAYER_LIBXL ? libxl_rec_name(s->rec_type) :
					       libxc_rec_name(s->rec_type);
}

__attribute__((format(printf, 2, 3))) static int invalid(struct xrepl_stream *s,
							 const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (s->in_record)
		snprintf(s->msg, sizeof(s->msg),
			 "offset %llu: %s record %s (0x%x) at offset %llu: %s",
			 (unsigned long long)s->offset,
			 s->layer == XREPL_LAYER_LIBXL ? "libxl" : "libxc",
			 rec_name(s), s->rec_type,
			 (unsigned long long)s->rec_offset, what);
	else
		snprintf(s->msg, sizeof(s->msg), "offset %llu: %s: %s",
			 (unsigned long long)s->offset, state_names[s->state],
			 what);
	err(s->ctx, "invalid stream: %s", s->msg);
	s->state = ST_ERROR;
	return -EINVAL;
}

/* A consumer's callback failed: the parser stops where it is. */
static int stopped(struct xrepl_stream *s, int r)
{
	snprintf(s->msg, sizeof(s->msg),
		 "offset %llu: stopped by its consumer: %s",
		 (unsigned long long)s->offset, strerror(-r));
	s->state = ST_ERROR;
	return r;
}

static void gather(struct xrepl_stream *s, enum state state, size_t need)
{
	if (state == ST_LIBXL_REC || state == ST_LIBXC_REC)
		s->in_record = 0;
	s->state = state;
	s->need = need;
	s->have = 0;
}

static size_t padded(uint32_t len)
{
	return ((size_t)len + REC_ALIGN - 1) & ~(size_t)(REC_ALIGN - 1);
}

static int start(struct xrepl_stream *s)
{
	if (!memcmp(s->buf, XL_MAGIC, 8)) {
		gather(s, ST_XL_HDR, XL_HDR_LEN);
		s->have = 8;
		return 0;
	}
	if (!memcmp(s->buf, LIBXL_IDENT, 8)) {
		gather(s, ST_LIBXL_HDR, LIBXL_HDR_LEN);
		s->have = 8;
		return 0;
	}
	return invalid(s, "neither xl's magic nor \"LibxlFmt\"");
}

static int xl_header(struct xrepl_stream *s)
{
	uint32_t order = le32(s->buf + 32), mandatory = le32(s->buf + 36);
	uint32_t optlen = le32(s->buf + 44);

	if (memcmp(s->buf, XL_MAGIC, XL_MAGIC_LEN))
		return invalid(s, "bad xl magic");
	if (order != XL_BYTEORDER)
		return invalid(s, "byte order mark 0x%08x, want 0x%08x", order,
			       XL_BYTEORDER);
	if (mandatory & ~(XL_FLAG_JSON | XL_FLAG_STREAMV2))
		return invalid(s, "unknown mandatory flags 0x%x", mandatory);
	if (!(mandatory & XL_FLAG_STREAMV2))
		return invalid(s, "not a v2 stream (mandatory flags 0x%x)",
			       mandatory);
	if (optlen > XL_OPTDATA_MAX)
		return invalid(s, "config of %u bytes (at most %u)", optlen,
			       XL_OPTDATA_MAX);
	gather(s, optlen ? ST_XL_OPTDATA : ST_LIBXL_HDR,
	       optlen ? optlen : LIBXL_HDR_LEN);
	return 0;
}

static int libxl_header(struct xrepl_stream *s)
{
	uint32_t version = be32(s->buf + 8), options = be32(s->buf + 12);

	if (memcmp(s->buf, LIBXL_IDENT, 8))
		return invalid(s, "ident is not \"LibxlFmt\"");
	if (version != LIBXL_STREAM_VERSION)
		return invalid(s, "version %u, only %u is supported", version,
			       LIBXL_STREAM_VERSION);
	if (options & (LIBXL_OPT_BIG_ENDIAN | LIBXL_OPT_LEGACY))
		return invalid(s, "options 0x%x (big-endian or legacy)",
			       options);
	gather(s, ST_LIBXL_REC, REC_HDR_LEN);
	return 0;
}

static int record_header(struct xrepl_stream *s, enum xrepl_stream_layer layer)
{
	int r;

	s->layer = layer;
	s->rec_type = le32(s->buf);
	s->rec_len = le32(s->buf + 4);
	s->rec_offset = s->offset - REC_HDR_LEN;
	s->in_record = 1;
	if (!s->ops->record)
		return 0;
	r = s->ops->record(s->data, layer, s->rec_type, s->rec_len,
			   s->rec_offset);
	return r < 0 ? stopped(s, r) : 0;
}

static int libxl_record(struct xrepl_stream *s)
{
	if (record_header(s, XREPL_LAYER_LIBXL) < 0)
		return -EINVAL;
	if (s->rec_type > LIBXL_REC_CHECKPOINT_STATE)
		return invalid(s, "unknown record type");
	if (s->rec_len > REC_LENGTH_MAX)
		return invalid(s, "length %u exceeds %u", s->rec_len,
			       REC_LENGTH_MAX);
	switch (s->rec_type) {
	case LIBXL_REC_END:
	case LIBXL_REC_LIBXC_CONTEXT:
	case LIBXL_REC_CHECKPOINT_END:
		if (s->rec_len)
			return invalid(s, "length %u, must be 0", s->rec_len);
		break;
	}
	if (s->rec_type == LIBXL_REC_LIBXC_CONTEXT && s->libxc_started)
		return invalid(s, "a second libxc stream");
	gather(s, ST_LIBXL_BODY, padded(s->rec_len));
	return 0;
}

static int libxl_record_done(struct xrepl_stream *s)
{
	int r;

	switch (s->rec_type) {
	case LIBXL_REC_END:
		s->state = ST_DONE;
		s->checkpoint_offset = s->offset;
		return 0;
	case LIBXL_REC_LIBXC_CONTEXT:
		s->libxc_started = 1;
		gather(s, ST_LIBXC_IHDR, LIBXC_IHDR_LEN);
		return 0;
	case LIBXL_REC_CHECKPOINT_END:
		if (!s->libxc_started)
			return invalid(s, "before any libxc stream");
		s->checkpoints++;
		s->checkpoint_offset = s->offset;
		gather(s, ST_LIBXC_REC, REC_HDR_LEN);
		if (!s->ops->checkpoint)
			return 0;
		r = s->ops->checkpoint(s->data, s->checkpoints);
		return r < 0 ? stopped(s, r) : 0;
	}
	gather(s, ST_LIBXL_REC, REC_HDR_LEN);
	return 0;
}

static int libxc_image_header(struct xrepl_stream *s)
{
	uint64_t marker = be64(s->buf);
	uint32_t id = be32(s->buf + 8), version = be32(s->buf + 12);
	uint16_t options = (uint16_t)(s->buf[16] << 8 | s->buf[17]);

	if (marker != LIBXC_MARKER)
		return invalid(s, "marker 0x%016llx, want all ones",
			       (unsigned long long)marker);
	if (id != LIBXC_ID)
		return invalid(s, "id 0x%08x is not \"XENF\"", id);
	if (version != 2 && version != 3)
		return invalid(s, "version %u, want 2 or 3", version);
	if (options & LIBXC_OPT_BIG_ENDIAN)
		return invalid(s, "big-endian streams are not supported");
	gather(s, ST_LIBXC_DHDR, LIBXC_DHDR_LEN);
	return 0;
}

static int libxc_domain_header(struct xrepl_stream *s)
{
	uint32_t type = le32(s->buf);
	uint16_t page_shift = (uint16_t)(s->buf[4] | s->buf[5] << 8);

	if (type < 1 || type > 4)
		return invalid(s, "domain type %u", type);
	if (page_shift != PAGE_SHIFT_X86)
		return invalid(s, "page shift %u, want %u", page_shift,
			       PAGE_SHIFT_X86);
	gather(s, ST_LIBXC_REC, REC_HDR_LEN);
	return 0;
}

static int libxc_record(struct xrepl_stream *s)
{
	uint32_t type;

	if (record_header(s, XREPL_LAYER_LIBXC) < 0)
		return -EINVAL;
	type = s->rec_type & ~LIBXC_REC_OPTIONAL;
	if (type > LIBXC_REC_MAX && !(s->rec_type & LIBXC_REC_OPTIONAL))
		return invalid(s, "unknown mandatory record type");
	if (s->rec_len > REC_LENGTH_MAX)
		return invalid(s, "length %u exceeds %u", s->rec_len,
			       REC_LENGTH_MAX);
	switch (s->rec_type) {
	case LIBXC_REC_END:
	case LIBXC_REC_CHECKPOINT:
	case LIBXC_REC_STATIC_DATA_END:
		if (s->rec_len)
			return invalid(s, "length %u, must be 0", s->rec_len);
		break;
	case LIBXC_REC_PAGE_DATA:
		if (s->rec_len < 8)
			return invalid(s, "length %u, shorter than its header",
				       s->rec_len);
		gather(s, ST_PAGE_HDR, 8);
		return 0;
	}
	gather(s, ST_LIBXC_BODY, padded(s->rec_len));
	return 0;
}

static int libxc_record_done(struct xrepl_stream *s)
{
	switch (s->rec_type) {
	case LIBXC_REC_END:
	case LIBXC_REC_CHECKPOINT:
		gather(s, ST_LIBXL_REC, REC_HDR_LEN);
		return 0;
	}
	gather(s, ST_LIBXC_REC, REC_HDR_LEN);
	return 0;
}

static int page_header(struct xrepl_stream *s)
{
	uint32_t count = le32(s->buf);

	if (!count || count > PAGE_BATCH_MAX)
		return invalid(s, "count %u, must be 1 to %u", count,
			       PAGE_BATCH_MAX);
	if (8 + 8ull * count > s->rec_len)
		return invalid(s, "count %u does not fit length %u", count,
			       s->rec_len);
	s->count = count;
	gather(s, ST_PAGE_PFNS, 8 * (size_t)count);
	return 0;
}

static uint64_t pfn_word(const struct xrepl_stream *s, uint32_t i)
{
	return le64(s->buf + 8 * (size_t)i);
}

static unsigned int word_type(uint64_t word)
{
	return (unsigned int)(word >> PFN_TYPE_SHIFT);
}

/* Moves to the next data-carrying pfn, or ends the record. */
static int next_data_page(struct xrepl_stream *s)
{
	while (s->next_pfn < s->count &&
	       !pfn_type_has_data(word_type(pfn_word(s, s->next_pfn))))
		s->next_pfn++;
	if (s->next_pfn < s->count) {
		gather(s, ST_PAGE_DATA, PAGE_SIZE_X86);
		return 0;
	}
	return libxc_record_done(s);
}

static int page_pfns(struct xrepl_stream *s)
{
	uint64_t ndata = 0, word;
	uint32_t i;

	for (i = 0; i < s->count; i++) {
		word = pfn_word(s, i);
		if (word & PFN_RESERVED_MASK)
			return invalid(
				s,
				"pfn word %u (0x%016llx) has reserved bits set",
				i, (unsigned long long)word);
		if (!pfn_type_valid(word_type(word)))
			return invalid(s,
				       "pfn word %u has invalid page type 0x%x",
				       i, word_type(word));
		ndata += pfn_type_has_data(word_type(word));
	}
	if (8 + 8ull * s->count + PAGE_SIZE_X86 * ndata != s->rec_len)
		return invalid(
			s,
			"length %u, but %u pfns with %llu data pages need %llu",
			s->rec_len, s->count, (unsigned long long)ndata,
			(unsigned long long)(8 + 8ull * s->count +
					     PAGE_SIZE_X86 * ndata));
	s->next_pfn = 0;
	return next_data_page(s);
}

static int emit_page(struct xrepl_stream *s, const void *page)
{
	uint64_t word = pfn_word(s, s->next_pfn);
	int r;

	r = s->ops->page(s->data, word & PFN_MASK, word_type(word), page);
	s->next_pfn++;
	return r < 0 ? stopped(s, r) : 0;
}

static int complete(struct xrepl_stream *s)
{
	switch (s->state) {
	case ST_START:
		return start(s);
	case ST_XL_HDR:
		return xl_header(s);
	case ST_XL_OPTDATA:
		gather(s, ST_LIBXL_HDR, LIBXL_HDR_LEN);
		return 0;
	case ST_LIBXL_HDR:
		return libxl_header(s);
	case ST_LIBXL_REC:
		return libxl_record(s);
	case ST_LIBXL_BODY:
		return libxl_record_done(s);
	case ST_LIBXC_IHDR:
		return libxc_image_header(s);
	case ST_LIBXC_DHDR:
		return libxc_domain_header(s);
	case ST_LIBXC_REC:
		return libxc_record(s);
	case ST_LIBXC_BODY:
		return libxc_record_done(s);
	case ST_PAGE_HDR:
		return page_header(s);
	case ST_PAGE_PFNS:
		return page_pfns(s);
	default:
		return -EINVAL;
	}
}

/* States whose bytes are passed through without being kept. */
static int passes_through(enum state state)
{
	return state == ST_XL_OPTDATA || state == ST_LIBXL_BODY ||
	       state == ST_LIBXC_BODY;
}

/*
 * Hands over one data page, straight from the input when it holds the whole
 * page, else gathered in s->page. Returns the bytes consumed.
 */
static size_t feed_page(struct xrepl_stream *s, const uint8_t *p, size_t len,
			int *r)
{
	size_t n;

	if (!s->have && len >= PAGE_SIZE_X86) {
		s->have = PAGE_SIZE_X86;
		*r = emit_page(s, p);
		return PAGE_SIZE_X86;
	}
	n = PAGE_SIZE_X86 - s->have < len ? PAGE_SIZE_X86 - s->have : len;
	memcpy(s->page + s->have, p, n);
	s->have += n;
	*r = s->have == PAGE_SIZE_X86 ? emit_page(s, s->page) : 0;
	return n;
}

XREPL_EXPORT int xrepl_stream_feed(struct xrepl_stream *s, const void *buf,
				   size_t len)
{
	const uint8_t *p = buf;
	size_t n;
	int r;

	if (s->state == ST_ERROR)
		return -EINVAL;
	while (len) {
		if (s->state == ST_DONE)
			return invalid(s, "%zu bytes after libxl's END record",
				       len);
		if (s->state == ST_PAGE_DATA) {
			n = feed_page(s, p, len, &r);
			s->offset += n;
			p += n;
			len -= n;
			if (r < 0)
				return r;
			if (s->have < PAGE_SIZE_X86)
				continue;
			r = next_data_page(s);
			if (r < 0)
				return r;
			continue;
		}
		n = s->need - s->have < len ? s->need - s->have : len;
		if (!passes_through(s->state))
			memcpy(s->buf + s->have, p, n);
		r = s->ops->bytes(s->data, p, n);
		if (r < 0)
			return stopped(s, r);
		s->have += n;
		s->offset += n;
		p += n;
		len -= n;
		if (s->have < s->need)
			continue;
		r = complete(s);
		/*
		 * An empty record body is complete at once, so that _next()
		 * never reports 0 bytes anywhere but at a page.
		 */
		while (!r && passes_through(s->state) && !s->need)
			r = complete(s);
		if (r < 0)
			return r;
	}
	return 0;
}

XREPL_EXPORT size_t xrepl_stream_next(const struct xrepl_stream *s,
				      uint64_t *pfn)
{
	if (s->state == ST_PAGE_DATA && !s->have) {
		*pfn = pfn_word(s, s->next_pfn) & PFN_MASK;
		return 0;
	}
	if (s->state == ST_DONE || s->state == ST_ERROR)
		return SIZE_MAX;
	return s->need - s->have;
}

XREPL_EXPORT int xrepl_stream_finish(struct xrepl_stream *s)
{
	if (s->state == ST_ERROR)
		return -EINVAL;
	if (s->state == ST_DONE)
		return 0;
	snprintf(s->msg, sizeof(s->msg),
		 "%u complete checkpoints, then truncated at offset %llu in %s",
		 s->checkpoints, (unsigned long long)s->offset,
		 state_names[s->state]);
	info(s->ctx, "%s", s->msg);
	return -EPIPE;
}

XREPL_EXPORT struct xrepl_stream *
xrepl_stream_new(struct xrepl_ctx *ctx, const struct xrepl_stream_ops *ops,
		 void *data)
{
	struct xrepl_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->ctx = xrepl_ref(ctx);
	s->ops = ops;
	s->data = data;
	gather(s, ST_START, 8);
	return s;
}

XREPL_EXPORT void xrepl_stream_free(struct xrepl_stream *s)
{
	if (!s)
		return;
	xrepl_unref(s->ctx);
	free(s);
}

XREPL_EXPORT unsigned int xrepl_stream_checkpoints(const struct xrepl_stream *s)
{
	return s->checkpoints;
}

XREPL_EXPORT uint64_t xrepl_stream_offset(const struct xrepl_stream *s)
{
	return s->offset;
}

XREPL_EXPORT uint64_t
xrepl_stream_checkpoint_offset(const struct xrepl_stream *s)
{
	return s->checkpoint_offset;
}

XREPL_EXPORT const char *xrepl_stream_strerror(const struct xrepl_stream *s)
{
	return s->msg;
}
