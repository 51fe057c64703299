/* free's slow path and the validation shared with realloc and malloc_usable_size.
 *
 * Detection of bad frees, cheapest first: the segment map (an address that is not ours), the
 * page descriptor (an address on a free slice or in metadata), the block grid (an address that
 * is not the start of a block, where the page does not serve aligned requests), and the
 * live-block bitmap (a double free). The fast path keeps the first and the last.
 * Locks: none here; releasing a large page takes the segment lock (in segment.c). */
#include "free.h"

#include <errno.h>

#include "error.h"
#include "remote.h"

static mx_page_t *free_find_page(const char *op, const void *p)
{
    if (!mxi_segment_map_contains((uintptr_t)p)) {
        mxi_fatal(op, "invalid pointer", p, " (not allocated by malloc-x)");
    }
    mx_segment_t *seg = mxi_segment_of(p);
    if ((uintptr_t)p - (uintptr_t)seg >= seg->size) {
        mxi_fatal(op, "invalid pointer", p, " (not allocated by malloc-x)");
    }
    mx_page_t *page = mxi_segment_page_of(p);
    if (page->kind == MX_PAGE_NONE) {
        mxi_fatal(op, "invalid pointer", p, " (not an allocated block)");
    }
    return page;
}

static void free_report_freed(const char *op, const void *p)
{
    if (op[0] == 'f') {
        mxi_fatal(op, "double free of", p, "");
    }
    mxi_fatal(op, "pointer", p, " is already free");
}

mx_page_t *mxi_free_check(const char *op, const void *p)
{
    mx_page_t *page = free_find_page(op, p);
    if (page->kind != MX_PAGE_SMALL) {
        if ((const uint8_t *)p != page->start) {
            mxi_fatal(op, "invalid pointer", p, " (not the start of a block)");
        }
        return page;
    }
    const mx_block_t *block = p;
    if (mxi_atomic_load_relaxed(&page->owner) & MX_OWNER_ALIGNED) {
        block = mxi_page_block_of(page, p);
    }
    if (!mxi_page_is_block_start(page, block)) {
        mxi_fatal(op, "invalid pointer", p, " (not the start of a block)");
    }
    if (!mxi_live_bits_test(mxi_page_live_bits(page), mxi_live_bit_of(block))) {
        free_report_freed(op, p);
    }
    return page;
}

size_t mxi_free_usable_from(const mx_page_t *page, const void *p)
{
    if (page->kind != MX_PAGE_SMALL) {
        return page->block_size - (size_t)((const uint8_t *)p - page->start);
    }
    const uint8_t *block = (const uint8_t *)mxi_page_block_of(page, p);
    return page->block_size - (size_t)((const uint8_t *)p - block);
}

/* mxi_free_check has ruled out every kind but small, large and huge. */
void mxi_free_slow(void *p)
{
    if (p == NULL) {
        return;
    }
    int saved = errno;
    mx_page_t *page = mxi_free_check("free", p);
    if (page->kind == MX_PAGE_LARGE) {
        mxi_segment_release(page);
    } else if (page->kind == MX_PAGE_HUGE) {
        mxi_segment_huge_free(page);
    } else {
        mx_block_t *block = mxi_page_block_of(page, p);
        /* While a collector holds this thread's heap (collect.c) the owner's own free goes
         * the remote way, which is correct from any thread and needs no wait. */
        mx_heap_t *heap = mxi_heap_tls();
        uintptr_t owner = mxi_atomic_load_relaxed(&page->owner);
        mx_live_bits_t *bits = mxi_page_live_bits(page);
        if ((owner & ~MX_OWNER_FLAGS) == (uintptr_t)heap) {
            mxi_live_bits_clear(bits, mxi_live_bit_of(block));
            mxi_heap_free_flagged(heap, page, block);
        } else {
            /* Checked above, but another thread may have freed it since. */
            if (!mxi_live_bits_clear_atomic(bits, mxi_live_bit_of(block))) {
                free_report_freed("free", p);
            }
            mxi_remote_free(page, block);
        }
    }
    errno = saved;
}

void mxi_free_slow_leave(void *p)
{
    mxi_free_slow(p);
    mxi_leave();
}
