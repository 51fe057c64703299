/* Abandoned and spare heaps (see abandon.h).
 *
 * Locks, in order: mxi_abandon_lock guards the two lists and heap->state; adopting one class's
 * pages takes an abandoned heap's lock inside it (the documented order: abandon, then heap). Adoption then holds the abandoned heap's own lock while it rewrites
 * page owners, so a remote free that is waking a page of that heap either finishes before
 * (the page arrives on the wake list we take) or sees the new owner after (see remote.c). */
#include "abandon.h"

#include "heap.h"
#include "options.h"
#include "page.h"
#include "page_queue.h"
#include "purge.h"
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
    mxi_atomic_store_release(&mxi_thread.heap, &mxi_heap_empty);
    mxi_heap_release_empty_pages(heap);
    bool has_pages = heap_has_pages(heap);
    mxi_lock(&mxi_abandon_lock);
    int64_t now = has_pages ? mxi_now_ms() : 0;
    if (has_pages) {
        heap->state = MX_HEAP_ABANDONED;
        heap->abandoned_at_ms = now;
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

/* The oldest abandoned heap, if it has waited at least `min_age_ms`. New threads take the
 * newest (abandon_pop); a running thread adopts only a heap that no new thread came for within
 * the purge delay, since it takes every page of it and reuses only those of the classes it
 * allocates: a program that keeps starting threads (a pool that churns) hands each exited
 * heap to the next thread whole, where all of it is reused. */
static mx_heap_t *abandon_take_oldest(int64_t min_age_ms)
{
    if (mxi_atomic_load_relaxed(&abandoned_count) == 0) {
        return NULL;
    }
    int64_t now = mxi_now_ms();
    mxi_lock(&mxi_abandon_lock);
    mx_heap_t **link = &abandoned_list;
    while (*link != NULL && (*link)->next_free != NULL) {
        link = &(*link)->next_free;
    }
    mx_heap_t *heap = *link;
    if (heap != NULL && now - heap->abandoned_at_ms >= min_age_ms) {
        *link = NULL;
        mxi_atomic_fetch_add_relaxed(&abandoned_count, (size_t)-1);
    } else {
        heap = NULL;
    }
    mxi_unlock(&mxi_abandon_lock);
    return heap;
}

static bool abandon_has_class(const mx_heap_t *old, unsigned class_index)
{
    if (old->queues[class_index].first != NULL) {
        return true;
    }
    for (const mx_page_t *page = old->parked; page != NULL; page = page->next) {
        if (page->class_index == class_index) {
            return true;
        }
    }
    return false;
}

/* Under the abandon lock and old->lock: every page of one class leaves old for heap. Queued
 * pages join heap's queue; parked pages that a remote free woke (they sit on old's wake list)
 * are unparked into it, and leave the wake list, which only old's lock guards; parked pages
 * nobody freed into yet stay parked, now in heap. */
static void abandon_take_class_locked(mx_heap_t *heap, mx_heap_t *old, unsigned class_index)
{
    mx_page_queue_t *q = &old->queues[class_index];
    for (mx_page_t *page = q->first; page != NULL; page = q->first) {
        mxi_page_queue_remove(old, page);
        adopt_page(heap, page);
        mxi_page_queue_push_back(heap, page);
    }
    mx_page_t *kept = NULL;
    mx_page_t **tail = &kept;
    mx_page_t *next;
    for (mx_page_t *page = mxi_atomic_load_relaxed(&old->wake); page != NULL; page = next) {
        next = page->wake_next;
        if (page->class_index != class_index) {
            *tail = page;
            tail = &page->wake_next;
            continue;
        }
        mxi_page_queue_unlink_parked(old, page);
        page->is_parked = false;
        page->is_wake_pending = false;
        uintptr_t flags = mxi_atomic_load_relaxed(&page->owner) & MX_OWNER_ALIGNED;
        mxi_atomic_store_release(&page->owner, (uintptr_t)heap | flags);
        mxi_page_queue_push_back(heap, page);
    }
    *tail = NULL;
    mxi_atomic_store_relaxed(&old->wake, kept);
    for (mx_page_t *page = old->parked; page != NULL; page = next) {
        next = page->next;
        if (page->class_index == class_index) {
            mxi_page_queue_unlink_parked(old, page);
            adopt_page(heap, page);
            mxi_page_queue_link_parked(heap, page);
        }
    }
}

bool mxi_abandon_adopt_class(mx_heap_t *heap, unsigned class_index)
{
    if (mxi_atomic_load_relaxed(&abandoned_count) == 0) {
        return false;
    }
    bool adopted = false;
    mxi_lock(&mxi_abandon_lock);
    for (mx_heap_t *old = abandoned_list; old != NULL && !adopted; old = old->next_free) {
        if (!abandon_has_class(old, class_index)) {
            continue;
        }
        mxi_lock(&old->lock);
        abandon_take_class_locked(heap, old, class_index);
        mxi_unlock(&old->lock);
        adopted = true;
    }
    mxi_unlock(&mxi_abandon_lock);
    return adopted;
}

bool mxi_abandon_adopt(mx_heap_t *heap, bool force)
{
    mx_heap_t *old = abandon_take_oldest(force ? 0 : mxi_options.purge_delay_ms);
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
        mxi_page_queue_link_parked(heap, page);
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

size_t mxi_abandon_collect_locked(bool force, size_t *pages)
{
    size_t heaps = 0;
    *pages = 0;
    mx_heap_t **link = &abandoned_list;
    while (*link != NULL) {
        mx_heap_t *heap = *link;
        if (!force && mxi_atomic_load_relaxed(&heap->remote_hint) == 0) {
            link = &heap->next_free;
            continue;
        }
        mxi_atomic_store_relaxed(&heap->remote_hint, 0);
        *pages += mxi_heap_release_empty_pages(heap);
        heaps++;
        if (heap_has_pages(heap)) {
            link = &heap->next_free;
            continue;
        }
        *link = heap->next_free;
        mxi_atomic_fetch_add_relaxed(&abandoned_count, (size_t)-1);
        mxi_heap_reset(heap);
        heap->state = MX_HEAP_SPARE;
        heap->next_free = spare_list;
        spare_list = heap;
    }
    return heaps;
}

void mxi_abandon_after_fork(mx_heap_t *self)
{
    int64_t now = mxi_now_ms();
    for (mx_heap_t *heap = mxi_heap_registry_first(); heap != NULL; heap = heap->next_all) {
        if (heap->state != MX_HEAP_LIVE || heap == self) {
            continue;
        }
        /* The thread's TLS block was copied into the child with the rest of memory. */
        if (__atomic_load_n(heap->calls_slot, __ATOMIC_RELAXED) & 1) {
            heap->state = MX_HEAP_LOST;
            continue;
        }
        if (heap_has_pages(heap)) {
            heap->state = MX_HEAP_ABANDONED;
            heap->abandoned_at_ms = now;
            heap->next_free = abandoned_list;
            abandoned_list = heap;
            mxi_atomic_fetch_add_relaxed(&abandoned_count, 1);
        } else {
            mxi_heap_reset(heap);
            heap->state = MX_HEAP_SPARE;
            heap->next_free = spare_list;
            spare_list = heap;
        }
    }
}
