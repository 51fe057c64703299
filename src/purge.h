/* When memory goes back to the OS: free slices are purged once they have stayed free for the
 * purge delay, checked on allocation slow paths; malloc_trim purges everything now. */
#ifndef MX_PURGE_H
#define MX_PURGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "types.h"

int64_t mxi_now_ms(void);

/* Counters of memory going back to the OS, for statistics. Relaxed atomics: each is written by
 * whoever does the work (purges and unmaps under the segment lock; collections of idle or
 * exited threads' heaps by the collecting thread) and read without a lock. */
typedef struct mx_purge_counters {
    _Atomic(size_t) purge_calls;        /* madvise(MADV_DONTNEED) calls */
    _Atomic(size_t) purged_bytes;       /* bytes those calls returned */
    _Atomic(size_t) segments_unmapped;  /* empty segments unmapped */
    _Atomic(size_t) heaps_collected;    /* idle or exited threads' heaps collected by others */
    _Atomic(size_t) pages_collected;    /* empty pages those collections gave back */
} mx_purge_counters_t;

extern mx_purge_counters_t mxi_purge_counters;

/* The background thread's tick: a purge tick whose sweep for idle heaps runs on schedule even
 * when nothing else is due. False when it found nothing left to do: every thread idle, their
 * heaps collected and trimmed, no memory waiting to be purged. */
bool mxi_purge_background_tick(void);

/* After an exiting thread's heap went to the pool (abandon.c): purges now if much memory is
 * waiting for the delay. */
void mxi_purge_after_thread_exit(void);

/* At process initialization, after the options: reads the cgroup memory limit once. */
void mxi_purge_init(void);

/* Bytes of free memory that may stay resident for reuse before purging stops waiting for the
 * delay: MALLOCX_RETAIN_LIMIT, or with `auto` a share of the cgroup limit (SIZE_MAX: none). */
size_t mxi_purge_retain_limit(void);

/* Under the segment lock: the deadline for slices freed now, noted as the next due purge if
 * it is the earliest. */
int64_t mxi_purge_schedule(void);
/* Under the segment lock: the earliest pending deadline after a purge pass (0: none). */
void mxi_purge_set_next_due(int64_t due_ms);

/* Purges what is due and sweeps for idle heaps when remote frees went into one, if either is
 * due; cheap when neither is (two relaxed loads). `heap` is the caller's, whose empty pages
 * go back at a purge; NULL from a thread that is not in its heap (a remote free). */
void mxi_purge_if_due(mx_heap_t *heap);

/* Returns every free page and slice now, those of exited threads included; true if anything
 * went back to the OS. Also the last resort before reporting ENOMEM. */
bool mxi_purge_all(void);

#endif
