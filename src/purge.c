/* Purge bookkeeping (see purge.h). The only state is the earliest pending deadline, written
 * under the segment lock and read without it: a stale read only delays or repeats a check. */
#include "purge.h"

#include <stdint.h>
#include <time.h>

#include "abandon.h"
#include "cgroup.h"
#include "atomic.h"
#include "collect.h"
#include "heap.h"
#include "options.h"
#include "remote.h"
#include "segment.h"
#include "trim.h"

static _Atomic(int64_t) purge_next_due_ms;

/* With MALLOCX_RETAIN_LIMIT=auto in a cgroup with a memory limit, free memory kept resident for
 * reuse is held to this share of the limit: a sixteenth keeps the reuse that saves page faults
 * in a busy process while leaving the container's headroom to the program. */
#define RETAIN_CGROUP_SHARE 16

static size_t purge_cgroup_budget = SIZE_MAX;

void mxi_purge_init(void)
{
    size_t limit = mxi_cgroup_memory_limit();
    purge_cgroup_budget = limit != 0 ? limit / RETAIN_CGROUP_SHARE : SIZE_MAX;
}

size_t mxi_purge_retain_limit(void)
{
    int64_t limit = __atomic_load_n(&mxi_options.retain_limit, __ATOMIC_RELAXED);
    return limit < 0 ? purge_cgroup_budget : (size_t)limit;
}
mx_purge_counters_t mxi_purge_counters;

/* The coarse clock: its tick (4 ms here) is well under the purge delay, and reading it costs a
 * fifth of the precise clock's 58 cycles. Large blocks read the clock at every malloc while a
 * purge is pending and at every free, where it was 17% of a loop of them. */
int64_t mxi_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mxi_purge_schedule(void)
{
    int64_t due = mxi_now_ms() + mxi_options.purge_delay_ms;
    int64_t current = mxi_atomic_load_relaxed(&purge_next_due_ms);
    if (current == 0 || due < current) {
        mxi_atomic_store_relaxed(&purge_next_due_ms, due);
    }
    return due;
}

void mxi_purge_set_next_due(int64_t due_ms)
{
    mxi_atomic_store_relaxed(&purge_next_due_ms, due_ms);
}

static _Atomic(int64_t) sweep_next_ms;

/* A sweep for idle heaps runs at most once per purge delay (and once a millisecond with no
 * delay): it is what decides that an owner is idle, so its interval is the idle time. An
 * allocating thread's tick sweeps only while remote frees wait for a collector or memory waits
 * to be purged, to keep its slow paths short; the background thread sweeps on schedule, since
 * the empty pages an idle thread kept for reuse are waiting too, and only a sweep finds them. */
static bool purge_sweep_is_due(int64_t now)
{
    int64_t next = mxi_atomic_load_relaxed(&sweep_next_ms);
    if (now < next) {
        return false;
    }
    int64_t interval = mxi_options.purge_delay_ms > 0 ? mxi_options.purge_delay_ms : 1;
    return atomic_compare_exchange_strong_explicit(&sweep_next_ms, &next, now + interval,
                                                   memory_order_relaxed, memory_order_relaxed);
}

/* A purge tick also gives back the calling heap's empty pages that were kept for reuse (the
 * head of each queue), so they do not pin their segments (mxi_heap_purge_tick). Returns false
 * only when its sweep found every thread idle with nothing left to do and no memory waits to
 * be purged (a tick that did not sweep knows nothing of the threads: true). */
static bool purge_tick(mx_heap_t *heap, int64_t due)
{
    int64_t now = mxi_now_ms();
    bool busy = true;
    if (purge_sweep_is_due(now)) {
        mxi_collect_sweep(/*force=*/false, &busy);
    }
    if (due != 0 && now >= due) {
        if (heap != NULL) {
            mxi_heap_purge_tick(heap, now);
        }
        mxi_segment_purge(now, false);
    }
    return busy || mxi_atomic_load_relaxed(&purge_next_due_ms) != 0;
}

void mxi_purge_if_due(mx_heap_t *heap)
{
    int64_t due = mxi_atomic_load_relaxed(&purge_next_due_ms);
    if (due != 0 || mxi_atomic_load_relaxed(&mxi_remote_hinted) != 0) {
        purge_tick(heap, due);
    }
}

bool mxi_purge_background_tick(void)
{
    return purge_tick(NULL, mxi_atomic_load_relaxed(&purge_next_due_ms));
}

/* An exiting thread leaves its free pages to the segments, and a process whose threads have
 * finished their work may make no allocator call for a long time after, so no tick comes to
 * purge them (bench/latency: its workers' last 10 MiB stayed resident while the program went
 * on to other work, a 50 MiB peak against glibc's 42; 40.6 with this). Past this much memory
 * waiting, an exit purges it at once, or leaves it to a purge already running. Threads that
 * come and go with little memory each pay no system call: purging at every exit made
 * bench/churn 16 to 21% slower. A purge delay longer than the default (the throughput
 * profile) means the wait was asked for, and is kept. */
#define PURGE_EXIT_MIN ((size_t)4 << 20)

void mxi_purge_after_thread_exit(void)
{
    if (mxi_options.purge_delay_ms <= MX_PURGE_DELAY_MS &&
        mxi_segment_retained_bytes() >= PURGE_EXIT_MIN) {
        mxi_segment_purge_request();
    }
}

/* A forced sweep first: pages that other threads freed into, in the pool of exited threads'
 * pages or in idle threads' heaps, are empty but reach no purge until someone collects them. */
bool mxi_purge_all(void)
{
    bool released = mxi_collect_sweep(/*force=*/true, NULL);
    mx_heap_t *heap = mxi_heap_current();
    released |= mxi_heap_release_empty_pages(heap, NULL, NULL) != 0;
    released |= mxi_heap_trim_pages(heap, MX_TRIM_ALL, NULL, NULL) != 0;
    released |= mxi_segment_purge(mxi_now_ms(), true);
    return released;
}
