// cache_scratch: false sharing caused by where the allocator places small
// objects, in the spirit of the Hoard cache-scratch / cache-thrash tests.
//
// usage: cache_scratch MODE THREADS [ROUNDS] [WRITES] [SIZE]
//   MODE scratch (passive false sharing): the main thread allocates one
//        SIZE-byte object per worker, back to back, and hands object i to
//        worker i. Each worker frees it, then ROUNDS times allocates a
//        SIZE-byte object, writes it WRITES times and frees it. An allocator
//        that gives the freed object (which shares a cache line with the
//        other workers' objects) back to the worker makes every write fight
//        for that line; one that serves each thread from its own memory
//        does not.
//   MODE thrash (active false sharing): no hand-over; the workers allocate
//        at the same time, so an allocator that carves consecutive small
//        blocks for different threads out of one line makes them share it.
// ROUNDS is the total over all workers, so the work is the same at every
// thread count: with no false sharing, time falls as threads are added up to
// the core count and then stays flat; with it, time rises instead.
#include "bench_util.h"

typedef struct {
    char *handed; // scratch mode: the main thread's object to free first
    uint64_t rounds;
    uint64_t writes;
    size_t size;
    bench_barrier_t *start;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    bench_barrier_wait(w->start);
    free(w->handed);
    for (uint64_t r = 0; r < w->rounds; r++) {
        volatile char *obj = bench_xmalloc(w->size);
        // Write every byte of the object, WRITES times over: the stores are
        // what collide when two threads' objects share a line.
        for (uint64_t i = 0; i < w->writes; i++) {
            for (size_t b = 0; b < w->size; b++) {
                obj[b] = (char)(obj[b] + 1);
            }
        }
        free((void *)obj);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s scratch|thrash THREADS [ROUNDS] [WRITES] [SIZE]\n", argv[0]);
        return 2;
    }
    int passive;
    if (strcmp(argv[1], "scratch") == 0) {
        passive = 1;
    } else if (strcmp(argv[1], "thrash") == 0) {
        passive = 0;
    } else {
        bench_die("mode must be scratch or thrash");
    }
    int threads = (int)bench_arg_u64(argc, argv, 2, 2);
    uint64_t rounds = bench_arg_u64(argc, argv, 3, 20000);
    uint64_t writes = bench_arg_u64(argc, argv, 4, 10000);
    size_t size = bench_arg_u64(argc, argv, 5, 8);
    if (threads < 1 || size < 1) {
        bench_die("need THREADS >= 1, SIZE >= 1");
    }

    bench_barrier_t start;
    bench_barrier_init(&start, threads + 1);
    worker_t *workers = bench_xmalloc(sizeof(worker_t) * (size_t)threads);
    for (int i = 0; i < threads; i++) {
        // Allocated back to back by one thread, so typically neighbours.
        char *handed = NULL;
        if (passive) {
            handed = bench_xmalloc(size);
            memset(handed, 0, size);
        }
        workers[i] = (worker_t){ handed, rounds / (uint64_t)threads, writes, size, &start };
    }

    pthread_t *tids = bench_xmalloc(sizeof(pthread_t) * (size_t)threads);
    double seconds = bench_time_threads(threads, worker_main, workers, sizeof(worker_t), &start,
                                        tids);

    uint64_t total = (rounds / (uint64_t)threads) * (uint64_t)threads * writes;
    printf("cache_scratch mode=%s threads=%d size=%zu rounds=%llu writes=%llu seconds=%.3f "
           "mwrites=%.2f\n",
           argv[1], threads, size, (unsigned long long)rounds, (unsigned long long)writes,
           seconds, (double)total * (double)size / seconds / 1e6);
    free(tids);
    free(workers);
    return 0;
}
