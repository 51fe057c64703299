/* malloc's fast path, inline so that the public entry points are a leaf function: TLS load,
 * direct-table load, pop, count, return. Everything else is the noinline mxi_alloc_slow. */
#ifndef MX_ALLOC_H
#define MX_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler.h"
#include "heap.h"
#include "page.h"

/* Every request that the direct table cannot serve from a page with a free block: medium and
 * large sizes, an empty page, a thread without a heap yet. Sets errno on failure. */
MX_NOINLINE void *mxi_alloc_slow(mx_heap_t *heap, size_t size);

MX_INLINE void *mxi_alloc(size_t size)
{
    mx_heap_t *heap = mxi_heap_tls;
    if (MX_LIKELY(size <= MX_SMALL_MAX)) {
        mx_page_t *page = heap->direct[(size + MX_ALIGNMENT - 1) / MX_ALIGNMENT];
        if (MX_LIKELY(page->free != NULL)) {
            return mxi_page_pop(page);
        }
        /* The owner's own frees are the usual refill, and taking them is two moves: done here,
         * on the branch already taken, it costs the common path nothing and spares a loop of
         * malloc/free pairs a slow-path call every few pairs. */
        if (page->local_free != NULL) {
            page->free = page->local_free;
            page->local_free = NULL;
            return mxi_page_pop(page);
        }
    }
    return mxi_alloc_slow(heap, size);
}

/* A block of at least `size` bytes whose address is a multiple of `alignment` (a power of
 * two). Sets errno on failure. */
void *mxi_alloc_aligned(size_t alignment, size_t size);

/* A large block (one per page) or a huge one (one per mapping). */
void *mxi_alloc_large(size_t size, size_t alignment);

/* calloc: overflow-checked, zeroed unless the memory is known to be fresh. */
void *mxi_alloc_zeroed(size_t count, size_t size);

#endif
