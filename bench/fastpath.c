// fastpath: the cost of the allocator's common case.
//
// usage: fastpath MODE THREADS SIZE [OPS] [WORKING_SET]
//   MODE pair  malloc(SIZE) immediately followed by free: the block comes
//              straight back, so this is the pure fast path of both calls.
//   MODE lifo  allocate WORKING_SET blocks, free them newest first, repeat:
//              a stack-like program; free lists stay hot.
//   MODE fifo  allocate WORKING_SET blocks, free them oldest first, repeat:
//              blocks come back in allocation order, which reorders a free
//              list and touches more cache lines than lifo.
// OPS is the total number of malloc/free pairs, split evenly over THREADS.
// Threads never share blocks, so more threads than cores measures only how
// well per-thread state scales, not cross-thread traffic.
#include "bench_util.h"

enum mode { MODE_PAIR, MODE_LIFO, MODE_FIFO };

typedef struct {
    enum mode mode;
    size_t size;
    uint64_t ops;
    size_t working_set;
    bench_barrier_t *start;
    uint64_t done; // pairs actually executed (working-set modes round up)
} worker_t;

static void run_pair(worker_t *w)
{
    for (uint64_t i = 0; i < w->ops; i++) {
        char *p = malloc(w->size);
        // One store makes the block real to the hardware as a program's
        // first write would, without turning the loop into a memset test.
        p[0] = (char)i;
        bench_escape(p);
        free(p);
    }
    w->done = w->ops;
}

static void run_working_set(worker_t *w)
{
    // The pointer array itself comes from the allocator under test once,
    // before the timed loop; it is the same size for every allocator.
    size_t n = w->working_set;
    char **slots = bench_xmalloc(n * sizeof(char *));
    uint64_t done = 0;
    while (done < w->ops) {
        for (size_t i = 0; i < n; i++) {
            slots[i] = malloc(w->size);
            slots[i][0] = (char)i;
        }
        bench_escape(slots);
        if (w->mode == MODE_LIFO) {
            for (size_t i = n; i > 0; i--) {
                free(slots[i - 1]);
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                free(slots[i]);
            }
        }
        done += n;
    }
    free(slots);
    w->done = done;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    bench_barrier_wait(w->start);
    if (w->mode == MODE_PAIR) {
        run_pair(w);
    } else {
        run_working_set(w);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s pair|lifo|fifo THREADS SIZE [OPS] [WORKING_SET]\n", argv[0]);
        return 2;
    }
    enum mode mode;
    if (strcmp(argv[1], "pair") == 0) {
        mode = MODE_PAIR;
    } else if (strcmp(argv[1], "lifo") == 0) {
        mode = MODE_LIFO;
    } else if (strcmp(argv[1], "fifo") == 0) {
        mode = MODE_FIFO;
    } else {
        bench_die("mode must be pair, lifo or fifo");
    }
    int threads = (int)bench_arg_u64(argc, argv, 2, 1);
    size_t size = bench_arg_u64(argc, argv, 3, 32);
    uint64_t ops = bench_arg_u64(argc, argv, 4, 50000000);
    size_t working_set = bench_arg_u64(argc, argv, 5, 1000);
    if (threads < 1 || size < 1 || working_set < 1) {
        bench_die("THREADS, SIZE and WORKING_SET must be positive");
    }

    bench_barrier_t start;
    bench_barrier_init(&start, threads + 1);
    worker_t *workers = bench_xmalloc(sizeof(worker_t) * (size_t)threads);
    for (int i = 0; i < threads; i++) {
        workers[i] = (worker_t){ mode, size, ops / (uint64_t)threads, working_set, &start, 0 };
    }

    pthread_t *tids = bench_xmalloc(sizeof(pthread_t) * (size_t)threads);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&tids[i], NULL, worker_main, &workers[i]) != 0) {
            bench_die("pthread_create");
        }
    }
    double t0 = bench_now();
    bench_barrier_wait(&start);
    for (int i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
    }
    double seconds = bench_now() - t0;

    uint64_t total = 0;
    for (int i = 0; i < threads; i++) {
        total += workers[i].done;
    }
    printf("fastpath mode=%s threads=%d size=%zu ops=%llu seconds=%.3f mops=%.2f\n", argv[1],
           threads, size, (unsigned long long)total, seconds, (double)total / seconds / 1e6);
    free(tids);
    free(workers);
    return 0;
}
