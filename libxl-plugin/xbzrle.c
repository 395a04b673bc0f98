// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * XBZRLE encoder and decoder. The encoder first builds a byte-equality
 * bitmap of the old and new page with the widest compare the CPU has, then
 * walks the bitmap a run at a time with count-trailing-zeros: the vector
 * part is a straight loop with no branches per byte, and the walk costs per
 * run rather than per byte.
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "xbzrle.h"

#define WORDS (XBZRLE_PAGE / 64)

static const uint64_t highs = 0x8080808080808080ull;

/* One bit per byte of an 8-byte word: set where the byte is zero. */
static unsigned int zero_bytes(uint64_t x)
{
	uint64_t nonzero = ((x & ~highs) + ~highs) | x;
	uint64_t zero = ~nonzero & highs;

	return (unsigned int)(((zero >> 7) * 0x0102040810204080ull) >> 56);
}

static void page_diff_scalar(const uint8_t *old, const uint8_t *new,
			     struct page_diff *d, const uint8_t *next_old,
			     const uint8_t *next_new)
{
	uint64_t all = ~0ull, any = 0, a, b, mask;
	unsigned int w, k;

	for (w = 0; w < WORDS; w++) {
		__builtin_prefetch(next_old + w * 64);
		__builtin_prefetch(next_new + w * 64);
		mask = 0;
		for (k = 0; k < 8; k++) {
			memcpy(&a, old + w * 64 + k * 8, 8);
			memcpy(&b, new + w * 64 + k * 8, 8);
			mask |= (uint64_t)zero_bytes(a ^ b) << (k * 8);
			any |= b;
		}
		d->eq[w] = mask;
		all &= mask;
	}
	d->identical = all == ~0ull;
	d->new_is_zero = !any;
}

__attribute__((target("avx2"))) static void
page_diff_avx2(const uint8_t *old, const uint8_t *new, struct page_diff *d,
	       const uint8_t *next_old, const uint8_t *next_new)
{
	__m256i any = _mm256_setzero_si256(), a0, a1, b0, b1;
	uint64_t all = ~0ull, lo, hi;
	unsigned int w;

	for (w = 0; w < WORDS; w++) {
		__builtin_prefetch(next_old + w * 64);
		__builtin_prefetch(next_new + w * 64);
		a0 = _mm256_loadu_si256((const __m256i *)(old + w * 64));
		a1 = _mm256_loadu_si256((const __m256i *)(old + w * 64 + 32));
		b0 = _mm256_loadu_si256((const __m256i *)(new + w * 64));
		b1 = _mm256_loadu_si256((const __m256i *)(new + w * 64 + 32));
		lo = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a0, b0));
		hi = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a1, b1));
		d->eq[w] = lo | hi << 32;
		all &= d->eq[w];
		any = _mm256_or_si256(any, _mm256_or_si256(b0, b1));
	}
	d->identical = all == ~0ull;
	d->new_is_zero = _mm256_testz_si256(any, any);
}

__attribute__((target("avx512f,avx512bw"))) static void
page_diff_avx512(const uint8_t *old, const uint8_t *new, struct page_diff *d,
		 const uint8_t *next_old, const uint8_t *next_new)
{
	__m512i any = _mm512_setzero_si512(), a, b;
	uint64_t all = ~0ull;
	unsigned int w;

	for (w = 0; w < WORDS; w++) {
		__builtin_prefetch(next_old + w * 64);
		__builtin_prefetch(next_new + w * 64);
		a = _mm512_loadu_si512(old + w * 64);
		b = _mm512_loadu_si512(new + w * 64);
		d->eq[w] = _mm512_cmpeq_epi8_mask(a, b);
		all &= d->eq[w];
		any = _mm512_or_si512(any, b);
	}
	d->identical = all == ~0ull;
	d->new_is_zero = !_mm512_test_epi64_mask(any, any);
}

static const struct {
	const char *name;
	const char *cpu;
	page_diff_fn fn;
} impls[] = {
	{ "avx512bw", "avx512bw", page_diff_avx512 },
	{ "avx2", "avx2", page_diff_avx2 },
	{ "scalar", NULL, page_diff_scalar },
};

static int cpu_has(const char *feature)
{
	__builtin_cpu_init();
	if (!feature)
		return 1;
	if (!strcmp(feature, "avx512bw"))
		return __builtin_cpu_supports("avx512bw");
	return __builtin_cpu_supports("avx2");
}

page_diff_fn page_diff_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(impls) / sizeof(impls[0]); i++)
		if (!strcmp(name, impls[i].name))
			return cpu_has(impls[i].cpu) ? impls[i].fn : NULL;
	return NULL;
}

page_diff_fn page_diff_select(const char **name)
{
	const char *want = getenv("XREPL_ISA");
	size_t i;

	for (i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
		if (want && strcmp(want, impls[i].name))
			continue;
		if (!cpu_has(impls[i].cpu))
			continue;
		if (name)
			*name = impls[i].name;
		return impls[i].fn;
	}
	if (name)
		*name = "scalar";
	return page_diff_scalar;
}

/*
 * Run boundaries: bit i of edges is set where a changed run starts or ends
 * at byte i. Equal gaps of one or two bytes between changed bytes are
 * treated as changed first: such a gap costs more as a run header (two
 * ULEB128 lengths) than as data. Byte i is in such a gap when it is equal
 * and changed bytes lie at distances (1, 1), (1, 2) or (2, 1) around it.
 */
static void run_edges(const struct page_diff *d, uint64_t *edges)
{
	uint64_t prev = 0, cur, next, l1, l2, r1, r2, ne, ne_prev = 0;
	unsigned int w;

	cur = ~d->eq[0];
	for (w = 0; w < WORDS; w++) {
		next = w + 1 < WORDS ? ~d->eq[w + 1] : 0;
		l1 = cur << 1 | prev >> 63;
		l2 = cur << 2 | prev >> 62;
		r1 = cur >> 1 | next << 63;
		r2 = cur >> 2 | next << 62;
		ne = cur | (l1 & r1) | (l1 & r2) | (l2 & r1);
		edges[w] = ne ^ (ne << 1 | ne_prev >> 63);
		ne_prev = ne;
		prev = cur;
		cur = next;
	}
}

/* QEMU's small ULEB128 (at most two bytes); always stores two bytes. */
static unsigned int uleb128_put(uint8_t *dst, unsigned int v)
{
	unsigned int big = v >= 0x80;

	dst[0] = (uint8_t)(big ? v | 0x80 : v);
	dst[1] = (uint8_t)(v >> 7);
	return 1 + big;
}

struct edge_iter {
	const uint64_t *edges;
	uint64_t word; /* edges[w] less the edges already taken */
	unsigned int w;
};

/* The next run boundary, or XBZRLE_PAGE when there is none. */
static inline unsigned int next_edge(struct edge_iter *it)
{
	unsigned int at;

	while (!it->word) {
		if (++it->w >= WORDS)
			return XBZRLE_PAGE;
		it->word = it->edges[it->w];
	}
	at = it->w * 64 + (unsigned int)__builtin_ctzll(it->word);
	it->word &= it->word - 1;
	return at;
}

int xbzrle_encode(const struct page_diff *d, const uint8_t *new, uint8_t *dst,
		  size_t dlen)
{
	unsigned int pos = 0, start, end, len;
	uint64_t edges[WORDS];
	struct edge_iter it = { edges, 0, 0 };
	size_t out = 0;

	run_edges(d, edges);
	it.word = edges[0];
	for (;;) {
		start = next_edge(&it);
		if (start == XBZRLE_PAGE)
			return (int)out;
		end = next_edge(&it);
		len = end - start;
		/* two ULEB128s of at most two bytes each, stored as four */
		if (out + 4 + len > dlen)
			return -1;
		out += uleb128_put(dst + out, start - pos);
		out += uleb128_put(dst + out, len);
		/* short runs dominate: one fixed-size copy beats a call */
		if (len <= 32 && start + 32 <= XBZRLE_PAGE && out + 32 <= dlen)
			memcpy(dst + out, new + start, 32);
		else
			memcpy(dst + out, new + start, len);
		out += len;
		pos = end;
	}
}

/* QEMU's small ULEB128: at most two bytes. */
static int uleb128_get(const uint8_t *src, size_t len, unsigned int *v)
{
	if (len < 1)
		return -1;
	if (!(src[0] & 0x80)) {
		*v = src[0];
		return 1;
	}
	if (len < 2 || src[1] & 0x80)
		return -1;
	*v = (src[0] & 0x7fu) | (unsigned int)src[1] << 7;
	return 2;
}

int xbzrle_decode(const uint8_t *src, size_t slen, uint8_t *page)
{
	size_t i = 0, d = 0;
	unsigned int count;
	int r;

	while (i < slen) {
		r = uleb128_get(src + i, slen - i, &count);
		/* only the first unchanged run may be empty */
		if (r < 0 || (i && !count))
			return -1;
		i += (size_t)r;
		d += count;
		if (d > XBZRLE_PAGE)
			return -1;
		r = uleb128_get(src + i, slen - i, &count);
		if (r < 0 || !count)
			return -1;
		i += (size_t)r;
		if (count > XBZRLE_PAGE - d || count > slen - i)
			return -1;
		memcpy(page + d, src + i, count);
		d += count;
		i += count;
	}
	return 0;
}
