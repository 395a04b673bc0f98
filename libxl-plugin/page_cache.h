/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pfn-keyed cache of page contents last sent, kept identically by the
 * encoder and the decoder. Direct-mapped (slot = pfn mod slots): replacement
 * depends only on the sequence of pfns, so both sides evolve the same way
 * without exchanging anything.
 */
#ifndef XREPL_PAGE_CACHE_H
#define XREPL_PAGE_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct page_cache {
	uint64_t mask;
	uint64_t *tags; /* pfn + 1, 0 for an empty slot */
	uint8_t *pages;
	uint64_t lookups;
	uint64_t hits;
};

/* Rounds bytes down to a power of two of pages, at least one page. */
int page_cache_init(struct page_cache *c, uint64_t bytes);
void page_cache_fini(struct page_cache *c);
uint64_t page_cache_slots(const struct page_cache *c);

/* The cached content of pfn, or NULL; counts a lookup. */
uint8_t *page_cache_lookup(struct page_cache *c, uint64_t pfn);
/* The slot pfn maps to, whatever it holds: for prefetching. */
static inline const uint8_t *page_cache_peek(const struct page_cache *c,
					     uint64_t pfn)
{
	return c->pages + (pfn & c->mask) * 4096;
}

/* The slot pfn maps to, now tagged as holding pfn (the caller fills it). */
uint8_t *page_cache_claim(struct page_cache *c, uint64_t pfn);

#endif
