/* Cross-thread frees (see remote.h).
 *
 * Atomics: page->thread_free (CAS push by any thread; exchange-like CAS by the owner; the
 * PARKED bit set by the owner, cleared by the first remote free after it). page->owner is read
 * here to find the heap to wake.
 * Locks: heap->lock guards heap->wake. A waker reads page->owner, locks that heap, and checks
 * the owner again under the lock, because an adopter moves pages between heaps holding the old
 * heap's lock. It is the only lock taken on this path and nothing is locked inside it. */
#include "remote.h"

#include "heap.h"
#include "lock.h"
#include "page.h"
#include "purge.h"

/* Exactly one remote free observes PARKED (it clears the bit in the same CAS), so a page is
 * pushed onto a wake list at most once per parking. The CAS acquires, so the waker sees
 * everything the owner wrote before parking. */
static void remote_wake(mx_page_t *page)
{
    mx_heap_t *heap;
    for (;;) {
        heap = (mx_heap_t *)(mxi_atomic_load_acquire(&page->owner) & ~MX_OWNER_FLAGS);
        mxi_lock(&heap->lock);
        if ((mx_heap_t *)(mxi_atomic_load_relaxed(&page->owner) & ~MX_OWNER_FLAGS) == heap) {
            break;
        }
        mxi_unlock(&heap->lock);
    }
    page->wake_next = mxi_atomic_load_relaxed(&heap->wake);
    mxi_atomic_store_relaxed(&heap->wake, page);
    mxi_unlock(&heap->lock);
}

_Atomic(uint8_t) mxi_remote_hinted;

/* Remote frees between two looks at the purge clock, per thread: reading the clock is cheap
 * but not free, and a sweep interval holds many thousands of frees. */
#define REMOTE_TICK_EVERY 64

static MX_TLS unsigned remote_tick_count;

/* The owner may be idle, in which case only a collector will ever take these blocks: tell it.
 * A test before the store keeps many freers from writing the same line over and over. The
 * owner read here may be stale (the page emptied and went back meanwhile): a hint on the wrong
 * heap costs one wasted look. */
static void remote_hint(const mx_page_t *page)
{
    mx_heap_t *heap = (mx_heap_t *)(mxi_atomic_load_relaxed(&page->owner) & ~MX_OWNER_FLAGS);
    if (heap != NULL && mxi_atomic_load_relaxed(&heap->remote_hint) == 0) {
        mxi_atomic_store_relaxed(&heap->remote_hint, 1);
        mxi_atomic_store_relaxed(&mxi_remote_hinted, 1);
    }
}

void mxi_remote_free(mx_page_t *page, mx_block_t *block)
{
    uintptr_t old = mxi_atomic_load_relaxed(&page->thread_free);
    uintptr_t word;
    do {
        mxi_block_set_next(page, block, MX_THREAD_FREE_HEAD(old));
        word = (old & ~(MX_THREAD_FREE_ONE - 1)) + MX_THREAD_FREE_ONE + (uintptr_t)block;
    } while (!mxi_atomic_cas_weak_acq_rel(&page->thread_free, &old, word));
    if (old & MX_THREAD_FREE_PARKED) {
        remote_wake(page);
    }
    remote_hint(page);
    if (++remote_tick_count % REMOTE_TICK_EVERY == 0) {
        mxi_purge_if_due(NULL);
    }
}

mx_block_t *mxi_remote_take(mx_page_t *page, uint32_t *count)
{
    /* Only called on pages that are not parked, so the flag bits are clear: exchange with 0. */
    if (MX_THREAD_FREE_HEAD(mxi_atomic_load_relaxed(&page->thread_free)) == NULL) {
        *count = 0;
        return NULL;
    }
    uintptr_t old = atomic_exchange_explicit(&page->thread_free, 0, memory_order_acquire);
    *count = MX_THREAD_FREE_COUNT(old);
    return MX_THREAD_FREE_HEAD(old);
}

bool mxi_remote_try_park(mx_page_t *page)
{
    uintptr_t expected = 0;
    return mxi_atomic_cas_strong_acq_rel(&page->thread_free, &expected, MX_THREAD_FREE_PARKED);
}

bool mxi_remote_unpark(mx_page_t *page)
{
    uintptr_t old = mxi_atomic_fetch_and_acq_rel(&page->thread_free, ~MX_THREAD_FREE_PARKED);
    return (old & MX_THREAD_FREE_PARKED) != 0;
}

mx_page_t *mxi_remote_take_woken(mx_heap_t *heap)
{
    if (mxi_atomic_load_relaxed(&heap->wake) == NULL) {
        return NULL;
    }
    mxi_lock(&heap->lock);
    mx_page_t *list = mxi_atomic_load_relaxed(&heap->wake);
    mxi_atomic_store_relaxed(&heap->wake, NULL);
    mxi_unlock(&heap->lock);
    return list;
}
