/* Threads coming and going, and memory following them: abandoned heaps must be adopted, pages
 * emptied by remote frees must come back into use, and freed memory must go back to the OS.
 * Bounds are on resident and virtual size from /proc/self/statm, never on time.
 *
 * The figures are printed with print_message because the team quotes them. The tests run in this
 * order on purpose: the reuse tests come first, while the process holds no free memory that could
 * absorb their allocations and hide a missing reuse; the 768 MiB working sets of the memory-return
 * tests come last, so they cannot inflate anyone's baseline. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "support.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define KIB ((size_t)1024)
#define MIB ((size_t)1024 * 1024)

static double mib(size_t bytes)
{
    return (double)bytes / (double)MIB;
}

/* Signed difference in MiB, for printing growth that may be negative. */
static double mib_delta(size_t after, size_t before)
{
    return ((double)after - (double)before) / (double)MIB;
}

/* Pointer arrays come from mmap so that the test's own bookkeeping is neither allocated by nor
 * returned to the allocator under test, and stays constant in the RSS figures. */
static void *map_array(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    /* Fault it in now so it does not show up as growth later. */
    memset(p, 0, bytes);
    return p;
}

/* Runs body(arg) on a new thread and waits for it; false if the thread could not be made. */
static bool run_thread(void *(*body)(void *), void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, body, arg) != 0) {
        return false;
    }
    pthread_join(t, NULL);
    return true;
}

/* ---- 10,000 short-lived threads ---- */

#define CHURN_TOTAL_THREADS 10000
#define CHURN_WAVE 8
#define CHURN_BLOCKS 50
#define CHURN_KEPT (CHURN_BLOCKS / 2)
#define CHURN_MARK 500

typedef struct {
    void *ptr;
    size_t size;
    uint64_t tag;
} held_t;

typedef struct {
    int thread_number;
    /* Blocks the previous thread in this position left behind; this thread frees them. */
    held_t *inherit;
    /* Where this thread leaves its kept blocks for the next wave. */
    held_t *leave;
    int failed;
} churn_arg_t;

static size_t mixed_size(mx_test_rng_t *rng)
{
    if (mx_test_rng_range(rng, 0, 9) < 7) {
        return (size_t)mx_test_rng_range(rng, 8, 512);
    }
    return (size_t)mx_test_rng_range(rng, 513, 32 * KIB);
}

static void *churn_thread(void *arg)
{
    churn_arg_t *a = arg;
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, 0xc0ffee00ull + (uint64_t)a->thread_number);
    /* First the previous wave's leftovers: remote frees into the pages of an exited thread. */
    for (int i = 0; i < CHURN_KEPT; i++) {
        held_t *h = &a->inherit[i];
        if (h->ptr == NULL) {
            continue;
        }
        if (!mx_test_check(h->ptr, h->size, h->tag)) {
            a->failed = 1;
            return NULL;
        }
        free(h->ptr);
        h->ptr = NULL;
    }
    held_t mine[CHURN_BLOCKS];
    for (int i = 0; i < CHURN_BLOCKS; i++) {
        mine[i].size = mixed_size(&rng);
        mine[i].tag = mx_test_rng_next(&rng);
        mine[i].ptr = malloc(mine[i].size);
        if (mine[i].ptr == NULL) {
            a->failed = 1;
            return NULL;
        }
        mx_test_fill(mine[i].ptr, mine[i].size, mine[i].tag);
    }
    int kept = 0;
    for (int i = 0; i < CHURN_BLOCKS; i++) {
        if (!mx_test_check(mine[i].ptr, mine[i].size, mine[i].tag)) {
            a->failed = 1;
            return NULL;
        }
        if (i % 2 == 0) {
            free(mine[i].ptr);
        } else {
            a->leave[kept++] = mine[i];
        }
    }
    return NULL;
}

static void test_short_lived_threads(void **state)
{
    (void)state;
    /* Two banks of leftovers: a wave frees bank (w-1)%2 and fills bank w%2. */
    held_t *banks = map_array(2 * CHURN_WAVE * CHURN_KEPT * sizeof(held_t));
    size_t rss_mark = 0;
    size_t vsize_mark = 0;
    int mark_threads = 0;
    size_t rss_start = mx_test_rss_bytes();
    size_t vsize_start = mx_test_vsize_bytes();
    int waves = CHURN_TOTAL_THREADS / CHURN_WAVE;
    for (int w = 0; w < waves; w++) {
        pthread_t threads[CHURN_WAVE];
        churn_arg_t args[CHURN_WAVE];
        for (int t = 0; t < CHURN_WAVE; t++) {
            args[t].thread_number = w * CHURN_WAVE + t;
            args[t].inherit = &banks[(((w + 1) % 2) * CHURN_WAVE + t) * CHURN_KEPT];
            args[t].leave = &banks[((w % 2) * CHURN_WAVE + t) * CHURN_KEPT];
            args[t].failed = 0;
            assert_int_equal(pthread_create(&threads[t], NULL, churn_thread, &args[t]), 0);
        }
        for (int t = 0; t < CHURN_WAVE; t++) {
            pthread_join(threads[t], NULL);
            if (args[t].failed) {
                print_error("thread %d: block corrupted or allocation failed\n",
                            args[t].thread_number);
                fail();
            }
        }
        if (mark_threads == 0 && (w + 1) * CHURN_WAVE >= CHURN_MARK) {
            mark_threads = (w + 1) * CHURN_WAVE;
            rss_mark = mx_test_rss_bytes();
            vsize_mark = mx_test_vsize_bytes();
        }
    }
    size_t rss_end = mx_test_rss_bytes();
    size_t vsize_end = mx_test_vsize_bytes();
    /* The last wave's leftovers are freed by main. */
    for (size_t i = 0; i < 2 * CHURN_WAVE * CHURN_KEPT; i++) {
        if (banks[i].ptr != NULL) {
            assert_true(mx_test_check(banks[i].ptr, banks[i].size, banks[i].tag));
            free(banks[i].ptr);
        }
    }
    munmap(banks, 2 * CHURN_WAVE * CHURN_KEPT * sizeof(held_t));
    print_message("short-lived threads: start RSS %.1f MiB vsize %.1f MiB; after %d threads RSS "
                  "%.1f MiB vsize %.1f MiB; after %d threads RSS %.1f MiB vsize %.1f MiB; growth "
                  "since mark RSS %+.1f MiB vsize %+.1f MiB\n",
                  mib(rss_start), mib(vsize_start), mark_threads, mib(rss_mark), mib(vsize_mark),
                  CHURN_TOTAL_THREADS, mib(rss_end), mib(vsize_end), mib_delta(rss_end, rss_mark),
                  mib_delta(vsize_end, vsize_mark));
    /* Dead threads' memory must be reused, not accumulated: 9,500 more threads may not add more
     * than a bounded amount. */
    assert_true(rss_end < rss_mark + 32 * MIB);
    assert_true(vsize_end < vsize_mark + 256 * MIB);
}

/* ---- abandoned pages are adopted ---- */

#define ADOPT_BLOCKS 20000
#define ADOPT_SIZE 48

static void *adopt_producer(void *arg)
{
    void **blocks = arg;
    for (int i = 0; i < ADOPT_BLOCKS; i++) {
        blocks[i] = malloc(ADOPT_SIZE);
        if (blocks[i] != NULL) {
            memset(blocks[i], 0x5a, ADOPT_SIZE);
        }
    }
    return NULL;
}

static void test_abandoned_pages_adopted(void **state)
{
    (void)state;
    void **blocks = map_array(ADOPT_BLOCKS * sizeof(void *));
    size_t rss_before = mx_test_rss_bytes();
    assert_true(run_thread(adopt_producer, blocks));
    /* The producer has exited with all its blocks live: its heap is abandoned. */
    size_t rss_peak = mx_test_rss_bytes();
    for (int i = 0; i < ADOPT_BLOCKS; i++) {
        assert_non_null(blocks[i]);
        free(blocks[i]);
    }
    size_t rss_freed = mx_test_rss_bytes();
    for (int i = 0; i < ADOPT_BLOCKS; i++) {
        blocks[i] = malloc(ADOPT_SIZE);
        assert_non_null(blocks[i]);
        memset(blocks[i], 0xa5, ADOPT_SIZE);
    }
    size_t rss_again = mx_test_rss_bytes();
    print_message("adoption: RSS before %.2f MiB, after dead thread's %d x %d B %.2f MiB, after "
                  "main freed them %.2f MiB, after main allocated them again %.2f MiB (%+.2f MiB "
                  "over the peak)\n",
                  mib(rss_before), ADOPT_BLOCKS, ADOPT_SIZE, mib(rss_peak), mib(rss_freed),
                  mib(rss_again), mib_delta(rss_again, rss_peak));
    for (int i = 0; i < ADOPT_BLOCKS; i++) {
        free(blocks[i]);
    }
    munmap(blocks, ADOPT_BLOCKS * sizeof(void *));
    /* The blocks themselves are under 1 MiB, so a bound of 1 MiB would pass without any reuse;
     * half of them is the most that fresh pages for main's first allocations may account for. */
    assert_true(rss_again <= rss_peak + ADOPT_BLOCKS * ADOPT_SIZE / 2);
}

/* ---- a full page comes back into use when remote frees empty it ---- */

#define REFILL_BLOCKS 100000
#define REFILL_SIZE 64

typedef struct {
    void **blocks;
    size_t rss_peak;
    size_t rss_after_remote_free;
    size_t rss_again;
    int failed;
} refill_t;

static void *refill_freer(void *arg)
{
    refill_t *r = arg;
    for (int i = 0; i < REFILL_BLOCKS; i++) {
        free(r->blocks[i]);
    }
    return NULL;
}

/* Thread A: fills pages, lets B free every block (all remote frees into A's parked, full pages),
 * then allocates the same amount again while it is still alive. */
static void *refill_owner(void *arg)
{
    refill_t *r = arg;
    for (int i = 0; i < REFILL_BLOCKS; i++) {
        r->blocks[i] = malloc(REFILL_SIZE);
        if (r->blocks[i] == NULL) {
            r->failed = 1;
            return NULL;
        }
        memset(r->blocks[i], 0x11, REFILL_SIZE);
    }
    r->rss_peak = mx_test_rss_bytes();
    if (!run_thread(refill_freer, r)) {
        r->failed = 1;
        return NULL;
    }
    r->rss_after_remote_free = mx_test_rss_bytes();
    for (int i = 0; i < REFILL_BLOCKS; i++) {
        r->blocks[i] = malloc(REFILL_SIZE);
        if (r->blocks[i] == NULL) {
            r->failed = 1;
            return NULL;
        }
        memset(r->blocks[i], 0x22, REFILL_SIZE);
    }
    r->rss_again = mx_test_rss_bytes();
    for (int i = 0; i < REFILL_BLOCKS; i++) {
        free(r->blocks[i]);
    }
    return NULL;
}

static void test_remote_freed_pages_reused(void **state)
{
    (void)state;
    refill_t r = {0};
    r.blocks = map_array(REFILL_BLOCKS * sizeof(void *));
    assert_true(run_thread(refill_owner, &r));
    munmap(r.blocks, REFILL_BLOCKS * sizeof(void *));
    assert_false(r.failed);
    print_message("remote-freed pages: RSS after A's %d x %d B %.2f MiB, after B freed them %.2f "
                  "MiB, after A allocated them again %.2f MiB (%+.2f MiB over the peak)\n",
                  REFILL_BLOCKS, REFILL_SIZE, mib(r.rss_peak), mib(r.rss_after_remote_free),
                  mib(r.rss_again), mib_delta(r.rss_again, r.rss_peak));
    assert_true(r.rss_again <= r.rss_peak + 2 * MIB);
}

/* ---- a page whose blocks all came back starts over in address order ---- */

#define ORDER_BLOCKS 4096
#define ORDER_SIZE 64

typedef struct {
    char **blocks;
    size_t ascending; /* second-pass neighbours ORDER_SIZE apart in allocation order */
    int failed;
} order_t;

/* Frees every block in a shuffled order, so that taking them back in the order they were freed
 * would give A a scattered sequence. */
static void *order_freer(void *arg)
{
    order_t *o = arg;
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, 17);
    for (size_t i = ORDER_BLOCKS; i > 1; i--) {
        size_t j = (size_t)(mx_test_rng_next(&rng) % i);
        char *t = o->blocks[i - 1];
        o->blocks[i - 1] = o->blocks[j];
        o->blocks[j] = t;
    }
    for (size_t i = 0; i < ORDER_BLOCKS; i++) {
        free(o->blocks[i]);
    }
    return NULL;
}

/* Thread A fills a few pages, B frees all of it, and A allocates as much again. */
static void *order_owner(void *arg)
{
    order_t *o = arg;
    for (size_t i = 0; i < ORDER_BLOCKS; i++) {
        o->blocks[i] = malloc(ORDER_SIZE);
        if (o->blocks[i] == NULL) {
            o->failed = 1;
            return NULL;
        }
    }
    if (!run_thread(order_freer, o)) {
        o->failed = 1;
        return NULL;
    }
    for (size_t i = 0; i < ORDER_BLOCKS; i++) {
        o->blocks[i] = malloc(ORDER_SIZE);
        if (o->blocks[i] == NULL) {
            o->failed = 1;
            return NULL;
        }
        if (i > 0 && o->blocks[i] == o->blocks[i - 1] + ORDER_SIZE) {
            o->ascending++;
        }
    }
    for (size_t i = 0; i < ORDER_BLOCKS; i++) {
        free(o->blocks[i]);
    }
    return NULL;
}

static void test_remote_freed_pages_restart_in_order(void **state)
{
    (void)state;
    order_t o = {0};
    o.blocks = map_array(ORDER_BLOCKS * sizeof(char *));
    assert_true(run_thread(order_owner, &o));
    munmap(o.blocks, ORDER_BLOCKS * sizeof(char *));
    assert_false(o.failed);
    print_message("blocks taken back in address order: %zu of %d\n", o.ascending,
                  ORDER_BLOCKS - 1);
    assert_true(o.ascending * 10 >= (size_t)(ORDER_BLOCKS - 1) * 9);
}

/* ---- memory goes back to the OS ---- */

#define RETURN_LARGE_BYTES (512 * MIB)
#define RETURN_SMALL_BYTES (256 * MIB)
#define RETURN_MAX_BLOCKS (4 * 1024 * 1024)

typedef struct {
    void **blocks;
    size_t count;
    size_t bytes;
} working_set_t;

/* 512 MiB in 64 KiB..1 MiB blocks and 256 MiB in small blocks, every page written. */
static void build_working_set(working_set_t *ws, uint64_t seed)
{
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, seed);
    ws->blocks = map_array(RETURN_MAX_BLOCKS * sizeof(void *));
    ws->count = 0;
    ws->bytes = 0;
    size_t large = 0;
    while (large < RETURN_LARGE_BYTES) {
        size_t size = (size_t)mx_test_rng_range(&rng, 64 * KIB, 1 * MIB);
        void *p = malloc(size);
        assert_non_null(p);
        memset(p, 0x33, size);
        ws->blocks[ws->count++] = p;
        large += size;
    }
    size_t small = 0;
    while (small < RETURN_SMALL_BYTES) {
        size_t size = (size_t)mx_test_rng_range(&rng, 16, 512);
        void *p = malloc(size);
        assert_non_null(p);
        memset(p, 0x44, size);
        assert_true(ws->count < RETURN_MAX_BLOCKS);
        ws->blocks[ws->count++] = p;
        small += size;
    }
    ws->bytes = large + small;
}

static void free_working_set(working_set_t *ws)
{
    for (size_t i = 0; i < ws->count; i++) {
        free(ws->blocks[i]);
    }
}

static void release_working_set(working_set_t *ws)
{
    munmap(ws->blocks, RETURN_MAX_BLOCKS * sizeof(void *));
}

static void test_memory_returned_by_trim(void **state)
{
    (void)state;
    working_set_t ws;
    size_t rss_before = mx_test_rss_bytes();
    build_working_set(&ws, 0x7417ull);
    size_t rss_peak = mx_test_rss_bytes();
    free_working_set(&ws);
    size_t rss_freed = mx_test_rss_bytes();
    int released = malloc_trim(0);
    size_t rss_trimmed = mx_test_rss_bytes();
    release_working_set(&ws);
    print_message("malloc_trim: %zu blocks, %.1f MiB requested; RSS before %.1f MiB, peak %.1f "
                  "MiB, after free %.1f MiB, after malloc_trim(0) (returned %d) %.1f MiB "
                  "(%.1f MiB below the peak)\n",
                  ws.count, mib(ws.bytes), mib(rss_before), mib(rss_peak), mib(rss_freed), released,
                  mib(rss_trimmed), -mib_delta(rss_trimmed, rss_peak));
    assert_true(rss_peak > 600 * MIB);
    assert_true(rss_trimmed < rss_peak - 600 * MIB);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Waits past the purge delay, then makes enough calls, of several size classes, that each
 * one's slow path (where purging happens) runs at least once. */
static void idle_then_allocate(void)
{
    sleep_ms(200);
    for (int round = 0; round < 64; round++) {
        void *tmp[64];
        for (int i = 0; i < 64; i++) {
            tmp[i] = malloc((size_t)(16 << (i % 12)));
        }
        for (int i = 0; i < 64; i++) {
            free(tmp[i]);
        }
    }
}

/* Without malloc_trim: the purge delay passes, and ordinary allocation calls (which reach the slow
 * path now and then) must return the memory on their own. */
static void test_memory_returned_without_trim(void **state)
{
    (void)state;
    working_set_t ws;
    /* Start from a clean slate, so free memory an earlier test left resident cannot absorb this
     * working set and blur the figures. */
    malloc_trim(0);
    size_t rss_before = mx_test_rss_bytes();
    build_working_set(&ws, 0x7418ull);
    size_t rss_peak = mx_test_rss_bytes();
    free_working_set(&ws);
    size_t rss_freed = mx_test_rss_bytes();
    idle_then_allocate();
    size_t rss_later = mx_test_rss_bytes();
    release_working_set(&ws);
    print_message("no trim: %zu blocks, %.1f MiB requested; RSS before %.1f MiB, peak %.1f MiB, "
                  "right after free %.1f MiB, 200 ms and a few malloc/free later %.1f MiB (%.1f "
                  "MiB below the peak, needed %.1f)\n",
                  ws.count, mib(ws.bytes), mib(rss_before), mib(rss_peak), mib(rss_freed),
                  mib(rss_later), -mib_delta(rss_later, rss_peak), mib(ws.bytes / 2));
    assert_true(rss_later + ws.bytes / 2 <= rss_peak);
}

/* The same without malloc_trim, small blocks only: every page of their size classes ends up
 * empty, and empty pages are purged after the purge delay (DESIGN.md, "Returning memory"), not
 * only large blocks' memory. The combined test above would pass on the large blocks alone. */
static void test_small_memory_returned_without_trim(void **state)
{
    (void)state;
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, 0x7419ull);
    void **blocks = map_array(RETURN_MAX_BLOCKS * sizeof(void *));
    size_t count = 0;
    size_t bytes = 0;
    /* As above: start from a clean slate. */
    malloc_trim(0);
    size_t rss_before = mx_test_rss_bytes();
    while (bytes < RETURN_SMALL_BYTES) {
        size_t size = (size_t)mx_test_rng_range(&rng, 16, 512);
        void *p = malloc(size);
        assert_non_null(p);
        memset(p, 0x55, size);
        assert_true(count < RETURN_MAX_BLOCKS);
        blocks[count++] = p;
        bytes += size;
    }
    size_t rss_peak = mx_test_rss_bytes();
    for (size_t i = 0; i < count; i++) {
        free(blocks[i]);
    }
    size_t rss_freed = mx_test_rss_bytes();
    idle_then_allocate();
    size_t rss_later = mx_test_rss_bytes();
    munmap(blocks, RETURN_MAX_BLOCKS * sizeof(void *));
    print_message("no trim, small blocks: %zu blocks, %.1f MiB requested; RSS before %.1f MiB, "
                  "peak %.1f MiB, right after free %.1f MiB, 200 ms and a few malloc/free later "
                  "%.1f MiB (%.1f MiB below the peak, needed %.1f)\n",
                  count, mib(bytes), mib(rss_before), mib(rss_peak), mib(rss_freed), mib(rss_later),
                  -mib_delta(rss_later, rss_peak), mib(bytes / 2));
    assert_true(rss_later + bytes / 2 <= rss_peak);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abandoned_pages_adopted),
        cmocka_unit_test(test_remote_freed_pages_reused),
        cmocka_unit_test(test_remote_freed_pages_restart_in_order),
        cmocka_unit_test(test_short_lived_threads),
        cmocka_unit_test(test_memory_returned_by_trim),
        cmocka_unit_test(test_memory_returned_without_trim),
        cmocka_unit_test(test_small_memory_returned_without_trim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
