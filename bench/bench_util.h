// Helpers shared by the benchmark workloads: argument parsing, a seeded PRNG,
// a monotonic clock and a compiler barrier that keeps malloc/free pairs alive.
//
// Everything here is header-only and static so that each workload stays one
// .c file that the runner can compile with a plain `cc -O2 -pthread`.
// Nothing in this file allocates: the workloads must be the only callers of
// the allocator in the timed regions.
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// A compiler may delete `free(malloc(n))` outright; passing the pointer
// through an empty asm with a memory clobber makes the block observable
// without costing an instruction.
static inline void bench_escape(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// xorshift64*: fast, good enough for choosing slots and sizes, and fully
// determined by its seed so every allocator sees the same request stream.
typedef struct {
    uint64_t state;
} bench_rng_t;

static inline void bench_rng_seed(bench_rng_t *rng, uint64_t seed)
{
    // A zero state would stay zero forever; mix the seed so that thread ids
    // 0, 1, 2 ... still give unrelated streams.
    rng->state = (seed + 1) * 0x9E3779B97F4A7C15ull;
    if (rng->state == 0) {
        rng->state = 1;
    }
}

static inline uint64_t bench_rng_next(bench_rng_t *rng)
{
    uint64_t x = rng->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

// Uniform in [lo, hi]; the modulo bias is irrelevant at these ranges.
static inline size_t bench_rng_range(bench_rng_t *rng, size_t lo, size_t hi)
{
    return lo + (size_t)(bench_rng_next(rng) % (uint64_t)(hi - lo + 1));
}

// Positional argument `index` as an unsigned number, or `fallback` when absent.
// Accepts k/m/g suffixes so that sizes read naturally on the command line.
static inline uint64_t bench_arg_u64(int argc, char **argv, int index, uint64_t fallback)
{
    if (index >= argc) {
        return fallback;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(argv[index], &end, 0);
    if (errno != 0 || end == argv[index]) {
        fprintf(stderr, "bad numeric argument: %s\n", argv[index]);
        exit(2);
    }
    switch (*end) {
    case 'k':
    case 'K':
        v <<= 10;
        break;
    case 'm':
    case 'M':
        v <<= 20;
        break;
    case 'g':
    case 'G':
        v <<= 30;
        break;
    default:
        break;
    }
    return (uint64_t)v;
}

static inline void bench_die(const char *what)
{
    fprintf(stderr, "fatal: %s\n", what);
    exit(1);
}

// Allocation that must succeed: a NULL from the allocator under test is a
// result worth stopping for, not something to paper over.
static inline void *bench_xmalloc(size_t size)
{
    void *p = malloc(size);
    if (p == NULL) {
        fprintf(stderr, "fatal: malloc(%zu) returned NULL\n", size);
        exit(1);
    }
    return p;
}

// Starts `count` threads running `fn(arg_base + i * arg_stride)` and joins
// them; the workloads pass an array of per-thread structs.
static inline void bench_run_threads(int count, void *(*fn)(void *), void *arg_base,
                                     size_t arg_stride)
{
    pthread_t *tids = bench_xmalloc(sizeof(pthread_t) * (size_t)count);
    for (int i = 0; i < count; i++) {
        void *arg = (char *)arg_base + (size_t)i * arg_stride;
        if (pthread_create(&tids[i], NULL, fn, arg) != 0) {
            bench_die("pthread_create");
        }
    }
    for (int i = 0; i < count; i++) {
        pthread_join(tids[i], NULL);
    }
    free(tids);
}

// A start line so that threads begin their timed loops together rather than
// in the order the main thread happened to create them.
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int waiting;
    int total;
} bench_barrier_t;

static inline void bench_barrier_init(bench_barrier_t *b, int total)
{
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    b->waiting = 0;
    b->total = total;
}

static inline void bench_barrier_wait(bench_barrier_t *b)
{
    pthread_mutex_lock(&b->lock);
    b->waiting++;
    if (b->waiting == b->total) {
        pthread_cond_broadcast(&b->cond);
    } else {
        while (b->waiting < b->total) {
            pthread_cond_wait(&b->cond, &b->lock);
        }
    }
    pthread_mutex_unlock(&b->lock);
}

// Starts `count` threads running `fn(arg_base + i * arg_stride)` into `tids`
// (the caller's array: latency keeps it out of the allocator under test),
// releases them together through `start` (initialised for count + 1) and
// returns the seconds from the release until the last one is joined.
static inline double bench_time_threads(int count, void *(*fn)(void *), void *arg_base,
                                        size_t arg_stride, bench_barrier_t *start,
                                        pthread_t *tids)
{
    for (int i = 0; i < count; i++) {
        void *arg = (char *)arg_base + (size_t)i * arg_stride;
        if (pthread_create(&tids[i], NULL, fn, arg) != 0) {
            bench_die("pthread_create");
        }
    }
    bench_barrier_wait(start);
    double t0 = bench_now();
    for (int i = 0; i < count; i++) {
        pthread_join(tids[i], NULL);
    }
    return bench_now() - t0;
}

#endif // BENCH_UTIL_H
