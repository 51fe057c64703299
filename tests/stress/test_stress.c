/* Randomized multi-threaded stress test. Not a benchmark: nothing here is timed, and the only
 * thing asserted is that every block keeps its contents, size and alignment whatever mix of
 * threads allocates, reallocates and frees it.
 *
 * N worker threads (default 8, more than the cores so threads are preempted mid-operation) share
 * an array of slots. A worker takes a slot by atomically exchanging its pointer with BUSY, works
 * on the block, and publishes the result with a release store; so at most one thread touches a
 * block at a time, and most frees are of blocks another thread allocated (remote frees). Workers
 * also spawn short-lived children that allocate, leave blocks in the slots and exit, so heaps are
 * abandoned and their pages adopted or freed into while the rest keeps running, and now and then
 * fork: the child, a copy taken while the other workers were mid-operation, must still allocate,
 * reallocate and free (its own blocks and copies of the parent's) and exit cleanly. Now and then
 * a worker calls malloc_trim, which trims its own pages and those of every worker outside the
 * allocator at that moment (src/trim.h) while the others go on allocating from and freeing into
 * them.
 *
 * Blocks carry no header: the slot's side table keeps size and tag, and the block holds a pattern
 * derived from its address and tag (mx_test_fill), checked before every free and realloc. A
 * mismatch stops all workers and fails with the slot, size, thread and seed.
 *
 * Seeds are fixed; the interleaving is not, so a failure is reproduced by rerunning. For a long
 * run by hand, MX_STRESS_SCALE multiplies the operation count and MX_STRESS_THREADS sets the
 * worker count. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#ifdef MX_TEST_EXPLICIT_API
#include "mx_explicit.h"
#endif
#include "support.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOT_COUNT 4096
#define DEFAULT_THREADS 8
/* Chosen so a Release build takes 10-20 s on 2 cores; the checked build (MX_DEBUG) runs a tenth. */
#define DEFAULT_OPS_PER_THREAD 220000
#define BASE_SEED 0x6d616c6c6f632d78ull /* "malloc-x" */
#define CHURN_CHILD_BLOCKS 32
#define KIB ((size_t)1024)
#define MIB ((size_t)1024 * 1024)

/* A slot pointer value no allocator returns: "another thread is working on this slot". */
#define BUSY ((void *)(uintptr_t)1)

typedef struct {
    _Atomic(void *) ptr;
    /* Written only by the thread holding the slot (it swapped BUSY in), published by the release
     * store of ptr, read after the acquire exchange that takes it. */
    size_t size;
    uint64_t tag;
    int owner; /* worker that allocated the block; -1 for a churn child */
} slot_t;

typedef struct {
    int index;
    uint64_t seed;
    size_t ops;
    mx_test_rng_t rng;
    /* Counters, read by main after join. */
    size_t allocs;
    size_t callocs;
    size_t aligned;
    size_t reallocs;
    size_t frees;
    size_t remote_frees;
    size_t churn_threads;
    size_t churn_left;
    size_t usable_checks;
    size_t big_allocs;
    size_t forks;
} worker_t;

typedef struct {
    uint64_t seed;
    int parent;
    size_t frees;
    size_t left;
} churn_t;

static slot_t g_slots[SLOT_COUNT];
static atomic_int g_failed;
static char g_fail_msg[512];
static atomic_size_t g_churn_remote_frees;

/* Records the first failure; every worker polls g_failed and stops. */
static void report_failure(const char *what, int thread, uint64_t seed, size_t op, size_t slot,
                           size_t size, const void *p)
{
    int expected = 0;
    if (atomic_compare_exchange_strong(&g_failed, &expected, 1)) {
        snprintf(g_fail_msg, sizeof(g_fail_msg),
                 "%s: thread %d seed 0x%llx op %zu slot %zu size %zu ptr %p", what, thread,
                 (unsigned long long)seed, op, slot, size, p);
    }
}

/* Mostly small, some medium, rare large, very rare huge: the mix real programs have, with enough
 * large blocks to cross the page, segment and huge-mapping boundaries. */
static size_t random_size(mx_test_rng_t *rng)
{
    uint64_t r = mx_test_rng_range(rng, 0, 99999);
    if (r < 80000) {
        return (size_t)mx_test_rng_range(rng, 1, 256);
    }
    if (r < 99700) {
        return (size_t)mx_test_rng_range(rng, 257, 64 * KIB);
    }
    if (r < 99998) {
        return (size_t)mx_test_rng_range(rng, 256 * KIB, 4 * MIB);
    }
    return 40 * MIB + (size_t)mx_test_rng_range(rng, 0, 4095);
}

static size_t random_small_size(mx_test_rng_t *rng)
{
    if (mx_test_rng_range(rng, 0, 9) < 8) {
        return (size_t)mx_test_rng_range(rng, 1, 256);
    }
    return (size_t)mx_test_rng_range(rng, 257, 16 * KIB);
}

static int is_zero(const void *p, size_t size)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < size; i++) {
        if (b[i] != 0) {
            return 0;
        }
    }
    return 1;
}

/* Checks what every fresh block must satisfy, then fills all of its usable size: writing up to
 * malloc_usable_size is legal, and a usable size that overlapped a neighbour would show up as a
 * pattern mismatch in that neighbour. Returns 0 after reporting a failure. */
static int accept_block(worker_t *w, size_t op, size_t slot, void *p, size_t size, size_t align,
                        uint64_t tag)
{
    if (p == NULL) {
        report_failure("allocation returned NULL", w->index, w->seed, op, slot, size, p);
        return 0;
    }
    size_t min_align = size >= 16 ? 16 : 8;
    if (align < min_align) {
        align = min_align;
    }
    if ((uintptr_t)p % align != 0) {
        char what[64];
        snprintf(what, sizeof(what), "misaligned block (alignment %zu)", align);
        report_failure(what, w->index, w->seed, op, slot, size, p);
        return 0;
    }
    size_t usable = malloc_usable_size(p);
    w->usable_checks++;
    if (usable < size) {
        char what[80];
        snprintf(what, sizeof(what), "malloc_usable_size %zu below requested size", usable);
        report_failure(what, w->index, w->seed, op, slot, size, p);
        return 0;
    }
    mx_test_fill(p, usable, tag);
    return 1;
}

/* Allocates a new block into an empty slot the caller holds, by one of the allocation calls. */
static void *allocate_into(worker_t *w, size_t op, size_t slot_index)
{
    slot_t *s = &g_slots[slot_index];
    mx_test_rng_t *rng = &w->rng;
    size_t size = random_size(rng);
    uint64_t tag = mx_test_rng_next(rng);
    uint64_t kind = mx_test_rng_range(rng, 0, 99);
    size_t align = 0;
    void *p = NULL;
    if (kind < 60) {
        p = malloc(size);
    } else if (kind < 75) {
        size_t elem = (size_t)1 << mx_test_rng_range(rng, 0, 4);
        size_t count = (size + elem - 1) / elem;
        size = count * elem;
        p = calloc(count, elem);
        w->callocs++;
        if (p != NULL && !is_zero(p, size)) {
            report_failure("calloc block not zeroed", w->index, w->seed, op, slot_index, size, p);
            return BUSY;
        }
    } else if (kind < 90) {
        align = (size_t)1 << mx_test_rng_range(rng, 3, 16);
        int rc = posix_memalign(&p, align, size);
        w->aligned++;
        if (rc != 0) {
            p = NULL;
        }
    } else {
        align = (size_t)1 << mx_test_rng_range(rng, 3, 16);
        /* C11 asks for a size that is a multiple of the alignment. */
        size = (size + align - 1) & ~(align - 1);
        p = aligned_alloc(align, size);
        w->aligned++;
    }
    w->allocs++;
    if (size > 4 * MIB) {
        w->big_allocs++;
    }
    if (!accept_block(w, op, slot_index, p, size, align, tag)) {
        return BUSY;
    }
    s->size = size;
    s->tag = tag;
    s->owner = w->index;
    return p;
}

static void free_block(worker_t *w, slot_t *s, void *p)
{
    free(p);
    w->frees++;
    if (s->owner != w->index) {
        w->remote_frees++;
    }
}

/* Grows or shrinks a held block; the bytes both sizes cover must survive, wherever it moves. */
static void *reallocate(worker_t *w, size_t op, size_t slot_index, void *p)
{
    slot_t *s = &g_slots[slot_index];
    mx_test_rng_t *rng = &w->rng;
    size_t old_size = s->size;
    size_t new_size;
    uint64_t how = mx_test_rng_range(rng, 0, 9);
    if (how < 4) {
        new_size = old_size + (size_t)mx_test_rng_range(rng, 1, old_size < 64 ? 64 : old_size);
    } else if (how < 8) {
        new_size = (size_t)mx_test_rng_range(rng, 1, old_size);
    } else {
        new_size = random_size(rng);
    }
    /* Growth by doubling would otherwise make a 40 MiB block an 80 MiB one now and then. */
    if (new_size > 48 * MIB) {
        new_size = old_size / 2 + 1;
    }
    void *q = realloc(p, new_size);
    w->reallocs++;
    if (q == NULL) {
        report_failure("realloc returned NULL", w->index, w->seed, op, slot_index, new_size, p);
        return BUSY;
    }
    size_t kept = old_size < new_size ? old_size : new_size;
    /* The pattern is seeded by address ^ tag; re-seed for the new address to check the old one. */
    uint64_t moved_tag = s->tag ^ (uint64_t)(uintptr_t)p ^ (uint64_t)(uintptr_t)q;
    if (!mx_test_check(q, kept, moved_tag)) {
        report_failure("realloc lost the preserved prefix", w->index, w->seed, op, slot_index,
                       old_size, q);
        return BUSY;
    }
    uint64_t tag = mx_test_rng_next(rng);
    if (!accept_block(w, op, slot_index, q, new_size, 0, tag)) {
        return BUSY;
    }
    s->size = new_size;
    s->tag = tag;
    /* The realloc'd block now lives wherever this thread put it. */
    s->owner = w->index;
    return q;
}

/* A short-lived thread: allocates, frees half itself, parks the rest in the shared slots (freeing
 * whatever it displaces, another thread's block), and exits with live blocks in its heap. */
static void *churn_main(void *arg)
{
    churn_t *c = arg;
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, c->seed);
    void *blocks[CHURN_CHILD_BLOCKS];
    size_t sizes[CHURN_CHILD_BLOCKS];
    uint64_t tags[CHURN_CHILD_BLOCKS];
    for (int i = 0; i < CHURN_CHILD_BLOCKS; i++) {
        sizes[i] = random_small_size(&rng);
        tags[i] = mx_test_rng_next(&rng);
        blocks[i] = malloc(sizes[i]);
        if (blocks[i] == NULL) {
            report_failure("churn child: malloc returned NULL", c->parent, c->seed, 0, SLOT_COUNT,
                           sizes[i], NULL);
            return NULL;
        }
        mx_test_fill(blocks[i], sizes[i], tags[i]);
    }
    for (int i = 0; i < CHURN_CHILD_BLOCKS; i++) {
        if (!mx_test_check(blocks[i], sizes[i], tags[i])) {
            report_failure("churn child: own block corrupted", c->parent, c->seed, 0, SLOT_COUNT,
                           sizes[i], blocks[i]);
            return NULL;
        }
        if (i % 2 == 0) {
            free(blocks[i]);
            c->frees++;
            continue;
        }
        size_t slot_index = (size_t)mx_test_rng_range(&rng, 0, SLOT_COUNT - 1);
        slot_t *s = &g_slots[slot_index];
        void *old = atomic_exchange_explicit(&s->ptr, BUSY, memory_order_acquire);
        if (old == BUSY) {
            free(blocks[i]);
            c->frees++;
            continue;
        }
        if (old != NULL) {
            if (!mx_test_check(old, s->size, s->tag)) {
                report_failure("churn child: slot block corrupted", c->parent, c->seed, 0,
                               slot_index, s->size, old);
                atomic_store_explicit(&s->ptr, old, memory_order_release);
                return NULL;
            }
            free(old);
            atomic_fetch_add(&g_churn_remote_frees, 1);
        }
        s->size = sizes[i];
        s->tag = tags[i];
        s->owner = -1;
        c->left++;
        atomic_store_explicit(&s->ptr, blocks[i], memory_order_release);
    }
    return NULL;
}

static void spawn_churn_child(worker_t *w)
{
    churn_t c = {mx_test_rng_next(&w->rng), w->index, 0, 0};
    pthread_t t;
    if (pthread_create(&t, NULL, churn_main, &c) != 0) {
        report_failure("pthread_create failed for churn child", w->index, w->seed, 0, 0, 0, NULL);
        return;
    }
    pthread_join(t, NULL);
    w->churn_threads++;
    w->churn_left += c.left;
}

/* The child of a fork made while the other workers allocate: the allocator's locks and the
 * forking thread's heap must be usable. It allocates, checks and frees a mix of sizes, takes
 * over one slot's block (the parent's memory, copied), and exits 0 only if all of it held. */
static int fork_child_work(uint64_t seed)
{
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, seed);
    void *blocks[64];
    size_t sizes[64];
    for (int i = 0; i < 64; i++) {
        sizes[i] = random_size(&rng) % (1 << 20) + 1;
        blocks[i] = malloc(sizes[i]);
        if (blocks[i] == NULL) {
            return 1;
        }
        mx_test_fill(blocks[i], sizes[i], seed);
    }
    for (int i = 0; i < 64; i++) {
        /* The pattern depends on the address, so check it before the block may move and a
         * plain byte fill across the move. */
        if (!mx_test_check(blocks[i], sizes[i], seed)) {
            return 2;
        }
        memset(blocks[i], i, sizes[i]);
        unsigned char *q = realloc(blocks[i], sizes[i] * 2);
        if (q == NULL) {
            return 3;
        }
        for (size_t b = 0; b < sizes[i]; b++) {
            if (q[b] != (unsigned char)i) {
                return 4;
            }
        }
        free(q);
    }
    slot_t *s = &g_slots[mx_test_rng_range(&rng, 0, SLOT_COUNT - 1)];
    void *p = atomic_load(&s->ptr);
    if (p != NULL && p != BUSY) {
        free(p);
    }
    return 0;
}

static void fork_and_check(worker_t *w)
{
    pid_t pid = fork();
    if (pid == 0) {
        _exit(fork_child_work(mx_test_rng_next(&w->rng)));
    }
    if (pid < 0) {
        report_failure("fork failed", w->index, w->seed, 0, 0, 0, NULL);
        return;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        report_failure("forked child failed", w->index, w->seed, 0, 0, (size_t)status, NULL);
    }
    w->forks++;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    mx_test_rng_seed(&w->rng, w->seed);
    for (size_t op = 0; op < w->ops; op++) {
        if (atomic_load_explicit(&g_failed, memory_order_relaxed)) {
            break;
        }
        if (mx_test_rng_range(&w->rng, 0, 1999) == 0) {
            spawn_churn_child(w);
            continue;
        }
        /* Once half-way through for certain (short runs too), and now and then besides. */
        if (op == w->ops / 2 || mx_test_rng_range(&w->rng, 0, 19999) == 0) {
            fork_and_check(w);
            continue;
        }
        if (op == w->ops / 4 || mx_test_rng_range(&w->rng, 0, 19999) == 0) {
            malloc_trim(0);
            continue;
        }
        size_t slot_index = (size_t)mx_test_rng_range(&w->rng, 0, SLOT_COUNT - 1);
        slot_t *s = &g_slots[slot_index];
        void *p = atomic_exchange_explicit(&s->ptr, BUSY, memory_order_acquire);
        if (p == BUSY) {
            /* Someone else holds it; it stays theirs. */
            continue;
        }
        if (p == NULL) {
            p = allocate_into(w, op, slot_index);
            if (p == BUSY) {
                atomic_store_explicit(&s->ptr, NULL, memory_order_release);
                break;
            }
            atomic_store_explicit(&s->ptr, p, memory_order_release);
            continue;
        }
        if (!mx_test_check(p, s->size, s->tag)) {
            report_failure("block corrupted", w->index, w->seed, op, slot_index, s->size, p);
            atomic_store_explicit(&s->ptr, p, memory_order_release);
            break;
        }
        uint64_t action = mx_test_rng_range(&w->rng, 0, 99);
        /* Blocks past the rare-large range are freed at once, so the very rare 40 MiB ones do not
         * pile up in the slots. */
        if (s->size > 4 * MIB && action >= 55) {
            action = 0;
        }
        if (action < 35) {
            free_block(w, s, p);
            p = NULL;
        } else if (action < 55) {
            free_block(w, s, p);
            p = allocate_into(w, op, slot_index);
            if (p == BUSY) {
                atomic_store_explicit(&s->ptr, NULL, memory_order_release);
                break;
            }
        } else if (action < 80) {
            void *q = reallocate(w, op, slot_index, p);
            if (q == BUSY) {
                /* After a failed check the block's state is unknown; leave it out of the slots. */
                atomic_store_explicit(&s->ptr, NULL, memory_order_release);
                break;
            }
            p = q;
        }
        /* Otherwise keep the block: it was checked, and stays for another thread to free. */
        atomic_store_explicit(&s->ptr, p, memory_order_release);
    }
    return NULL;
}

static double env_double(const char *name, double fallback)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        return fallback;
    }
    double d = strtod(v, NULL);
    return d > 0 ? d : fallback;
}

static void test_stress_shared_slots(void **state)
{
    (void)state;
    int thread_count = (int)env_double("MX_STRESS_THREADS", DEFAULT_THREADS);
    double scale = env_double("MX_STRESS_SCALE", 1.0);
#ifdef MX_STRESS_CHECKED
    scale /= 10;
#endif
    size_t ops = (size_t)(DEFAULT_OPS_PER_THREAD * scale);
    if (ops == 0) {
        ops = 1;
    }
    print_message("stress: %d threads x %zu operations over %d slots, base seed 0x%llx\n",
                  thread_count, ops, SLOT_COUNT, (unsigned long long)BASE_SEED);

    worker_t *workers = calloc((size_t)thread_count, sizeof(worker_t));
    pthread_t *threads = calloc((size_t)thread_count, sizeof(pthread_t));
    assert_non_null(workers);
    assert_non_null(threads);
    for (int i = 0; i < thread_count; i++) {
        workers[i].index = i;
        workers[i].seed = BASE_SEED + (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull;
        workers[i].ops = ops;
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    for (int i = 0; i < thread_count; i++) {
        pthread_join(threads[i], NULL);
    }
    if (atomic_load(&g_failed)) {
        print_error("%s\n", g_fail_msg);
        fail();
    }

    worker_t total = {0};
    for (int i = 0; i < thread_count; i++) {
        total.allocs += workers[i].allocs;
        total.callocs += workers[i].callocs;
        total.aligned += workers[i].aligned;
        total.reallocs += workers[i].reallocs;
        total.frees += workers[i].frees;
        total.remote_frees += workers[i].remote_frees;
        total.churn_threads += workers[i].churn_threads;
        total.churn_left += workers[i].churn_left;
        total.usable_checks += workers[i].usable_checks;
        total.big_allocs += workers[i].big_allocs;
        total.forks += workers[i].forks;
    }

    /* Free what is left, checking each block once more. */
    size_t leftover = 0;
    for (size_t i = 0; i < SLOT_COUNT; i++) {
        slot_t *s = &g_slots[i];
        void *p = atomic_exchange(&s->ptr, NULL);
        assert_true(p != BUSY);
        if (p == NULL) {
            continue;
        }
        if (!mx_test_check(p, s->size, s->tag)) {
            print_error("block corrupted at the end: slot %zu size %zu ptr %p owner %d\n", i,
                        s->size, p, s->owner);
            fail();
        }
        size_t usable = malloc_usable_size(p);
        total.usable_checks++;
        if (usable < s->size) {
            print_error("malloc_usable_size %zu < size %zu at the end: slot %zu ptr %p\n", usable,
                        s->size, i, p);
            fail();
        }
        free(p);
        leftover++;
    }

    print_message("stress: %zu allocations (%zu calloc, %zu aligned, %zu > 4 MiB), %zu reallocs, "
                  "%zu frees (%zu by another thread), %zu left at the end, %zu usable-size "
                  "checks\n",
                  total.allocs, total.callocs, total.aligned, total.big_allocs, total.reallocs,
                  total.frees, total.remote_frees, leftover, total.usable_checks);
    print_message("stress: %zu churn threads left %zu blocks behind and freed %zu of others'; "
                  "%zu forks\n",
                  total.churn_threads, total.churn_left,
                  (size_t)atomic_load(&g_churn_remote_frees), total.forks);
    /* The run must actually have exercised what it claims to. */
    assert_true(total.remote_frees > 0);
    assert_true(total.churn_threads > 0);
    assert_true(total.churn_left > 0);
    assert_true(total.forks > 0);
    assert_true(total.usable_checks >= total.allocs);
    free(threads);
    free(workers);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress_shared_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
