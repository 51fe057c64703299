/* Idle owners do not strand memory. 16 producer threads allocate 1 GiB in all, in blocks of
 * mixed sizes, and hand every block to one consumer; then they stop allocating: they block on a
 * condition variable for the rest of the test, or they exit. The consumer frees everything and
 * carries on as a live program would (now and then a buffer, every few milliseconds), and the
 * resident size must fall to under 1.25x the live bytes plus 4 MiB within one second.
 *
 * No producer ever calls the allocator again, so only other threads can collect what was freed
 * into their pages. The pointer table is mapped with mmap, outside the allocator, and the
 * resident figures are taken against a baseline measured after it was touched. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
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
#define PRODUCERS 16
#define TOTAL_BYTES ((size_t)1 << 30)
#define PER_PRODUCER (TOTAL_BYTES / PRODUCERS)
/* Enough slots for 64 MiB of blocks whose mean size is 16 B + 8 KiB / 2. */
#define SLOTS_PER_PRODUCER 32768
#define DEADLINE_MS 1000
/* What the consumer allocates and frees between two looks at the resident size. */
#define TICK_BUFFER ((size_t)256 << 10)

typedef struct {
    void **slots;
    size_t count;
    int index;
} producer_t;

static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static bool test_over;
static atomic_int produced;
static bool producers_exit;

static double mib(size_t bytes)
{
    return (double)bytes / (double)MIB;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Mixed sizes from 16 B to 8 KiB: small and medium classes, many pages of each. */
static void *producer(void *arg)
{
    producer_t *p = arg;
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, 0x1d1e0000u + (uint64_t)p->index);
    size_t bytes = 0;
    while (bytes < PER_PRODUCER && p->count < SLOTS_PER_PRODUCER) {
        size_t size = (size_t)mx_test_rng_range(&rng, 16, 8192);
        char *block = malloc(size);
        if (block == NULL) {
            break;
        }
        memset(block, (int)p->count, size);
        p->slots[p->count++] = block;
        bytes += size;
    }
    atomic_fetch_add(&produced, 1);
    if (producers_exit) {
        return NULL;
    }
    pthread_mutex_lock(&idle_lock);
    while (!test_over) {
        pthread_cond_wait(&idle_cond, &idle_lock);
    }
    pthread_mutex_unlock(&idle_lock);
    return NULL;
}

static void run(bool exit_after)
{
    producers_exit = exit_after;
    test_over = false;
    atomic_store(&produced, 0);
    size_t table_bytes = (size_t)PRODUCERS * SLOTS_PER_PRODUCER * sizeof(void *);
    void **table = mmap(NULL, table_bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(table != MAP_FAILED);
    memset(table, 0, table_bytes);
    size_t baseline = mx_test_rss_bytes();

    producer_t producers[PRODUCERS];
    pthread_t threads[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        producers[i] = (producer_t){table + (size_t)i * SLOTS_PER_PRODUCER, 0, i};
        assert_int_equal(pthread_create(&threads[i], NULL, producer, &producers[i]), 0);
    }
    while (atomic_load(&produced) < PRODUCERS) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (exit_after) {
        for (int i = 0; i < PRODUCERS; i++) {
            pthread_join(threads[i], NULL);
        }
    }
    size_t blocks = 0;
    size_t peak = mx_test_rss_above(baseline);

    for (int i = 0; i < PRODUCERS; i++) {
        for (size_t j = 0; j < producers[i].count; j++) {
            free(producers[i].slots[j]);
            blocks++;
        }
    }
    int64_t freed_at = now_ms();
    size_t live = 0;
    size_t limit = live + live / 4 + 4 * MIB;
    size_t rss = mx_test_rss_above(baseline);
    size_t after_free = rss;
    int64_t fell_at = -1;
    while (now_ms() - freed_at <= DEADLINE_MS) {
        void *buffer = malloc(TICK_BUFFER);
        assert_non_null(buffer);
        memset(buffer, 1, 4096);
        free(buffer);
        rss = mx_test_rss_above(baseline);
        if (rss < limit) {
            fell_at = now_ms();
            break;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    printf("producers %s: %zu blocks, resident %.1f MiB at the peak, %.1f MiB right after the "
           "frees, %.1f MiB %s %lld ms (bar: under %.1f MiB within %d ms)\n",
           exit_after ? "exited" : "idle", blocks, mib(peak), mib(after_free), mib(rss),
           fell_at >= 0 ? "after" : "still, after", (long long)(fell_at >= 0 ? fell_at - freed_at : DEADLINE_MS),
           mib(limit), DEADLINE_MS);

    if (!exit_after) {
        pthread_mutex_lock(&idle_lock);
        test_over = true;
        pthread_cond_broadcast(&idle_cond);
        pthread_mutex_unlock(&idle_lock);
        for (int i = 0; i < PRODUCERS; i++) {
            pthread_join(threads[i], NULL);
        }
    }
    munmap(table, table_bytes);
    assert_true(peak >= TOTAL_BYTES * 9 / 10);
    assert_true(fell_at >= 0);
}

static void test_idle_producers(void **state)
{
    (void)state;
    run(/*exit_after=*/false);
}

static void test_exited_producers(void **state)
{
    (void)state;
    run(/*exit_after=*/true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_producers),
        cmocka_unit_test(test_exited_producers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
