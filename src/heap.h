/* Thread-local heaps: one per thread, reached through one initial-exec TLS pointer. A thread
 * that has not allocated yet points at the static empty heap, whose direct table leads every
 * request to the slow path, where the real heap is made: the fast path never tests for
 * initialization. */
#ifndef MX_HEAP_H
#define MX_HEAP_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "compiler.h"
#include "types.h"

/* Where a thread is with respect to the allocator (mx_thread.state). */
enum {
    MX_THREAD_OUTSIDE = 0, /* written by the thread on every return from the allocator */
    MX_THREAD_INSIDE = 1,  /* written by the thread on every entry */
    MX_THREAD_PROBED = 2,  /* written by a collector over OUTSIDE: still there at the next sweep,
                              it proves the thread made no call in between */
};

/* The thread's allocator state, in one TLS object so the fast paths find both fields from one
 * thread-pointer offset. `heap` is written by the thread itself and, while it is outside the
 * allocator, by a collector (collect.c) that swaps in mxi_heap_held. `state` is stored, not
 * counted: a read-modify-write of memory on every entry and exit chained each call to the
 * previous one through store forwarding, which cost a fifth of the time of a loop of in-place
 * reallocs. A malloc from a signal handler that interrupted malloc (undefined, as in glibc)
 * leaves `state` OUTSIDE while the interrupted call is still inside. */
typedef struct mx_thread {
    _Atomic(mx_heap_t *) heap;
    unsigned long state;
} mx_thread_t;

extern MX_TLS mx_thread_t mxi_thread;

/* ThreadSanitizer does not know that the collector's membarrier orders the thread's accesses
 * with its own, so TSan builds spell the ordering out with acquire and release (heap.h and
 * collect.c); on x86 the code is the same either way. */
MX_INLINE mx_heap_t *mxi_heap_tls(void)
{
#if MX_TSAN
    return mxi_atomic_load_acquire(&mxi_thread.heap);
#else
    return mxi_atomic_load_relaxed(&mxi_thread.heap);
#endif
}

/* Every public entry point that reads or changes the thread's heap runs between these two.
 * Each is one plain store, no atomic read-modify-write, no fence: the collector of idle heaps
 * pays for the ordering with a process-wide barrier (membarrier) instead. The signal fences
 * keep the compiler from moving heap accesses out of the window. */
MX_INLINE void mxi_enter(void)
{
    __atomic_store_n(&mxi_thread.state, MX_THREAD_INSIDE, __ATOMIC_RELAXED);
    atomic_signal_fence(memory_order_seq_cst);
}

MX_INLINE void mxi_leave(void)
{
    atomic_signal_fence(memory_order_seq_cst);
    __atomic_store_n(&mxi_thread.state, MX_THREAD_OUTSIDE, __ATOMIC_RELEASE);
}

/* The heap of threads that have none yet (or whose heap was abandoned at exit). */
extern mx_heap_t mxi_heap_empty;
/* What a thread's TLS heap points at while a collector works on its real heap: like the empty
 * heap, it sends every request to the slow path, which waits until the heap is back. */
extern mx_heap_t mxi_heap_held;

/* The calling thread's heap for a slow path: waits out a collection of it (never long: the
 * collector hands a heap back between two pages once its thread is waiting, and wakes it).
 * May return &mxi_heap_empty. */
mx_heap_t *mxi_heap_current(void);

/* The 32-bit word a thread held out of its heap sleeps on, given the address of its TLS heap
 * pointer: the pointer's low half, which comes first in memory. */
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "a pointer's low half comes first");
MX_INLINE const uint32_t *mxi_heap_wait_word(_Atomic(mx_heap_t *) *tls_slot)
{
    return (const uint32_t *)(const void *)tls_slot;
}

/* A page with no free block: where direct entries of classes without pages point. */
extern mx_page_t mxi_page_empty;

/* Slow path of malloc for small and medium classes: returns a page of `class_index` at the
 * front of its queue with a non-empty free list, or NULL (out of memory). */
mx_page_t *mxi_heap_page_for_class(mx_heap_t *heap, unsigned class_index);

/* The owner's free of a block whose page carries owner flags (parked or aligned). */
void mxi_heap_free_flagged(mx_heap_t *heap, mx_page_t *page, mx_block_t *block);

/* The owner's free left a page with no block in use. */
MX_NOINLINE void mxi_heap_page_emptied(mx_heap_t *heap, mx_page_t *page);
/* The same from a public entry point, which it leaves (mxi_leave) on return. */
MX_NOINLINE void mxi_heap_page_emptied_leave(mx_heap_t *heap, mx_page_t *page);

/* The walks below call `stop(ctx)` between pages, if it is not NULL, and end early when it
 * returns true; every page is left consistent. A collector walking another thread's heap uses
 * it to hand the heap back as soon as the thread wants it (collect.c). */
typedef bool mx_heap_walk_stop_t(void *ctx);

/* Collects the remote frees of every page of the heap and gives every page that is then empty
 * back to its segment; returns how many went back. */
size_t mxi_heap_release_empty_pages(mx_heap_t *heap, mx_heap_walk_stop_t *stop, void *ctx);

/* Owner only (or a collector holding the owner out): gives back the memory of free blocks in
 * the heap's queued pages with at most `max_used` eighths of their blocks in use (MX_TRIM_ALL:
 * every page; trim.h); returns the bytes. */
size_t mxi_heap_trim_pages(mx_heap_t *heap, unsigned max_used, mx_heap_walk_stop_t *stop,
                           void *ctx);

/* The owner's part of a purge tick: the empty pages kept at the queue heads go back, and now
 * and then every page is walked for pages that other threads' frees emptied. */
void mxi_heap_purge_tick(mx_heap_t *heap, int64_t now_ms);

/* Makes (or adopts) the calling thread's heap; NULL if the OS refuses memory. */
mx_heap_t *mxi_heap_init_thread(void);

/* A heap object for a new thread: a spare one or a new one. NULL if out of memory. */
mx_heap_t *mxi_heap_alloc(void);
/* Resets a heap to hold no page, for reuse as a spare. */
void mxi_heap_reset(mx_heap_t *heap);

/* Every heap ever made (they are recycled, never unmapped), for fork and statistics. */
extern mx_lock_t mxi_heap_registry_lock;
mx_heap_t *mxi_heap_registry_first(void);
/* Address space and resident bytes of the chunks heap objects are carved from (statistics). */
void mxi_heap_chunk_totals(size_t *mapped_bytes, size_t *resident_bytes);

#endif
