/* malloc's slow path and calloc (see alloc.h). Runs on the calling thread's own heap; the
 * locks it may take are the segment lock (new pages, large blocks) and, through the heap's
 * maintenance, the abandon lock. */
#include "alloc.h"

#include <errno.h>
#include <string.h>

#include "background.h"
#include "debug.h"
#include "purge.h"
#include "segment.h"
#include "size_class.h"

void *mxi_alloc_large(size_t size, size_t alignment)
{
    if (size > MX_MAX_REQUEST || alignment > MX_MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    mx_heap_t *heap = mxi_heap_current();
    mxi_purge_if_due(heap);
    if (size < MX_MIN_BLOCK) {
        size = MX_MIN_BLOCK;
    }
    /* Runs start on slice boundaries, so an alignment above a slice needs up to this much
     * room in front of the block. */
    size_t slack = alignment > MX_SLICE_SIZE ? alignment - MX_SLICE_SIZE : 0;
    if (size + slack > MX_LARGE_MAX) {
        mx_page_t *huge = mxi_segment_huge_alloc(size, alignment);
        if (huge == NULL && mxi_purge_all()) {
            huge = mxi_segment_huge_alloc(size, alignment);
        }
        return huge != NULL ? huge->start : NULL;
    }
    size_t slices = (size + slack + MX_GUARD_SIZE + MX_SLICE_SIZE - 1) / MX_SLICE_SIZE;
    mx_page_t *page = mxi_segment_claim((uint32_t)slices);
    if (page == NULL && mxi_purge_all()) {
        /* Empty pages and segments went back to the OS: room for one more try. */
        page = mxi_segment_claim((uint32_t)slices);
    }
    if (page == NULL) {
        return NULL;
    }
    mxi_background_note_claim();
    uint8_t *span = page->start;
    uint8_t *end = span + slices * MX_SLICE_SIZE - MX_GUARD_SIZE;
    uintptr_t start = ((uintptr_t)span + alignment - 1) & ~(uintptr_t)(alignment - 1);
    page->start = (uint8_t *)start;
    page->block_size = (size_t)(end - page->start);
    page->kind = MX_PAGE_LARGE;
    page->reserved = 1;
    mxi_atomic_store_relaxed(&page->capacity, 1);
    page->used = 1;
    page->key = mxi_page_make_key(page);
    mxi_atomic_store_relaxed(&page->thread_free, 0);
    /* Owner 0: no heap owns a large page, so every free of it takes the slow path and gives
     * the slices straight back, from any thread. */
    mxi_atomic_store_release(&page->owner, 0);
    return page->start;
}

void *mxi_alloc_slow(mx_heap_t *heap, size_t size)
{
    /* Medium sizes above the direct tables come here on every call: serve them first, from the
     * head of their queue, before the checks for rarer cases. A thread without a heap, or held
     * by a collector, has empty queues and falls through to them. */
    if (MX_LIKELY(size - (MX_DIRECT_MEDIUM_MAX + 1) < MX_MEDIUM_MAX - MX_DIRECT_MEDIUM_MAX)) {
        mx_page_t *page = heap->queues[mxi_size_class_of(size)].first;
        if (MX_LIKELY(page != NULL && page->free != NULL)) {
            return mxi_page_pop(page);
        }
    }
    if (MX_UNLIKELY(heap == &mxi_heap_held)) {
        heap = mxi_heap_current();
    }
    if (MX_UNLIKELY(heap == &mxi_heap_empty)) {
        heap = mxi_heap_init_thread();
        if (heap == NULL) {
            errno = ENOMEM;
            return NULL;
        }
    }
    if (MX_UNLIKELY(mxi_background_is_pending())) {
        /* Creating the thread allocates on this heap, and those calls' returns marked this
         * thread outside the allocator: mark it inside again before the heap is used, and take
         * it afresh, as an entry point would (heap.h). */
        mxi_background_start();
        mxi_enter();
        heap = mxi_heap_current();
    }
    if (size > MX_MEDIUM_MAX) {
        return mxi_alloc_large(size, MX_ALIGNMENT);
    }
    unsigned class_index = mxi_size_class_of(size);
    mx_page_t *page = heap->queues[class_index].first;
    if (page == NULL || page->free == NULL) {
        page = mxi_heap_page_for_class(heap, class_index);
        if (page == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        if (page->free == NULL) {
            return mxi_page_take_fresh(page);
        }
    }
    return mxi_page_pop(page);
}

void *mxi_alloc_slow_leave(mx_heap_t *heap, size_t size)
{
    void *p = mxi_alloc_slow(heap, size);
    mxi_leave();
    return p;
}

/* Fresh pages from the OS read as zero; memset would only fault them in. */
static bool alloc_is_fresh(const void *p)
{
    mx_page_t *page = mxi_segment_page_of(p);
    return page->kind != MX_PAGE_SMALL && page->is_zero;
}

void *mxi_alloc_zeroed_leave(size_t count, size_t size)
{
    size_t total;
    void *p = NULL;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
    } else {
        p = mxi_alloc(total);
        if (p != NULL && !alloc_is_fresh(p)) {
            memset(p, 0, total);
        }
    }
    mxi_leave();
    return p;
}
