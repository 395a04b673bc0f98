/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Builds small but well-formed checkpoint streams for the tests. */
#ifndef XREPL_TEST_STREAM_BUILDER_H
#define XREPL_TEST_STREAM_BUILDER_H

#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

struct sb {
	uint8_t *data;
	size_t len;
	size_t cap;
};

static inline void sb_put(struct sb *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 4096;
		b->data = realloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static inline void sb_le32(struct sb *b, uint32_t v)
{
	v = htole32(v);
	sb_put(b, &v, 4);
}

static inline void sb_le64(struct sb *b, uint64_t v)
{
	v = htole64(v);
	sb_put(b, &v, 8);
}

static inline void sb_be32(struct sb *b, uint32_t v)
{
	v = htobe32(v);
	sb_put(b, &v, 4);
}

static inline void sb_xl_header(struct sb *b, const char *json)
{
	uint32_t len = (uint32_t)strlen(json) + 1;

	sb_put(b, XL_MAGIC, XL_MAGIC_LEN);
	sb_le32(b, XL_BYTEORDER);
	sb_le32(b, XL_FLAG_JSON | XL_FLAG_STREAMV2);
	sb_le32(b, 0);
	sb_le32(b, 4 + len);
	sb_le32(b, len);
	sb_put(b, json, len);
}

static inline void sb_libxl_header(struct sb *b)
{
	sb_put(b, LIBXL_IDENT, 8);
	sb_be32(b, LIBXL_STREAM_VERSION);
	sb_be32(b, 0);
}

/* A record of either layer: header, body, zero padding to 8 bytes. */
static inline void sb_record(struct sb *b, uint32_t type, const void *body,
			     uint32_t len)
{
	static const uint8_t pad[8];

	sb_le32(b, type);
	sb_le32(b, len);
	if (len)
		sb_put(b, body, len);
	sb_put(b, pad, (8 - len % 8) % 8);
}

static inline void sb_libxc_headers(struct sb *b)
{
	static const uint8_t ihdr[24] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		'X',  'E',  'N',  'F',	0,    0,    0,	  3,
	};

	sb_put(b, ihdr, sizeof(ihdr));
	sb_le32(b, 2); /* x86 HVM */
	sb_put(b, "\x0c\x00\x00\x00", 4);
	sb_le32(b, 4);
	sb_le32(b, 17);
}

/* PAGE_DATA for pfns[n] with types[n]; data pages taken from pages. */
static inline void sb_page_data(struct sb *b, const uint64_t *pfns,
				const unsigned int *types, uint32_t n,
				const uint8_t *pages)
{
	uint32_t i, ndata = 0;

	for (i = 0; i < n; i++)
		ndata += types[i] < PFN_TYPE_BROKEN;
	sb_le32(b, LIBXC_REC_PAGE_DATA);
	sb_le32(b, 8 + 8 * n + 4096 * ndata);
	sb_le32(b, n);
	sb_le32(b, 0);
	for (i = 0; i < n; i++)
		sb_le64(b, pfns[i] | (uint64_t)types[i] << PFN_TYPE_SHIFT);
	sb_put(b, pages, 4096 * (size_t)ndata);
}

/* The libxc records that close a checkpoint, then libxl's. */
static inline void sb_checkpoint_end(struct sb *b)
{
	static const uint8_t ctx[20] = { 1, 2, 3, 4, 5 };

	sb_record(b, LIBXC_REC_X86_TSC_INFO, ctx, 20);
	sb_record(b, LIBXC_REC_HVM_CONTEXT, ctx, 13);
	sb_record(b, LIBXC_REC_CHECKPOINT, NULL, 0);
	sb_record(b, LIBXL_REC_EMULATOR_CONTEXT, ctx, 6);
	sb_record(b, LIBXL_REC_CHECKPOINT_END, NULL, 0);
}

/* Everything up to the first PAGE_DATA. */
static inline void sb_start(struct sb *b)
{
	sb_xl_header(b, "{\"c_info\": {\"type\": \"pvh\"}}");
	sb_libxl_header(b);
	sb_record(b, LIBXL_REC_LIBXC_CONTEXT, NULL, 0);
	sb_libxc_headers(b);
	sb_record(b, LIBXC_REC_X86_CPUID_POLICY, "cpuid", 5);
	sb_record(b, LIBXC_REC_STATIC_DATA_END, NULL, 0);
}

#endif
