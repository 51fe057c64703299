/* Aligned allocation: posix_memalign, aligned_alloc, memalign, valloc and pvalloc share
 * mxi_alloc_aligned; their argument checks (which differ, as in glibc) are in override.c.
 *
 * Strategy, cheapest first: a size class whose block size is a multiple of the alignment is
 * aligned already (pages start on slice boundaries); else over-allocate within the class range
 * and return an interior pointer, marking the page so free() finds the block start; else a
 * large or huge block placed at the alignment. */
#include <errno.h>

#include "alloc.h"
#include "segment.h"
#include "size_class.h"

void *mxi_alloc_aligned(size_t alignment, size_t size)
{
    if (alignment <= MX_ALIGNMENT) {
        /* Only the 8-byte class is less aligned than MX_ALIGNMENT. */
        return mxi_alloc(alignment > MX_MIN_BLOCK && size < alignment ? alignment : size);
    }
    if (size > MX_MAX_REQUEST || alignment > MX_MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    if (size <= MX_MEDIUM_MAX && alignment <= MX_SLICE_SIZE) {
        size_t rounded = size < alignment ? alignment : size;
        if (rounded <= MX_MEDIUM_MAX) {
            size_t block = mxi_size_class_block_size(mxi_size_class_of(rounded));
            if (block % alignment == 0) {
                return mxi_alloc(block);
            }
        }
        size_t need = size + alignment - MX_ALIGNMENT;
        if (need <= MX_MEDIUM_MAX) {
            uint8_t *p = mxi_alloc(need);
            if (p == NULL) {
                return NULL;
            }
            uintptr_t aligned = ((uintptr_t)p + alignment - 1) & ~(uintptr_t)(alignment - 1);
            if (aligned != (uintptr_t)p) {
                mx_page_t *page = mxi_segment_page_of(p);
                uintptr_t owner = mxi_atomic_load_relaxed(&page->owner);
                if (!(owner & MX_OWNER_ALIGNED)) {
                    mxi_atomic_store_relaxed(&page->owner, owner | MX_OWNER_ALIGNED);
                }
            }
            return (void *)aligned;
        }
    }
    return mxi_alloc_large(size, alignment);
}
