/* Process and thread life (see init.h).
 *
 * Initialization has three states (none, running, done) in one atomic. The thread that moves
 * it to running first sets everything allocation needs without calling anything that could
 * allocate (secret, size classes, options), then registers the pthread key and fork handlers,
 * which may call malloc: that nested call finds the state running on its own thread and goes
 * on. Other threads wait for done.
 *
 * fork: the prepare handler takes, in lock order, the collect lock, the abandon lock, the
 * caller's heap lock, the heap registry lock and the segment lock, so the child never inherits a structure in the
 * middle of a change. The child then resets every heap lock, since a lock held by a thread
 * that does not exist in the child would never be released. The heaps of the parent's other
 * threads are abandoned in the child like those of exited threads, except one whose thread
 * was inside the allocator at the fork, which may be half-changed and is never touched. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/auxv.h>

#include "abandon.h"
#include "atomic.h"
#include "background.h"
#include "collect.h"
#include "heap.h"
#include "options.h"
#include "purge.h"
#include "segment.h"
#include "size_class.h"
#include "stats.h"

enum { INIT_NONE, INIT_RUNNING, INIT_DONE };

static _Atomic(int) init_state;
static MX_TLS bool init_is_running_here;
static pthread_key_t thread_key;
/* Where MALLOCX_SHOW_STATS writes at exit: a duplicate of stderr taken at start, because many
 * programs (coreutils, xz) close stderr before the library destructors run. */
static int stats_fd = 2;

/* A destructor of another key may still allocate after this one ran; glibc then calls this
 * again on a later round for the heap that call made. */
static void thread_done(void *value)
{
    mxi_enter();
    mx_heap_t *heap = value;
    if (heap != NULL && heap == mxi_heap_current()) {
        mxi_abandon_heap(heap);
    }
    mxi_leave();
}

static mx_heap_t *fork_heap;

static void fork_prepare(void)
{
    mxi_lock(&mxi_collect_lock);
    mxi_lock(&mxi_abandon_lock);
    fork_heap = mxi_heap_tls();
    if (fork_heap != &mxi_heap_empty) {
        mxi_lock(&fork_heap->lock);
    }
    mxi_lock(&mxi_heap_registry_lock);
    mxi_lock(&mxi_segment_purge_lock);
    mxi_lock(&mxi_segment_lock);
}

static void fork_parent(void)
{
    mxi_unlock(&mxi_segment_lock);
    mxi_unlock(&mxi_segment_purge_lock);
    mxi_unlock(&mxi_heap_registry_lock);
    if (fork_heap != &mxi_heap_empty) {
        mxi_unlock(&fork_heap->lock);
    }
    mxi_unlock(&mxi_abandon_lock);
    mxi_unlock(&mxi_collect_lock);
}

static void fork_child(void)
{
    mxi_lock_reset(&mxi_segment_lock);
    mxi_lock_reset(&mxi_segment_purge_lock);
    mxi_lock_reset(&mxi_heap_registry_lock);
    for (mx_heap_t *heap = mxi_heap_registry_first(); heap != NULL; heap = heap->next_all) {
        mxi_lock_reset(&heap->lock);
    }
    mxi_abandon_after_fork(fork_heap);
    mxi_lock_reset(&mxi_abandon_lock);
    mxi_lock_reset(&mxi_collect_lock);
    mxi_collect_after_fork();
    mxi_background_after_fork();
}

/* The kernel leaves 16 random bytes in the auxiliary vector of every process: a secret without
 * a system call or a file descriptor. */
static uintptr_t init_secret(void)
{
    uintptr_t secret = (uintptr_t)&init_state * 0x9e3779b97f4a7c15ull;
    const void *random = (const void *)getauxval(AT_RANDOM);
    if (random != NULL) {
        /* The bytes may sit at any address: copy rather than load them as words. */
        uintptr_t words[2];
        memcpy(words, random, sizeof(words));
        secret ^= words[0] ^ (words[1] << 1);
    }
    return secret & ~(uintptr_t)15;
}

bool mxi_process_init(void)
{
    if (MX_LIKELY(mxi_atomic_load_acquire(&init_state) == INIT_DONE)) {
        return true;
    }
    int expected = INIT_NONE;
    if (atomic_compare_exchange_strong(&init_state, &expected, INIT_RUNNING)) {
        init_is_running_here = true;
        mxi_secret = init_secret();
        mxi_page_none.kind = MX_PAGE_NONE;
        mxi_size_class_init();
        mxi_options_init();
        mxi_purge_init();
        if (mxi_options.show_stats) {
            int saved = errno;
            int fd = fcntl(2, F_DUPFD_CLOEXEC, 100);
            stats_fd = fd >= 0 ? fd : 2;
            errno = saved;
        }
        pthread_key_create(&thread_key, thread_done);
        pthread_atfork(fork_prepare, fork_parent, fork_child);
        init_is_running_here = false;
        mxi_atomic_store_release(&init_state, INIT_DONE);
        return true;
    }
    if (init_is_running_here) {
        return true;
    }
    while (mxi_atomic_load_acquire(&init_state) != INIT_DONE) {
        sched_yield();
    }
    return true;
}

void mxi_thread_register(mx_heap_t *heap)
{
    pthread_setspecific(thread_key, heap);
}

/* At load time, not in the first malloc: the background thread, if asked for, is created
 * here, where creating a thread cannot run into a lock the program holds around a malloc, and
 * the collector registers for membarrier while the process has one thread (collect.c). */
__attribute__((constructor)) static void process_start(void)
{
    if (mxi_process_init()) {
        mxi_collect_init();
        mxi_background_start();
    }
}

__attribute__((destructor)) static void process_done(void)
{
    if (mxi_atomic_load_acquire(&init_state) == INIT_DONE && mxi_options.show_stats) {
        mxi_stats_print(stats_fd);
    }
}
