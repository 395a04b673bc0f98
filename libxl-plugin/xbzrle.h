/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * XBZRLE page deltas in QEMU's format (docs/xbzrle.txt): alternating ULEB128
 * lengths of an unchanged run and a changed run, each changed run followed
 * by its new bytes; the trailing unchanged run is omitted, so an identical
 * page encodes to nothing.
 */
#ifndef XREPL_XBZRLE_H
#define XREPL_XBZRLE_H

#include <stddef.h>
#include <stdint.h>

#define XBZRLE_PAGE 4096u

/* A byte-equality bitmap of two pages: bit i set when byte i is equal. */
struct page_diff {
	uint64_t eq[XBZRLE_PAGE / 64];
	int identical;
	int new_is_zero;
};

/*
 * Compares old and new; meanwhile prefetches the next pair to compare, one
 * cache line of each per 64 bytes compared, so that memory is fetched
 * while the caller encodes this one. Prefetches never fault: the next
 * pointers may be anything.
 */
typedef void (*page_diff_fn)(const uint8_t *old, const uint8_t *new,
			     struct page_diff *d, const uint8_t *next_old,
			     const uint8_t *next_new);

/*
 * The fastest implementation this CPU runs ("avx512bw", "avx2" or
 * "scalar"), or the one XREPL_ISA names.
 */
page_diff_fn page_diff_select(const char **name);
page_diff_fn page_diff_by_name(const char *name);

/*
 * Encodes the changed runs of d into dst; returns the length, or -1 when it
 * would exceed dlen (the page is then better sent raw).
 */
int xbzrle_encode(const struct page_diff *d, const uint8_t *new, uint8_t *dst,
		  size_t dlen);

/* Applies an encoding to page in place; -1 when it is malformed. */
int xbzrle_decode(const uint8_t *src, size_t slen, uint8_t *page);

#endif
