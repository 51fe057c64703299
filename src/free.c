/* free's slow path and the validation shared with realloc and malloc_usable_size.
 *
 * Detection of bad frees, cheapest first: the segment map (an address that is not ours), the
 * page descriptor (an address on a free slice or in metadata), the block grid (an address that
 * is not the start of a block, where the page does not serve aligned requests), and the link
 * every free block holds (a double free). The fast path keeps the first, and a filter for the
 * last that sends every block that may be free here.
 * Locks: none here; releasing a large page takes the segment lock (in segment.c). */
#include "free.h"

#include <errno.h>

#include "error.h"
#include "remote.h"
#include "trim.h"

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

/* Walks one of the page's lists, validating each link before following it (a write after
 * free may have changed one), and at most `capacity` steps (or it may have made a loop). */
static bool free_list_contains(const mx_page_t *page, const mx_block_t *list,
                               const mx_block_t *block)
{
    uint32_t capacity = mxi_atomic_load_relaxed(&page->capacity);
    for (uint32_t n = 0; list != NULL && n <= capacity; n++) {
        if (list == block) {
            return true;
        }
        if (!mxi_page_is_block_start(page, list)) {
            return false;
        }
        list = mxi_block_next(page, list);
    }
    return false;
}

/* Called when mxi_block_maybe_free let the block through. A free block's link decodes to NULL
 * or to a carved block of the page; a live block's word passes that test with a chance of
 * about 2^-51. The owner settles even that case by finding the block on one of the page's
 * lists: nobody else changes them while it runs here, and remote frees only ever replace the
 * head of thread_free, so the links below a head it has read stay put. Other threads cannot
 * walk lists the owner is changing and take the link test as the answer. */
static bool free_block_is_free(const mx_page_t *page, const mx_block_t *block)
{
    const mx_block_t *next = mxi_block_next(page, block);
    if (next != NULL && !mxi_page_is_block_start(page, next)) {
        return false;
    }
    uintptr_t owner = mxi_atomic_load_relaxed(&page->owner) & ~MX_OWNER_FLAGS;
    if (owner != (uintptr_t)mxi_heap_tls()) {
        return true;
    }
    const mx_block_t *remote = MX_THREAD_FREE_HEAD(mxi_atomic_load_acquire(&page->thread_free));
    return free_list_contains(page, page->free, block) ||
           free_list_contains(page, page->local_free, block) ||
           free_list_contains(page, remote, block);
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
    /* Trimmed pages are rare: the test of the word saves the call on every other one. */
    if ((mxi_block_maybe_free(page, block) && free_block_is_free(page, block)) ||
        (mxi_atomic_load_relaxed(&page->trimmed) != 0 && mxi_page_block_is_trimmed(page, block))) {
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
        /* mxi_free_check found p to be a block start unless the page serves aligned requests;
         * the division that finds the block is then not needed again. */
        uintptr_t owner = mxi_atomic_load_relaxed(&page->owner);
        mx_block_t *block = owner & MX_OWNER_ALIGNED ? mxi_page_block_of(page, p) : p;
        /* While a collector holds this thread's heap (collect.c) the owner's own free goes
         * the remote way, which is correct from any thread and needs no wait. */
        mx_heap_t *heap = mxi_heap_tls();
        if ((owner & ~MX_OWNER_FLAGS) == (uintptr_t)heap) {
            mxi_heap_free_flagged(heap, page, block);
        } else {
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

void mxi_free_parked(mx_heap_t *heap, mx_page_t *page, mx_block_t *block)
{
    if (page->used == 1 || !mxi_page_is_block_start(page, block) ||
        mxi_block_maybe_free(page, block)) {
        mxi_free_slow(block);
        return;
    }
    mxi_heap_free_flagged(heap, page, block);
}

void mxi_free_parked_leave(mx_heap_t *heap, mx_page_t *page, mx_block_t *block)
{
    mxi_free_parked(heap, page, block);
    mxi_leave();
}
