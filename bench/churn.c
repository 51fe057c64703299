// churn: short-lived threads that leave memory behind for their successors.
//
// usage: churn THREADS [STARTS] [BLOCKS] [MAX_SIZE]
// The main thread runs STARTS/THREADS generations; each generation starts
// THREADS threads and joins them, so STARTS threads are created in all
// whatever THREADS is. A thread allocates BLOCKS blocks of random
// sizes in [16, MAX_SIZE], frees three quarters of them itself, and swaps the
// remaining quarter into random slots of one shared array, freeing whatever
// block was there. So most blocks a thread frees from the shared array were
// allocated by a thread that has already exited: this measures thread start
// and exit inside the allocator (heap set-up, abandoning and adopting
// memory of dead threads) and whether that memory is reused instead of
// piling up (watch the peak RSS).
#include <stdatomic.h>

#include "bench_util.h"

#define SHARED_SLOTS 65536

typedef struct {
    uint64_t seed;
    size_t blocks;
    size_t max_size;
    _Atomic(char *) *shared;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    bench_rng_t rng;
    bench_rng_seed(&rng, w->seed);
    char **mine = bench_xmalloc(w->blocks * sizeof(char *));
    for (size_t i = 0; i < w->blocks; i++) {
        size_t size = bench_rng_range(&rng, 16, w->max_size);
        mine[i] = bench_xmalloc(size);
        mine[i][0] = (char)i;
        mine[i][size - 1] = (char)i;
    }
    for (size_t i = 0; i < w->blocks; i++) {
        if ((i & 3) == 0) {
            // Exchange, not load+store: two threads of one generation may
            // pick the same slot, and each old block must be freed once.
            size_t slot = (size_t)(bench_rng_next(&rng) % SHARED_SLOTS);
            char *old = atomic_exchange_explicit(&w->shared[slot], mine[i], memory_order_acq_rel);
            free(old);
        } else {
            free(mine[i]);
        }
    }
    free(mine);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s THREADS [STARTS] [BLOCKS] [MAX_SIZE]\n", argv[0]);
        return 2;
    }
    int threads = (int)bench_arg_u64(argc, argv, 1, 4);
    uint64_t starts = bench_arg_u64(argc, argv, 2, 2000);
    size_t blocks = bench_arg_u64(argc, argv, 3, 2000);
    size_t max_size = bench_arg_u64(argc, argv, 4, 512);
    if (threads < 1 || blocks < 1 || max_size < 16) {
        bench_die("need THREADS >= 1, BLOCKS >= 1, MAX_SIZE >= 16");
    }
    uint64_t generations = starts / (uint64_t)threads;

    _Atomic(char *) *shared = bench_xmalloc(sizeof(*shared) * SHARED_SLOTS);
    for (size_t i = 0; i < SHARED_SLOTS; i++) {
        atomic_init(&shared[i], NULL);
    }
    worker_t *workers = bench_xmalloc(sizeof(worker_t) * (size_t)threads);

    double t0 = bench_now();
    for (uint64_t g = 0; g < generations; g++) {
        for (int i = 0; i < threads; i++) {
            workers[i] = (worker_t){ g * 1000 + (uint64_t)i, blocks, max_size, shared };
        }
        bench_run_threads(threads, worker_main, workers, sizeof(worker_t));
    }
    double seconds = bench_now() - t0;

    size_t left = 0;
    for (size_t i = 0; i < SHARED_SLOTS; i++) {
        char *p = atomic_load_explicit(&shared[i], memory_order_relaxed);
        left += p != NULL;
        free(p);
    }
    uint64_t total = generations * (uint64_t)threads * blocks;
    printf("churn threads=%d generations=%llu blocks=%zu size=16-%zu ops=%llu left=%zu "
           "seconds=%.3f mops=%.2f\n",
           threads, (unsigned long long)generations, blocks, max_size, (unsigned long long)total,
           left, seconds, (double)total / seconds / 1e6);
    free(workers);
    free(shared);
    return 0;
}
