/* Abandoned and spare heaps (see abandon.h).
 *
 * Locks, in order: mxi_abandon_lock guards the two lists and heap->state (never held while
 * taking another lock). Adoption then holds the abandoned heap's own lock while it rewrites
 * page owners, so a remote free that is waking a page of that heap either finishes before
 * (the page arrives on the wake list we take) or sees the new owner after (see remote.c). */
#include "abandon.h"

#include "heap.h"
#include "page.h"
#include "page_queue.h"
#include "remote.h"

mx_lock_t mxi_abandon_lock = MX_LOCK_INIT;
static mx_heap_t *abandoned_list;
static mx_heap_t *spare_list;
static _Atomic(size_t) abandoned_count;

static bool heap_has_pages(const mx_heap_t *heap)
{
    if (heap->parked != NULL || mxi_atomic_load_relaxed(&heap->wake) != NULL) {
        return true;
    }
    for (unsigned c = 1; c < MX_CLASS_COUNT; c++) {
        if (heap->queues[c].first != NULL) {
            return true;
        }
    }
    return false;
}

void mxi_abandon_heap(mx_heap_t *heap)
{
    mxi_heap_tls = &mxi_heap_empty;
    mxi_heap_release_empty_pages(heap);
    bool has_pages = heap_has_pages(heap);
    mxi_lock(&mxi_abandon_lock);
    if (has_pages) {
        heap->state = MX_HEAP_ABANDONED;
        heap->next_free = abandoned_list;
        abandoned_list = heap;
        mxi_atomic_fetch_add_relaxed(&abandoned_count, 1);
    } else {
        heap->state = MX_HEAP_SPARE;
        heap->next_free = spare_list;
        spare_list = heap;
    }
    mxi_unlock(&mxi_abandon_lock);
}

static mx_heap_t *abandon_pop(mx_heap_t **list)
{
    mxi_lock(&mxi_abandon_lock);
    mx_heap_t *heap = *list;
    if (heap != NULL) {
        *list = heap->next_free;
        heap->next_free = NULL;
        if (list == &abandoned_list) {
            mxi_atomic_fetch_add_relaxed(&abandoned_count, (size_t)-1);
        }
    }
    mxi_unlock(&mxi_abandon_lock);
    return heap;
}

mx_heap_t *mxi_abandon_take_abandoned(void)
{
    if (mxi_atomic_load_relaxed(&abandoned_count) == 0) {
        return NULL;
    }
    return abandon_pop(&abandoned_list);
}

mx_heap_t *mxi_abandon_take_spare(void)
{
    return abandon_pop(&spare_list);
}

static void adopt_page(mx_heap_t *heap, mx_page_t *page)
{
    uintptr_t flags = mxi_atomic_load_relaxed(&page->owner) & MX_OWNER_FLAGS;
    mxi_atomic_store_release(&page->owner, (uintptr_t)heap | flags);
}

bool mxi_abandon_adopt(mx_heap_t *heap)
{
    mx_heap_t *old = mxi_abandon_take_abandoned();
    if (old == NULL) {
        return false;
    }
    mxi_lock(&old->lock);
    for (unsigned c = 1; c < MX_CLASS_COUNT; c++) {
        mx_page_t *next;
        for (mx_page_t *page = old->queues[c].first; page != NULL; page = next) {
            next = page->next;
            adopt_page(heap, page);
            mxi_page_queue_push_back(heap, page);
        }
    }
    mx_page_t *next;
    for (mx_page_t *page = old->parked; page != NULL; page = next) {
        next = page->next;
        adopt_page(heap, page);
        page->prev = NULL;
        page->next = heap->parked;
        if (heap->parked != NULL) {
            heap->parked->prev = page;
        }
        heap->parked = page;
    }
    mx_page_t *woken = mxi_atomic_load_relaxed(&old->wake);
    mxi_atomic_store_relaxed(&old->wake, NULL);
    mxi_unlock(&old->lock);

    /* Pages woken while the old heap waited are ours now; hand them to our own wake list so
     * the next slow path brings them back like any other. */
    if (woken != NULL) {
        mxi_lock(&heap->lock);
        mx_page_t *tail = woken;
        while (tail->wake_next != NULL) {
            tail = tail->wake_next;
        }
        tail->wake_next = mxi_atomic_load_relaxed(&heap->wake);
        mxi_atomic_store_relaxed(&heap->wake, woken);
        mxi_unlock(&heap->lock);
    }

    mxi_heap_release_empty_pages(heap);
    mxi_heap_reset(old);
    mxi_lock(&mxi_abandon_lock);
    old->state = MX_HEAP_SPARE;
    old->next_free = spare_list;
    spare_list = old;
    mxi_unlock(&mxi_abandon_lock);
    return true;
}
