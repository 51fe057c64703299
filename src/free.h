/* free's fast path, inline: ask the segment map whether the address is ours, mask to the
 * segment, one load to the page, compare the owner, pass over a block that may already be
 * free, push onto the free list. Everything else (remote frees, flagged pages, large and huge
 * blocks, bad pointers, blocks that may be free, a page becoming empty) is the noinline slow
 * path. */
#ifndef MX_FREE_H
#define MX_FREE_H

#include <stdbool.h>

#include "compiler.h"
#include "heap.h"
#include "page.h"
#include "segment.h"
#include "segment_map.h"

MX_NOINLINE void mxi_free_slow(void *p);
/* The same for a public entry point: also leaves the allocator (mxi_leave), so that the fast
 * path reaches it by a tail jump and needs no stack frame. */
MX_NOINLINE void mxi_free_slow_leave(void *p);

/* The owner's free into one of its parked pages, which but for the flag is a page the fast
 * path serves: the block grid and the link are tested, then the page goes back on its queue.
 * The rest of mxi_free_slow's validation cost such a free 90 instructions more: a program that
 * frees a working set it had kept makes one such free per page.
 * A pointer that fails a test, and a page this free would empty (releasing it may call the OS,
 * which must not change errno), take mxi_free_slow. */
MX_NOINLINE void mxi_free_parked(mx_heap_t *heap, mx_page_t *page, mx_block_t *block);
MX_NOINLINE void mxi_free_parked_leave(mx_heap_t *heap, mx_page_t *page, mx_block_t *block);

/* The owner's free of a block whose link is at `link`: false, leaving everything as it was, if
 * the block may be free already. `leaves`: as in mxi_alloc_fast. */
MX_INLINE bool mxi_free_own(mx_heap_t *heap, mx_page_t *page, mx_block_t *block, uintptr_t *link,
                            bool leaves)
{
    if (MX_UNLIKELY(mxi_link_maybe_free(page, link))) {
        return false;
    }
    mxi_page_push_local_at(page, block, link);
    /* The head of its queue is kept even when empty (heap.c): a loop allocating and freeing one
     * block empties it at every free, so that case is settled here. */
    if (MX_UNLIKELY(page->used == 0) && page != heap->queues[page->class_index].first) {
        if (leaves) {
            mxi_heap_page_emptied_leave(heap, page);
        } else {
            mxi_heap_page_emptied(heap, page);
        }
        return true;
    }
    if (leaves) {
        mxi_leave();
    }
    return true;
}

/* Pages of 8-byte blocks, whose link is at another place in the block, come second: their
 * owner word carries MX_OWNER_TINY. Parked pages come third. */
MX_INLINE void mxi_free_fast(void *p, bool leaves)
{
    if (MX_LIKELY(mxi_segment_map_contains((uintptr_t)p))) {
        mx_page_t *page = mxi_segment_page_of(p);
        mx_heap_t *heap = mxi_heap_tls();
        mx_block_t *block = p;
        uintptr_t owner = mxi_atomic_load_relaxed(&page->owner);
        if (MX_LIKELY(owner == (uintptr_t)heap)) {
            if (MX_LIKELY(mxi_free_own(heap, page, block, mxi_block_link_at(block, false),
                                       leaves))) {
                return;
            }
        } else if (owner == ((uintptr_t)heap | MX_OWNER_TINY)) {
            if (mxi_free_own(heap, page, block, mxi_block_link_at(block, true), leaves)) {
                return;
            }
        } else if (owner == ((uintptr_t)heap | MX_OWNER_PARKED)) {
            if (leaves) {
                mxi_free_parked_leave(heap, page, block);
            } else {
                mxi_free_parked(heap, page, block);
            }
            return;
        }
    }
    if (leaves) {
        mxi_free_slow_leave(p);
    } else {
        mxi_free_slow(p);
    }
}

MX_INLINE void mxi_free(void *p)
{
    mxi_free_fast(p, false);
}

/* Finds and validates the block p was returned as: aborts with a message naming `op` and p if
 * p is not a live block malloc-x returned. */
mx_page_t *mxi_free_check(const char *op, const void *p);

/* Bytes usable from p to the end of its block (p already validated). */
size_t mxi_free_usable_from(const mx_page_t *page, const void *p);

#endif
