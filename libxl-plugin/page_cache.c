// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "page_cache.h"
#include "xbzrle.h"

int page_cache_init(struct page_cache *c, uint64_t bytes)
{
	uint64_t slots = 1;

	while (slots * 2 * XBZRLE_PAGE <= bytes)
		slots *= 2;
	c->mask = slots - 1;
	c->lookups = 0;
	c->hits = 0;
	c->tags = calloc(slots, sizeof(*c->tags));
	/* mmap: untouched slots cost no memory */
	c->pages = mmap(NULL, slots * XBZRLE_PAGE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (c->tags && c->pages != MAP_FAILED)
		return 0;
	if (c->pages != MAP_FAILED)
		munmap(c->pages, slots * XBZRLE_PAGE);
	free(c->tags);
	c->tags = NULL;
	c->pages = NULL;
	return -ENOMEM;
}

void page_cache_fini(struct page_cache *c)
{
	if (!c->tags)
		return;
	munmap(c->pages, page_cache_slots(c) * XBZRLE_PAGE);
	free(c->tags);
	c->tags = NULL;
}

uint64_t page_cache_slots(const struct page_cache *c)
{
	return c->mask + 1;
}

uint8_t *page_cache_lookup(struct page_cache *c, uint64_t pfn)
{
	uint64_t slot = pfn & c->mask;

	c->lookups++;
	if (c->tags[slot] != pfn + 1)
		return NULL;
	c->hits++;
	return c->pages + slot * XBZRLE_PAGE;
}

uint8_t *page_cache_claim(struct page_cache *c, uint64_t pfn)
{
	uint64_t slot = pfn & c->mask;

	c->tags[slot] = pfn + 1;
	return c->pages + slot * XBZRLE_PAGE;
}
