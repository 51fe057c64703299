/* Collecting idle and exited threads' heaps (see collect.h).
 *
 * The pool of exited threads' pages is used under the abandon lock, which the collector holds
 * (abandon.c). A live heap belongs to a thread that may come back at any moment
 * and touches its heap on the fast paths without a lock or an atomic. The thread stores
 * INSIDE in its `state` on every entry into the allocator and OUTSIDE on every return
 * (heap.h). A sweep that finds OUTSIDE writes PROBED over it (a CAS); a later sweep that still
 * finds PROBED knows the thread made no call in between: it is idle, not merely off its slow
 * path. The collector then locks the thread out this way:
 *   1. it swaps the thread's TLS heap pointer for mxi_heap_held, whose empty direct table sends
 *      every malloc to the slow path, where the thread waits for its heap (heap.c), and whose
 *      address matches no page owner, so the thread's own frees take the remote path;
 *   2. it makes every thread of the process execute a full memory barrier (membarrier), so the
 *      thread either sees the swap on its next load of the pointer, or its store of INSIDE on
 *      entering the allocator is visible to the collector;
 *   3. it reads `state` again: still PROBED means the thread has not entered since and stays
 *      out of the heap until the pointer comes back; otherwise the collector puts the pointer
 *      back and leaves the heap alone.
 * The owner's side of this is two plain stores per call; the cost of the ordering lies with the
 * collector, which runs at most once per purge delay and only on threads that made no
 * allocator call for that long.
 *
 * Locks: the collect lock (try-locked: one sweep at a time), then the abandon lock for the whole
 * sweep, which fixes every heap's state and keeps fork out, then whatever collecting a heap
 * takes (its own lock, the segment lock). */
#include "collect.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "abandon.h"
#include "heap.h"
#include "options.h"
#include "os.h"
#include "purge.h"
#include "remote.h"
#include "trim.h"

mx_lock_t mxi_collect_lock = MX_LOCK_INIT;

/* Live heaps collected per sweep at most: one barrier serves them all. */
#define COLLECT_BATCH 32

/* A collection trims a heap (trim.h) once per idle period of its thread, when the thread has
 * been idle for this many purge delays, and only its pages at most half in use. Trimming walks
 * the free lists of those pages, and memory it gives back costs a page fault when used again;
 * a thread that is only waiting for a core is idle to a sweep too. Trimming at the first
 * collection of an idle period made larson 16B-8KiB with 8 threads on 2 cores 10 to 21%
 * slower (10% even with only pages at most an eighth in use), and trimming at every
 * collection of a heap that kept receiving remote frees while idle made a threaded test of
 * CPython's 30 times slower. */
#define COLLECT_TRIM_IDLE_DELAYS 8
#define COLLECT_TRIM_MAX_USED 4

static bool collect_trim_is_pending(const mx_heap_t *heap, int64_t now)
{
    int64_t delay = mxi_options.purge_delay_ms > 0 ? mxi_options.purge_delay_ms : 1;
    return heap->trimmed_at_ms < heap->probed_at_ms &&
           now - heap->probed_at_ms >= COLLECT_TRIM_IDLE_DELAYS * delay;
}

enum { BARRIER_UNKNOWN, BARRIER_EXPEDITED, BARRIER_GLOBAL, BARRIER_NONE };
static int collect_barrier_kind = BARRIER_UNKNOWN;

/* The expedited barrier needs a one-time registration, which is quick in a process with one
 * thread but waits for an RCU grace period (13 ms here) in a threaded one: a malloc that did
 * it at its first sweep was the slowest call of bench/latency by a factor of a hundred. So it
 * is done at load time and in a fork child, both single-threaded as a rule. The global command
 * needs none but is slower; without either, live heaps are not collected. */
static void collect_barrier_setup(void)
{
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

void mxi_collect_init(void)
{
    int saved = errno;
    collect_barrier_setup();
    errno = saved;
}

static bool collect_barrier(void)
{
    if (collect_barrier_kind == BARRIER_UNKNOWN) {
        collect_barrier_setup();
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

/* Probes a thread outside the allocator: true if its state is now PROBED. */
static bool collect_probe(mx_heap_t *heap)
{
    unsigned long state = MX_THREAD_OUTSIDE;
    return __atomic_compare_exchange_n(&heap->thread->state, &state, MX_THREAD_PROBED, false,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ||
           state == MX_THREAD_PROBED;
}

/* A live heap is worth collecting when its thread made no allocator call for a whole sweep
 * interval, and either other threads freed into it since, or it was not collected since it
 * went idle (the empty pages an idle thread kept for reuse go back too), or its trim is due.
 * With `force`, any live heap whose thread is outside the allocator. A hinted heap of an
 * active thread is looked at again at the next sweep. *busy is set unless the heap is idle
 * with nothing left to do for it: collected, and trimmed since it went idle. */
static bool collect_is_candidate(mx_heap_t *heap, mx_heap_t *self, bool force, int64_t now,
                                 bool *again, bool *busy)
{
    if (heap == self || heap->state != MX_HEAP_LIVE) {
        return false;
    }
    bool hinted = mxi_atomic_load_relaxed(&heap->remote_hint) != 0;
    bool idle = __atomic_load_n(&heap->thread->state, __ATOMIC_ACQUIRE) == MX_THREAD_PROBED;
    if (!idle) {
        *busy = true;
        heap->idle_collected = false;
        bool probed = collect_probe(heap);
        if (probed) {
            heap->probed_at_ms = now;
        }
        if (!probed || !force) {
            *again |= hinted;
            return false;
        }
    }
    bool candidate =
        force || hinted || !heap->idle_collected || collect_trim_is_pending(heap, now);
    *busy |= candidate || heap->trimmed_at_ms < heap->probed_at_ms;
    return candidate;
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

static bool collect_thread_is_back(const mx_heap_t *heap)
{
    return __atomic_load_n(&heap->thread->state, __ATOMIC_ACQUIRE) != MX_THREAD_PROBED;
}

/* Puts the thread's heap pointer back and wakes the thread if it entered the allocator since it
 * was probed: it may be asleep waiting for the heap (mxi_heap_current). A thread that enters
 * after the check sees its heap: the kernel orders its store of INSIDE before its look at the
 * pointer in the wait, and the exchange here orders the pointer before the check. The woken
 * thread then gets the core at once if it shares this one: without the yield it waited for the
 * rest of this thread's time slice, 1.5 to 4 ms after the wake. */
static void collect_release_hold(mx_heap_t *heap)
{
    mx_heap_t *expected = &mxi_heap_held;
    atomic_compare_exchange_strong_explicit(heap->tls_slot, &expected, heap, memory_order_seq_cst,
                                            memory_order_relaxed);
    if (collect_thread_is_back(heap)) {
        mxi_os_wake(mxi_heap_wait_word(heap->tls_slot));
        sched_yield();
    }
}

static void collect_count(size_t pages)
{
    mxi_atomic_fetch_add_relaxed(&mxi_purge_counters.heaps_collected, 1);
    mxi_atomic_fetch_add_relaxed(&mxi_purge_counters.pages_collected, pages);
}

/* The heaps one sweep holds, and the one it is collecting. */
typedef struct collect_batch {
    mx_heap_t *held[COLLECT_BATCH];
    size_t n;
    size_t current;
    bool again;
} collect_batch_t;

/* Between pages of a collection (mx_heap_walk_stop_t): a held heap whose thread has entered the
 * allocator since the barrier goes back at once, as the thread is waiting for it in its slow
 * path (heap.c). Collecting the heap of a thread that allocated 512 MiB took tens of
 * milliseconds, and other idle threads held in the same batch that woke meanwhile waited for
 * all of it: their first malloc after idling about 100 ms took up to 150 ms (bench/phases with
 * a shorter idle phase). True if the heap being collected is the one whose thread is back: its
 * walk ends there, and the sweep hands it back. */
static bool collect_yield_to_threads(void *ctx)
{
    collect_batch_t *batch = ctx;
    for (size_t i = batch->current + 1; i < batch->n; i++) {
        mx_heap_t *heap = batch->held[i];
        if (heap != NULL && collect_thread_is_back(heap)) {
            collect_release_hold(heap);
            batch->held[i] = NULL;
            batch->again = true;
        }
    }
    return collect_thread_is_back(batch->held[batch->current]);
}

/* Under the collect and abandon locks, after the barrier: collects held heaps whose threads
 * are still idle, releasing each as soon as it is done. Adds the bytes trimmed to *trimmed. */
static void collect_held_heaps(collect_batch_t *batch, bool force, int64_t now, size_t *trimmed)
{
    for (batch->current = 0; batch->current < batch->n; batch->current++) {
        mx_heap_t *heap = batch->held[batch->current];
        if (heap == NULL) {
            continue;
        }
        if (collect_thread_is_back(heap)) {
            batch->again = true;
            collect_release_hold(heap);
            continue;
        }
        mxi_atomic_store_relaxed(&heap->remote_hint, 0);
        heap->idle_collected = true;
        collect_count(mxi_heap_release_empty_pages(heap, collect_yield_to_threads, batch));
        if ((force || collect_trim_is_pending(heap, now)) && !collect_thread_is_back(heap)) {
            heap->trimmed_at_ms = now;
            *trimmed += mxi_heap_trim_pages(heap, force ? MX_TRIM_ALL : COLLECT_TRIM_MAX_USED,
                                            collect_yield_to_threads, batch);
        }
        if (collect_thread_is_back(heap)) {
            batch->again = true;
        }
        collect_release_hold(heap);
    }
}

/* Under the collect and abandon locks. Adds the bytes trimmed to *trimmed. */
static bool collect_live_heaps(bool force, size_t *trimmed, bool *busy)
{
    mx_heap_t *self = mxi_heap_tls();
    collect_batch_t batch = {.n = 0, .again = false};
    int64_t now = mxi_now_ms();
    for (mx_heap_t *heap = mxi_heap_registry_first(); heap != NULL; heap = heap->next_all) {
        if (!collect_is_candidate(heap, self, force, now, &batch.again, busy)) {
            continue;
        }
        if (batch.n == COLLECT_BATCH) {
            batch.again = true;
            break;
        }
        if (collect_hold(heap)) {
            batch.held[batch.n++] = heap;
        }
    }
    if (batch.n == 0) {
        return batch.again;
    }
    if (collect_barrier()) {
        collect_held_heaps(&batch, force, now, trimmed);
        return batch.again;
    }
    for (size_t i = 0; i < batch.n; i++) {
        collect_release_hold(batch.held[i]);
    }
    return true;
}

void mxi_collect_after_fork(void)
{
    /* membarrier registration belongs to the process's address space, which a child does not
     * share: the child registers again, while it still has only the forking thread. */
    mxi_collect_init();
}

bool mxi_collect_sweep(bool force, bool *busy)
{
    bool ignored;
    busy = busy != NULL ? busy : &ignored;
    *busy = true;
    /* malloc_trim and a refused mapping must not miss a collection another thread is running:
     * they wait for it. A tick just leaves the sweep to whoever is doing it. */
    if (force) {
        mxi_lock(&mxi_collect_lock);
    } else if (!mxi_lock_try(&mxi_collect_lock)) {
        return false;
    }
    mxi_atomic_store_relaxed(&mxi_remote_hinted, 0);
    mxi_lock(&mxi_abandon_lock);
    size_t pages;
    size_t trimmed;
    size_t heaps = mxi_abandon_collect_locked(force, &pages, &trimmed);
    *busy = heaps != 0;
    bool again = collect_live_heaps(force, &trimmed, busy);
    *busy |= again;
    mxi_unlock(&mxi_abandon_lock);
    mxi_unlock(&mxi_collect_lock);
    if (heaps != 0) {
        mxi_atomic_fetch_add_relaxed(&mxi_purge_counters.heaps_collected, heaps);
        mxi_atomic_fetch_add_relaxed(&mxi_purge_counters.pages_collected, pages);
    }
    if (again) {
        mxi_atomic_store_relaxed(&mxi_remote_hinted, 1);
    }
    return trimmed != 0;
}
