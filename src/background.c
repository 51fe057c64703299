/* The background thread (see background.h). It wakes once per purge delay (at least every
 * millisecond, at most every second), sweeps for idle heaps, purges what is due, and sleeps
 * again. It never allocates: its own TLS heap stays the empty one.
 *
 * Starting: pthread_create itself allocates (the new thread's TLS), so the thread is started
 * from outside the allocator: from a library constructor at load time, on request, or from an
 * allocation slow path (after the process grew, or in a fork child), where no lock of ours is
 * held and nothing of the heap's state is cached across the call. */
#include "background.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "atomic.h"
#include "compiler.h"
#include "heap.h"
#include "options.h"
#include "purge.h"
#include "segment.h"

/* PENDING: the next allocation slow path is to start the thread. */
enum { BACKGROUND_OFF, BACKGROUND_PENDING, BACKGROUND_STARTING, BACKGROUND_RUNNING };
static _Atomic(int) background_state;
/* The bytes in pages at which `auto` starts the thread; SIZE_MAX once they were reached. */
static _Atomic(size_t) background_grow_mark = MX_BACKGROUND_AUTO_BYTES;

/* Sleeps double, up to a second, while ticks find nothing to do: a process that has gone quiet
 * with everything given back is woken once a second rather than a hundred times. The first
 * tick that finds a thread active again, or memory waiting, returns to the purge delay. */
#define BACKGROUND_MAX_SLEEP_MS 1000
#define BACKGROUND_MAX_BACKOFF 10

static void *background_main(void *arg)
{
    (void)arg;
    unsigned backoff = 0;
    for (;;) {
        int64_t ms = __atomic_load_n(&mxi_options.purge_delay_ms, __ATOMIC_RELAXED);
        ms = ms < 1 ? 1 : ms;
        ms <<= backoff;
        ms = ms > BACKGROUND_MAX_SLEEP_MS ? BACKGROUND_MAX_SLEEP_MS : ms;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        if (__atomic_load_n(&mxi_options.background, __ATOMIC_RELAXED) == 0) {
            backoff = BACKGROUND_MAX_BACKOFF;
            continue;
        }
        mxi_enter();
        bool busy = mxi_purge_background_tick();
        mxi_leave();
        backoff = busy ? 0 : backoff < BACKGROUND_MAX_BACKOFF ? backoff + 1 : backoff;
    }
    return NULL;
}

static bool background_is_wanted(void)
{
    int64_t mode = __atomic_load_n(&mxi_options.background, __ATOMIC_RELAXED);
    return mode == 1 ||
           (mode == MX_OPTION_AUTO && mxi_atomic_load_relaxed(&background_grow_mark) == SIZE_MAX);
}

void mxi_background_start(void)
{
    int state = mxi_atomic_load_relaxed(&background_state);
    if (state == BACKGROUND_RUNNING || state == BACKGROUND_STARTING) {
        return;
    }
    if (!background_is_wanted()) {
        /* A pending start the option no longer asks for: stop the slow paths asking. */
        if (state == BACKGROUND_PENDING) {
            atomic_compare_exchange_strong(&background_state, &state, BACKGROUND_OFF);
        }
        return;
    }
    if (!atomic_compare_exchange_strong(&background_state, &state, BACKGROUND_STARTING)) {
        return;
    }
    int saved = errno;
    /* The thread starts with every signal blocked, so that a signal sent to the process is
     * never delivered to it: a program that blocks a signal in its own threads to take it
     * with sigwait or a signalfd would otherwise see it run the default action here (for most
     * signals, ending the process). */
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    bool masked = pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
    bool started = false;
    pthread_attr_t attr;
    if (masked && pthread_attr_init(&attr) == 0) {
        pthread_t thread;
        started = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
                  pthread_attr_setstacksize(&attr, 64 << 10) == 0 &&
                  pthread_create(&thread, &attr, background_main, NULL) == 0;
        pthread_attr_destroy(&attr);
    }
    if (masked) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    /* A refused thread (out of memory, a thread limit) leaves purging to the allocating
     * threads, as without the option; no slow path tries again, but mx_option_set does. */
    mxi_atomic_store_release(&background_state, started ? BACKGROUND_RUNNING : BACKGROUND_OFF);
    errno = saved;
}

void mxi_background_note_claim(void)
{
    size_t mark = mxi_atomic_load_relaxed(&background_grow_mark);
    if (MX_LIKELY(mxi_segment_page_bytes() < mark) ||
        !atomic_compare_exchange_strong(&background_grow_mark, &mark, SIZE_MAX)) {
        return;
    }
    if (__atomic_load_n(&mxi_options.background, __ATOMIC_RELAXED) == MX_OPTION_AUTO) {
        int state = BACKGROUND_OFF;
        atomic_compare_exchange_strong(&background_state, &state, BACKGROUND_PENDING);
    }
}

void mxi_background_after_fork(void)
{
    int state = mxi_atomic_load_relaxed(&background_state);
    bool asked = __atomic_load_n(&mxi_options.background, __ATOMIC_RELAXED) == 1;
    mxi_atomic_store_relaxed(&background_state, asked && state != BACKGROUND_OFF
                                                    ? BACKGROUND_PENDING
                                                    : BACKGROUND_OFF);
    mxi_atomic_store_relaxed(&background_grow_mark,
                             mxi_segment_page_bytes() + MX_BACKGROUND_AUTO_BYTES);
}

bool mxi_background_is_pending(void)
{
    return mxi_atomic_load_relaxed(&background_state) == BACKGROUND_PENDING;
}
