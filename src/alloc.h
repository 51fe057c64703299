/* malloc's fast path, inline so that the public entry points are a leaf function: TLS load,
 * direct-table load, pop, count, return, for sizes up to MX_DIRECT_MEDIUM_MAX. Everything else
 * is the noinline mxi_alloc_slow. */
#ifndef MX_ALLOC_H
#define MX_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler.h"
#include "heap.h"
#include "page.h"

/* Every request that the direct tables cannot serve from a page with a free block: sizes above
 * MX_DIRECT_MEDIUM_MAX, an empty page, a thread without a heap yet. Sets errno on failure. */
MX_NOINLINE void *mxi_alloc_slow(mx_heap_t *heap, size_t size);
/* The same for a public entry point: also leaves the allocator (mxi_leave) before returning,
 * so the fast path reaches it by a tail jump and needs no stack frame. */
MX_NOINLINE void *mxi_alloc_slow_leave(mx_heap_t *heap, size_t size);

/* Pops a block from the page a direct table gave for `size`, or goes to the slow path. */
MX_INLINE void *mxi_alloc_from_direct(mx_heap_t *heap, mx_page_t *page, size_t size, bool leaves)
{
    mx_block_t *block = page->free;
    if (MX_LIKELY(mxi_page_segment_holds(page, block))) {
        block = mxi_page_pop_head(page, block);
    } else {
        if (block != NULL) {
            mxi_page_corrupt(page, block);
        }
        /* The owner's own frees are the usual refill, and taking them is two moves: done here,
         * on the branch already taken, it costs the common path nothing and spares a loop of
         * malloc/free pairs a slow-path call every few pairs. */
        block = page->local_free;
        if (block == NULL) {
            if (!mxi_page_has_fresh_now(page)) {
                return leaves ? mxi_alloc_slow_leave(heap, size) : mxi_alloc_slow(heap, size);
            }
            block = mxi_page_take_fresh(page);
            if (leaves) {
                mxi_leave();
            }
            return block;
        }
        page->free = block;
        page->local_free = NULL;
        block = mxi_page_pop(page);
    }
    if (leaves) {
        mxi_leave();
    }
    return block;
}

/* `leaves`: called from a public entry point after mxi_enter, whose mxi_leave it does on every
 * way out; internal callers (realloc, calloc, aligned) pass false and are inside one already. */
MX_INLINE void *mxi_alloc_fast(size_t size, bool leaves)
{
    mx_heap_t *heap = mxi_heap_tls();
    mx_page_t *page;
    if (MX_LIKELY(size <= MX_SMALL_MAX)) {
        page = heap->direct[(size + MX_MIN_BLOCK - 1) / MX_MIN_BLOCK];
    } else if (size <= MX_DIRECT_MEDIUM_MAX) {
        page = heap->direct_medium[(size + ((size_t)1 << MX_DIRECT_MEDIUM_SHIFT) - 1) >>
                                   MX_DIRECT_MEDIUM_SHIFT];
    } else {
        return leaves ? mxi_alloc_slow_leave(heap, size) : mxi_alloc_slow(heap, size);
    }
    return mxi_alloc_from_direct(heap, page, size, leaves);
}

MX_INLINE void *mxi_alloc(size_t size)
{
    return mxi_alloc_fast(size, false);
}

/* A block of at least `size` bytes whose address is a multiple of `alignment` (a power of
 * two). Sets errno on failure. */
void *mxi_alloc_aligned(size_t alignment, size_t size);

/* A large block (one per page) or a huge one (one per mapping). */
void *mxi_alloc_large(size_t size, size_t alignment);

/* calloc: overflow-checked, zeroed unless the memory is known to be fresh. Leaves the
 * allocator (mxi_leave) before returning, so calloc reaches it by a tail jump. */
void *mxi_alloc_zeroed_leave(size_t count, size_t size);

#endif
