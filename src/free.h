/* free's fast path, inline: ask the segment map whether the address is ours, mask to the
 * segment, one load to the page, compare the owner, check the block is not already free, push
 * onto local_free. Everything else (remote frees, flagged pages, large and huge blocks, bad
 * pointers, a page becoming empty) is the noinline slow path. */
#ifndef MX_FREE_H
#define MX_FREE_H

#include "compiler.h"
#include "heap.h"
#include "page.h"
#include "segment.h"
#include "segment_map.h"

MX_NOINLINE void mxi_free_slow(void *p);

MX_INLINE void mxi_free(void *p)
{
    if (MX_LIKELY(mxi_segment_map_contains((uintptr_t)p))) {
        mx_page_t *page = mxi_segment_page_of(p);
        mx_heap_t *heap = mxi_heap_tls;
        mx_block_t *block = p;
        if (MX_LIKELY(mxi_atomic_load_relaxed(&page->owner) == (uintptr_t)heap &&
                      block->key != page->key)) {
            mxi_page_push_local(page, block);
            if (MX_UNLIKELY(page->used == 0)) {
                mxi_heap_page_emptied(heap, page);
            }
            return;
        }
    }
    mxi_free_slow(p);
}

/* Finds and validates the block p was returned as: aborts with a message naming `op` and p if
 * p is not a live block malloc-x returned. */
mx_page_t *mxi_free_check(const char *op, const void *p);

/* Bytes usable from p to the end of its block (p already validated). */
size_t mxi_free_usable_from(const mx_page_t *page, const void *p);

#endif
