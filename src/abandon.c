/* Pages of exited threads, and spare heaps (see abandon.h).
 *
 * An exiting thread's pages go to one pool shared by every thread, a heap object that belongs
 * to no thread, and its heap becomes a spare for the next new thread. Any thread that runs out
 * of pages of a class takes a few of that class from the pool, so blocks that outlive their
 * thread are surrounded by free blocks every thread can reuse. (Handing an exited thread's
 * heap whole to one successor made the pages of many threads pile up in one heap, whose owner
 * reused a fraction of them while the others claimed new pages: with 8 threads coming and
 * going, 4x the memory the live blocks needed.)
 *
 * Locks, in order: mxi_abandon_lock guards the pool's queues and parked list, the spare list
 * and every heap's state; an exiting heap's own lock, then the pool's lock, guard the two wake
 * lists while pages change owner. A remote free that is waking a page reads its owner, takes
 * that heap's lock and checks the owner again (remote.c): while pages move it waits on one of
 * the two locks and then finds the page's new owner. */
#include "abandon.h"

#include "heap.h"
#include "page.h"
#include "page_queue.h"
#include "purge.h"
#include "trim.h"

/* Pages a thread takes from the pool at a time: enough to refill a class, few enough that the
 * pool's pages spread over the threads that need them. */
#define ABANDON_ADOPT_PAGES 4

mx_lock_t mxi_abandon_lock = MX_LOCK_INIT;
static mx_heap_t *spare_list;

/* The pool. Its state says ABANDONED, which is how statistics tell its pages apart; it is in no
 * list and never a thread's heap. */
static mx_heap_t pool = {
    .direct = {[0 ... MX_DIRECT_COUNT - 1] = &mxi_page_empty},
    .direct_medium = {[0 ... MX_DIRECT_MEDIUM_COUNT - 1] = &mxi_page_empty},
    .state = MX_HEAP_ABANDONED,
};

/* Pages in the pool, queued or parked; read without the lock to skip it when empty. */
static _Atomic(size_t) pool_pages;

static void pool_count(size_t added, size_t removed)
{
    size_t n = mxi_atomic_load_relaxed(&pool_pages);
    mxi_atomic_store_relaxed(&pool_pages, n + added - removed);
}

/* MX_OWNER_TINY belongs to the page's class, not to its owner: it is always kept. */
static void abandon_set_owner(mx_page_t *page, mx_heap_t *heap, uintptr_t keep_flags)
{
    uintptr_t flags = mxi_atomic_load_relaxed(&page->owner) & (keep_flags | MX_OWNER_TINY);
    mxi_atomic_store_release(&page->owner, (uintptr_t)heap | flags);
}

/* Under `from`'s lock: the parked pages that remote frees woke come back into from's queues,
 * as the owner's slow path would have done, so they move like any queued page. */
static void abandon_unpark_woken_locked(mx_heap_t *from)
{
    mx_page_t *next;
    for (mx_page_t *page = mxi_atomic_load_relaxed(&from->wake); page != NULL; page = next) {
        next = page->wake_next;
        page->is_wake_pending = false;
        if (page->is_parked) {
            mxi_page_queue_unpark(from, page);
        }
    }
    mxi_atomic_store_relaxed(&from->wake, NULL);
}

/* Under the abandon lock, from's lock and the pool's lock: every page of `from` joins the pool.
 * Returns how many. */
static size_t abandon_move_to_pool_locked(mx_heap_t *from)
{
    abandon_unpark_woken_locked(from);
    size_t moved = 0;
    for (unsigned c = 1; c < MX_CLASS_COUNT; c++) {
        mx_page_queue_t *q = &from->queues[c];
        for (mx_page_t *page = q->first; page != NULL; page = q->first) {
            mxi_page_queue_remove(from, page);
            abandon_set_owner(page, &pool, MX_OWNER_ALIGNED | MX_OWNER_TRIMMED);
            mxi_page_queue_push_back(&pool, page);
            moved++;
        }
    }
    for (mx_page_t *page = from->parked; page != NULL; page = from->parked) {
        mxi_page_queue_unlink_parked(from, page);
        abandon_set_owner(page, &pool, MX_OWNER_FLAGS);
        mxi_page_queue_link_parked(&pool, page);
        moved++;
    }
    return moved;
}

/* Under the abandon lock. */
static void abandon_make_spare_locked(mx_heap_t *heap)
{
    mxi_heap_reset(heap);
    heap->state = MX_HEAP_SPARE;
    heap->next_free = spare_list;
    spare_list = heap;
}

void mxi_abandon_heap(mx_heap_t *heap)
{
    mxi_atomic_store_release(&mxi_thread.heap, &mxi_heap_empty);
    mxi_heap_release_empty_pages(heap, NULL, NULL);
    mxi_lock(&mxi_abandon_lock);
    mxi_lock(&heap->lock);
    mxi_lock(&pool.lock);
    size_t moved = abandon_move_to_pool_locked(heap);
    mxi_unlock(&pool.lock);
    mxi_unlock(&heap->lock);
    pool_count(moved, 0);
    abandon_make_spare_locked(heap);
    mxi_unlock(&mxi_abandon_lock);
    mxi_purge_after_thread_exit();
}

mx_heap_t *mxi_abandon_take_spare(void)
{
    mxi_lock(&mxi_abandon_lock);
    mx_heap_t *heap = spare_list;
    if (heap != NULL) {
        spare_list = heap->next_free;
        heap->next_free = NULL;
    }
    mxi_unlock(&mxi_abandon_lock);
    return heap;
}

/* Under the abandon lock and the pool's lock: the pool's woken pages of the class (they have
 * free blocks) and up to `limit` queued ones leave for heap. Parked pages nobody freed into stay
 * in the pool. Returns how many moved. */
static size_t abandon_take_class_locked(mx_heap_t *heap, unsigned class_index, size_t limit)
{
    size_t moved = 0;
    mx_page_t *kept = NULL;
    mx_page_t **tail = &kept;
    mx_page_t *next;
    for (mx_page_t *page = mxi_atomic_load_relaxed(&pool.wake); page != NULL; page = next) {
        next = page->wake_next;
        if (page->class_index != class_index) {
            *tail = page;
            tail = &page->wake_next;
            continue;
        }
        page->is_wake_pending = false;
        if (page->is_parked) {
            mxi_page_queue_unlink_parked(&pool, page);
            page->is_parked = false;
        } else {
            mxi_page_queue_remove(&pool, page);
        }
        abandon_set_owner(page, heap, MX_OWNER_ALIGNED | MX_OWNER_TRIMMED);
        mxi_page_queue_push_back(heap, page);
        moved++;
    }
    *tail = NULL;
    mxi_atomic_store_relaxed(&pool.wake, kept);
    mx_page_queue_t *q = &pool.queues[class_index];
    for (mx_page_t *page = q->first; page != NULL && moved < limit; page = q->first) {
        mxi_page_queue_remove(&pool, page);
        abandon_set_owner(page, heap, MX_OWNER_ALIGNED | MX_OWNER_TRIMMED);
        mxi_page_queue_push_back(heap, page);
        moved++;
    }
    return moved;
}

bool mxi_abandon_adopt_class(mx_heap_t *heap, unsigned class_index)
{
    if (mxi_atomic_load_relaxed(&pool_pages) == 0) {
        return false;
    }
    mxi_lock(&mxi_abandon_lock);
    mxi_lock(&pool.lock);
    size_t moved = abandon_take_class_locked(heap, class_index, ABANDON_ADOPT_PAGES);
    mxi_unlock(&pool.lock);
    pool_count(0, moved);
    mxi_unlock(&mxi_abandon_lock);
    return moved != 0;
}

size_t mxi_abandon_collect_locked(bool force, size_t *pages, size_t *trimmed)
{
    *pages = 0;
    *trimmed = 0;
    if (!force && mxi_atomic_load_relaxed(&pool.remote_hint) == 0) {
        return 0;
    }
    mxi_atomic_store_relaxed(&pool.remote_hint, 0);
    *pages = mxi_heap_release_empty_pages(&pool, NULL, NULL);
    pool_count(0, *pages);
    if (force) {
        *trimmed = mxi_heap_trim_pages(&pool, MX_TRIM_ALL, NULL, NULL);
    }
    return 1;
}

void mxi_abandon_after_fork(mx_heap_t *self)
{
    mxi_lock_reset(&pool.lock);
    for (mx_heap_t *heap = mxi_heap_registry_first(); heap != NULL; heap = heap->next_all) {
        if (heap->state != MX_HEAP_LIVE || heap == self) {
            continue;
        }
        /* The thread's TLS block was copied into the child with the rest of memory. */
        if (__atomic_load_n(&heap->thread->state, __ATOMIC_RELAXED) == MX_THREAD_INSIDE) {
            heap->state = MX_HEAP_LOST;
            continue;
        }
        pool_count(abandon_move_to_pool_locked(heap), 0);
        abandon_make_spare_locked(heap);
    }
}
