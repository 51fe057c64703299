/* A thread does not wait for the collection of other threads' heaps. A collector holds every
 * candidate heap of a sweep at once and then works through them; a thread that wants its heap
 * back meanwhile must get it at once, not when the heaps before it are done.
 *
 * A worker fills 192 MiB with blocks of 512 B to 1 KiB, frees nine in ten and blocks, never to
 * call the allocator again. A third thread calls malloc_trim(0), whose sweep holds the worker's
 * heap and the main thread's (the worker's first: newer heaps come first) and trims the
 * worker's pages, giving back about half of the 192 MiB, a few pages at a time. The main thread
 * watches the resident size fall, and once it has fallen by 8 MiB, calls malloc. When that
 * returns, most of the trim must still lie ahead: the resident size must still be above its
 * final value by a quarter of all the trim gave back. A thread that waited for the worker's
 * heap to be done would see almost nothing left.
 *
 * No timing: the figures compared are resident sizes, before and after. The background thread
 * is off, so that only the malloc_trim sweep collects. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "malloc-x.h"
#include "support.h"

#define MIB ((size_t)1 << 20)
#define WORKER_BYTES ((size_t)192 << 20)
#define SLOTS (WORKER_BYTES / 512)
/* How far the resident size falls before the main thread calls malloc: the trim is under way. */
#define TRIM_STARTED (8 * MIB)
#define DEADLINE_NS 20000000000LL

static void **slots;
static size_t slot_count;
static atomic_int worker_idle;
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static bool test_over;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *worker(void *arg)
{
    (void)arg;
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, 0xc011ec7);
    size_t bytes = 0;
    while (bytes < WORKER_BYTES && slot_count < SLOTS) {
        size_t size = (size_t)mx_test_rng_range(&rng, 512, 1024);
        char *block = malloc(size);
        if (block == NULL) {
            break;
        }
        memset(block, 0x5a, size);
        slots[slot_count++] = block;
        bytes += size;
    }
    for (size_t i = 0; i < slot_count; i++) {
        if (mx_test_rng_next(&rng) % 10 != 0) {
            free(slots[i]);
            slots[i] = NULL;
        }
    }
    atomic_store(&worker_idle, 1);
    pthread_mutex_lock(&idle_lock);
    while (!test_over) {
        pthread_cond_wait(&idle_cond, &idle_lock);
    }
    pthread_mutex_unlock(&idle_lock);
    return NULL;
}

static void *trimmer(void *arg)
{
    (void)arg;
    malloc_trim(0);
    return NULL;
}

static void test_held_thread_gets_its_heap_back_before_the_sweep_ends(void **state)
{
    (void)state;
    assert_int_equal(mx_option_set(MX_OPTION_BACKGROUND, 0), 0);
    free(malloc(64)); /* the main thread has a heap, which a sweep can hold */
    slots = mmap(NULL, SLOTS * sizeof(void *), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(slots != MAP_FAILED);

    pthread_t worker_thread;
    assert_int_equal(pthread_create(&worker_thread, NULL, worker, NULL), 0);
    while (!atomic_load(&worker_idle)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    size_t before = mx_test_rss_bytes();

    pthread_t trimmer_thread;
    assert_int_equal(pthread_create(&trimmer_thread, NULL, trimmer, NULL), 0);
    int64_t deadline = now_ns() + DEADLINE_NS;
    size_t seen = before;
    while (seen + TRIM_STARTED > before && now_ns() < deadline) {
        seen = mx_test_rss_bytes();
    }
    void *p = malloc(64);
    size_t at_return = mx_test_rss_bytes();
    assert_non_null(p);
    free(p);
    pthread_join(trimmer_thread, NULL);
    size_t after = mx_test_rss_bytes();

    size_t total = before > after ? before - after : 0;
    size_t left = at_return > after ? at_return - after : 0;
    printf("resident: %zu MiB before the trim, %zu MiB when malloc returned, %zu MiB after; "
           "the trim gave back %zu MiB, %zu MiB of it after malloc returned\n",
           before / MIB, at_return / MIB, after / MIB, total / MIB, left / MIB);
    assert_true(seen + TRIM_STARTED <= before); /* the trim started before the deadline */
    assert_true(total >= 64 * MIB);
    assert_true(left >= total / 4);

    pthread_mutex_lock(&idle_lock);
    test_over = true;
    pthread_cond_broadcast(&idle_cond);
    pthread_mutex_unlock(&idle_lock);
    pthread_join(worker_thread, NULL);
    for (size_t i = 0; i < slot_count; i++) {
        free(slots[i]);
    }
    munmap(slots, SLOTS * sizeof(void *));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_held_thread_gets_its_heap_back_before_the_sweep_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
