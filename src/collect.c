/* Collecting idle and exited threads' heaps (see collect.h).
 *
 * An exited thread's heap is on the abandoned list, and the abandon lock makes the collector
 * its only user (abandon.c). A live heap belongs to a thread that may come back at any moment
 * and touches its heap on the fast paths without a lock or an atomic. The collector locks it
 * out this way:
 *   1. it swaps the thread's TLS heap pointer for mxi_heap_held, whose empty direct table sends
 *      every malloc to the slow path, where the thread waits for its heap (heap.c), and whose
 *      address matches no page owner, so the thread's own frees take the remote path;
 *   2. it makes every thread of the process execute a full memory barrier (membarrier), so the
 *      thread either sees the swap on its next load of the pointer, or its increment of `busy`
 *      on entering the allocator is visible to the collector;
 *   3. it reads the thread's `busy`: zero means the thread is outside the allocator, and stays
 *      out of the heap until the pointer comes back; otherwise the collector gives up on it.
 * The owner's side of this is a plain increment and decrement of a TLS counter around each
 * call (heap.h); the cost of the ordering lies with the collector, which runs at most once per
 * purge delay and only when remote frees went into a heap whose owner is quiet.
 *
 * Locks: the collect lock (try-locked: one sweep at a time), then the abandon lock for the whole
 * sweep, which fixes every heap's state and keeps fork out, then whatever collecting a heap
 * takes (its own lock, the segment lock). */
#include "collect.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "abandon.h"
#include "heap.h"
#include "purge.h"
#include "remote.h"

mx_lock_t mxi_collect_lock = MX_LOCK_INIT;

/* Live heaps collected per sweep at most: one barrier serves them all. */
#define COLLECT_BATCH 32

enum { BARRIER_UNKNOWN, BARRIER_EXPEDITED, BARRIER_GLOBAL, BARRIER_NONE };
static int collect_barrier_kind = BARRIER_UNKNOWN;

/* The expedited barrier needs a one-time registration, which may wait for an RCU grace period
 * in a threaded process; it is done at the first sweep that needs it, never at start-up. The
 * global command needs none but is slower; without either, live heaps are not collected. */
static bool collect_barrier(void)
{
    if (collect_barrier_kind == BARRIER_UNKNOWN) {
        long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
        if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
            syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0) {
            collect_barrier_kind = BARRIER_EXPEDITED;
        } else if (cmds > 0 && (cmds & MEMBARRIER_CMD_GLOBAL)) {
            collect_barrier_kind = BARRIER_GLOBAL;
        } else {
            collect_barrier_kind = BARRIER_NONE;
        }
    }
    switch (collect_barrier_kind) {
    case BARRIER_EXPEDITED:
        return syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
    case BARRIER_GLOBAL:
        return syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0;
    default:
        return false;
    }
}

/* A live heap is worth collecting when its owner has not been through its slow path for a
 * whole sweep interval, and either other threads freed into it or it was not collected since
 * it went quiet: the empty pages a quiet owner kept for reuse go back too. With `force`, any
 * live heap. An owner that is still active keeps its hint for a later sweep. */
static bool collect_is_candidate(mx_heap_t *heap, mx_heap_t *self, bool force, bool *again)
{
    if (heap == self || heap->state != MX_HEAP_LIVE) {
        return false;
    }
    bool hinted = mxi_atomic_load_relaxed(&heap->remote_hint) != 0;
    uint64_t beat = mxi_atomic_load_relaxed(&heap->heartbeat);
    bool quiet = beat == heap->heartbeat_seen;
    heap->heartbeat_seen = beat;
    if (force) {
        return true;
    }
    if (!quiet) {
        *again |= hinted;
        return false;
    }
    return hinted || beat != heap->heartbeat_collected;
}

/* Step 1 for one heap: true if the thread's pointer now holds mxi_heap_held in its place. */
static bool collect_hold(mx_heap_t *heap)
{
    mx_heap_t *seen = atomic_exchange_explicit(heap->tls_slot, &mxi_heap_held,
                                               memory_order_acq_rel);
    if (seen == heap) {
        return true;
    }
    /* The thread is between heaps (starting or leaving one, inside the allocator): put back
     * what it wrote, unless it wrote again since. */
    mx_heap_t *expected = &mxi_heap_held;
    atomic_compare_exchange_strong_explicit(heap->tls_slot, &expected, seen, memory_order_release,
                                            memory_order_relaxed);
    return false;
}

static void collect_release_hold(mx_heap_t *heap)
{
    mx_heap_t *expected = &mxi_heap_held;
    atomic_compare_exchange_strong_explicit(heap->tls_slot, &expected, heap, memory_order_release,
                                            memory_order_relaxed);
}

static void collect_count(size_t pages)
{
    mxi_atomic_fetch_add_relaxed(&mxi_purge_counters.heaps_collected, 1);
    mxi_atomic_fetch_add_relaxed(&mxi_purge_counters.pages_collected, pages);
}

/* Under the collect and abandon locks. */
static bool collect_live_heaps(bool force)
{
    mx_heap_t *self = mxi_heap_tls();
    mx_heap_t *held[COLLECT_BATCH];
    size_t n = 0;
    bool again = false;
    for (mx_heap_t *heap = mxi_heap_registry_first(); heap != NULL; heap = heap->next_all) {
        if (!collect_is_candidate(heap, self, force, &again)) {
            continue;
        }
        if (n == COLLECT_BATCH) {
            again = true;
            break;
        }
        if (collect_hold(heap)) {
            held[n++] = heap;
        }
    }
    if (n == 0) {
        return again;
    }
    bool fenced = collect_barrier();
    for (size_t i = 0; i < n; i++) {
        mx_heap_t *heap = held[i];
        if (fenced && __atomic_load_n(heap->busy_slot, __ATOMIC_ACQUIRE) == 0) {
            mxi_atomic_store_relaxed(&heap->remote_hint, 0);
            heap->heartbeat_collected = heap->heartbeat_seen;
            collect_count(mxi_heap_release_empty_pages(heap));
        } else {
            again = true;
        }
        collect_release_hold(heap);
    }
    return again;
}

void mxi_collect_sweep(bool force)
{
    if (!mxi_lock_try(&mxi_collect_lock)) {
        return;
    }
    mxi_atomic_store_relaxed(&mxi_remote_hinted, 0);
    mxi_lock(&mxi_abandon_lock);
    size_t pages;
    size_t heaps = mxi_abandon_collect_locked(force, &pages);
    bool again = collect_live_heaps(force);
    mxi_unlock(&mxi_abandon_lock);
    mxi_unlock(&mxi_collect_lock);
    if (heaps != 0) {
        mxi_atomic_fetch_add_relaxed(&mxi_purge_counters.heaps_collected, heaps);
        mxi_atomic_fetch_add_relaxed(&mxi_purge_counters.pages_collected, pages);
    }
    if (again) {
        mxi_atomic_store_relaxed(&mxi_remote_hinted, 1);
    }
}
