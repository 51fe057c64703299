/* Nothing leaks: one million allocate/free pairs across threads that come and go, with blocks
 * freed by other threads (live or already exited), and afterwards the allocator's resident
 * footprint is back near where it started.
 *
 * 200 rounds of 8 threads, each thread allocating 625 blocks of mixed sizes: most small, some
 * medium and large, a few huge. A thread keeps a short ring of live blocks and trades one block
 * in four through a shared exchange, freeing whatever block it takes out (allocated by another
 * thread, whose owner may have exited rounds ago). When a thread ends it leaves half of its ring
 * in the exchange, so owners regularly exit with live blocks in their pages. Every block carries
 * its size and a pattern that is checked before it is freed.
 *
 * At the end the main thread frees what is left in the exchange, calls malloc_trim(0), and
 * compares the resident size and mallinfo2() with the figures from before the first round. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "malloc-x.h"
#include "support.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

#define ROUNDS 200
#define THREADS 8
#define PAIRS_PER_THREAD 625
#define TOTAL_PAIRS ((long)ROUNDS * THREADS * PAIRS_PER_THREAD)
#define RING 32
#define EXCHANGE_SLOTS 1024
/* Bytes checked at the front of each block: enough to catch corruption, cheap for huge blocks. */
#define PATTERN_BYTES 64
/* The bar: resident size after malloc_trim(0) at most this much above the start. */
#define RSS_SLACK (8 * MIB)

typedef struct {
    size_t size;
    uint64_t tag;
} header_t;

static _Atomic(header_t *) exchange[EXCHANGE_SLOTS];
static atomic_long allocated;
static atomic_long freed;
static atomic_int damaged;

static double mib(size_t bytes)
{
    return (double)bytes / (double)MIB;
}

static size_t pick_size(mx_test_rng_t *rng)
{
    uint64_t kind = mx_test_rng_range(rng, 0, 99999);
    if (kind < 80000) {
        return (size_t)mx_test_rng_range(rng, sizeof(header_t), 512);
    }
    if (kind < 98000) {
        return (size_t)mx_test_rng_range(rng, 513, 64 * KIB);
    }
    if (kind < 99995) {
        return (size_t)mx_test_rng_range(rng, 64 * KIB, MIB);
    }
    /* About fifty blocks in the whole run get a mapping of their own. */
    return (size_t)mx_test_rng_range(rng, 33 * MIB, 40 * MIB);
}

static header_t *block_new(mx_test_rng_t *rng)
{
    size_t size = pick_size(rng);
    uint64_t kind = mx_test_rng_next(rng);
    header_t *h = (kind & 7) == 0 ? calloc(1, size) : malloc(size);
    if (h == NULL) {
        return NULL;
    }
    atomic_fetch_add_explicit(&allocated, 1, memory_order_relaxed);
    h->size = size;
    h->tag = kind;
    size_t body = size - sizeof(header_t);
    mx_test_fill(h + 1, body < PATTERN_BYTES ? body : PATTERN_BYTES, kind);
    return h;
}

static void block_free(header_t *h)
{
    if (h == NULL) {
        return;
    }
    size_t body = h->size - sizeof(header_t);
    if (!mx_test_check(h + 1, body < PATTERN_BYTES ? body : PATTERN_BYTES, h->tag) ||
        malloc_usable_size(h) < h->size) {
        atomic_fetch_add(&damaged, 1);
    }
    free(h);
    atomic_fetch_add_explicit(&freed, 1, memory_order_relaxed);
}

static void *worker(void *arg)
{
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, (uint64_t)(uintptr_t)arg);
    header_t *ring[RING] = {0};
    for (int i = 0; i < PAIRS_PER_THREAD; i++) {
        header_t *h = block_new(&rng);
        if (h == NULL) {
            return (void *)1;
        }
        uint64_t r = mx_test_rng_next(&rng);
        if ((r & 3) == 0) {
            size_t slot = (size_t)(r >> 8) % EXCHANGE_SLOTS;
            block_free(atomic_exchange(&exchange[slot], h));
        } else {
            size_t at = (size_t)(r >> 8) % RING;
            block_free(ring[at]);
            ring[at] = h;
        }
    }
    /* Half of the ring outlives this thread. */
    for (int i = 0; i < RING; i++) {
        if (i % 2 == 0) {
            block_free(ring[i]);
        } else if (ring[i] != NULL) {
            size_t slot = (size_t)mx_test_rng_next(&rng) % EXCHANGE_SLOTS;
            block_free(atomic_exchange(&exchange[slot], ring[i]));
        }
    }
    return NULL;
}

static void test_million_pairs_leave_nothing(void **state)
{
    (void)state;
    /* The start: what the program holds before the workload, with the allocator's free memory
     * already returned, so the end is compared like for like. */
    malloc_trim(0);
    size_t rss_start = mx_test_rss_bytes();
    struct mallinfo2 mi_start = mallinfo2();

    for (int round = 0; round < ROUNDS; round++) {
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++) {
            uintptr_t seed = (uintptr_t)round * THREADS + (uintptr_t)i + 1;
            assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)seed), 0);
        }
        for (int i = 0; i < THREADS; i++) {
            void *result = NULL;
            pthread_join(t[i], &result);
            assert_null(result);
        }
    }
    size_t rss_peak_end = mx_test_rss_bytes();
    for (int i = 0; i < EXCHANGE_SLOTS; i++) {
        block_free(atomic_exchange(&exchange[i], NULL));
    }
    size_t rss_freed = mx_test_rss_bytes();
    struct mallinfo2 mi_freed = mallinfo2();
    int released = malloc_trim(0);
    size_t rss_end = mx_test_rss_bytes();
    struct mallinfo2 mi_end = mallinfo2();

    print_message("pairs: %ld allocated, %ld freed, %d damaged\n", atomic_load(&allocated),
                  atomic_load(&freed), atomic_load(&damaged));
    print_message("RSS: start %.1f MiB, after the rounds %.1f MiB, all freed %.1f MiB, "
                  "after malloc_trim(0) (returned %d) %.1f MiB\n",
                  mib(rss_start), mib(rss_peak_end), mib(rss_freed), released, mib(rss_end));
    print_message("mallinfo2: arena %.1f -> %.1f -> %.1f MiB, uordblks %zu -> %zu -> %zu bytes, "
                  "hblkhd %zu -> %zu bytes\n",
                  mib(mi_start.arena), mib(mi_freed.arena), mib(mi_end.arena), mi_start.uordblks,
                  mi_freed.uordblks, mi_end.uordblks, mi_start.hblkhd, mi_end.hblkhd);

    assert_int_equal(atomic_load(&damaged), 0);
    assert_int_equal(atomic_load(&allocated), TOTAL_PAIRS);
    assert_int_equal(atomic_load(&freed), TOTAL_PAIRS);
    /* Every bar is checked and reported before the test fails, so one run shows them all. */
    int failures = 0;
    /* Blocks still counted as allocated after every block was freed would be a leak in the
     * allocator's books (a few KiB of libc's own thread bookkeeping may come and go). */
    if (mi_end.uordblks > mi_start.uordblks + 256 * KIB) {
        print_error("mallinfo2().uordblks: %zu bytes at the start, %zu after freeing everything\n",
                    mi_start.uordblks, mi_end.uordblks);
        failures++;
    }
    /* Huge mappings are given back on free. */
    if (mi_end.hblkhd != mi_start.hblkhd) {
        print_error("mallinfo2().hblkhd: %zu at the start, %zu at the end\n", mi_start.hblkhd,
                    mi_end.hblkhd);
        failures++;
    }
    /* Segments: at most the cache of two empty ones beyond what was mapped at the start. */
    if (mi_end.arena > mi_start.arena + 128 * MIB) {
        print_error("mallinfo2().arena: %zu MiB at the start, %zu MiB after malloc_trim(0)\n",
                    mi_start.arena / MIB, mi_end.arena / MIB);
        failures++;
    }
    if (rss_end > rss_start + RSS_SLACK) {
        print_error("resident size %.1f MiB after malloc_trim(0), %.1f MiB at the start: %.1f MiB "
                    "more than the %zu MiB allowed\n",
                    mib(rss_end), mib(rss_start), mib(rss_end - rss_start), RSS_SLACK / MIB);
        failures++;
    }
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_million_pairs_leave_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
