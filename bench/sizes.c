// sizes: how the allocator copes across the whole range of request sizes.
//
// usage: sizes MODE [THREADS] [SCALE]
//   MODE sweep    for each size in a list of powers of two and odd sizes from
//                 8 B to 1 MiB, allocate a batch of blocks, write the first
//                 byte of each 4 KiB page, free them; batch sizes shrink as
//                 the size grows so every size moves about the same bytes.
//   MODE realloc  grow blocks with realloc, once by doubling (16 B to 16 MiB,
//                 where moving vs. growing in place or remapping matters) and
//                 once in +16 B steps (16 B to 1 MiB, the pattern of a
//                 string builder), writing the new tail after each call.
//   MODE large    allocate and free blocks from 64 KiB to 256 MiB, writing
//                 every page: the mmap threshold, huge-block paths and how
//                 quickly freed memory is reused or returned.
// THREADS run the same sequence independently (with their own seeds).
// SCALE multiplies the number of repetitions (default 1).
#include "bench_util.h"

#define PAGE 4096

typedef struct {
    int mode;
    uint64_t scale;
    uint64_t seed;
    bench_barrier_t *start;
    uint64_t calls;
} worker_t;

enum { MODE_SWEEP, MODE_REALLOC, MODE_LARGE };

static void touch_pages(char *p, size_t size)
{
    for (size_t off = 0; off < size; off += PAGE) {
        p[off] = 1;
    }
    p[size - 1] = 1;
}

static uint64_t run_sweep(uint64_t scale, uint64_t seed)
{
    // Powers of two and awkward sizes in between (just above a power, odd,
    // prime-ish) so that size-class rounding shows up.
    static const size_t sizes[] = {
        8,      13,     16,      24,     32,     48,     64,      80,     100,
        128,    192,    255,     256,    257,    384,    512,     640,    1000,
        1024,   1500,   2048,    3000,   4096,   5000,   8192,    10000,  16384,
        24576,  32768,  50000,   65536,  65537,  100000, 131072,  200000, 262144,
        400000, 524288, 777777,  1048576
    };
    const size_t count = sizeof(sizes) / sizeof(sizes[0]);
    // ~4 MiB of blocks per batch at each size, at least 4 blocks.
    const size_t batch_bytes = (size_t)4 << 20;
    char **blocks = bench_xmalloc(sizeof(char *) * (batch_bytes / 8));
    bench_rng_t rng;
    bench_rng_seed(&rng, seed);
    uint64_t calls = 0;
    for (uint64_t rep = 0; rep < 3 * scale; rep++) {
        for (size_t s = 0; s < count; s++) {
            size_t size = sizes[s];
            size_t n = batch_bytes / size;
            if (n < 4) {
                n = 4;
            }
            for (size_t i = 0; i < n; i++) {
                blocks[i] = bench_xmalloc(size);
                touch_pages(blocks[i], size);
            }
            // Free in a shuffled order: programs rarely free in allocation order.
            for (size_t i = n; i > 1; i--) {
                size_t j = (size_t)(bench_rng_next(&rng) % i);
                char *t = blocks[i - 1];
                blocks[i - 1] = blocks[j];
                blocks[j] = t;
            }
            for (size_t i = 0; i < n; i++) {
                free(blocks[i]);
            }
            calls += 2 * n;
        }
    }
    free(blocks);
    return calls;
}

static uint64_t run_realloc(uint64_t scale)
{
    uint64_t calls = 0;
    for (uint64_t rep = 0; rep < 10 * scale; rep++) {
        // Doubling: a growing buffer.
        size_t size = 16;
        char *p = bench_xmalloc(size);
        p[0] = 1;
        while (size < ((size_t)16 << 20)) {
            size_t grown = size * 2;
            p = realloc(p, grown);
            if (p == NULL) {
                bench_die("realloc returned NULL");
            }
            touch_pages(p + size, grown - size);
            size = grown;
            calls++;
        }
        free(p);
        // +16 B steps, with a second live block so the first cannot always
        // grow into free space behind it.
        size = 16;
        p = bench_xmalloc(size);
        char *q = bench_xmalloc(size);
        while (size < ((size_t)1 << 20)) {
            size += 16;
            p = realloc(p, size);
            q = realloc(q, size);
            if (p == NULL || q == NULL) {
                bench_die("realloc returned NULL");
            }
            p[size - 1] = 1;
            q[size - 1] = 1;
            calls += 2;
        }
        free(p);
        free(q);
        calls += 4;
    }
    return calls;
}

static uint64_t run_large(uint64_t scale, uint64_t seed)
{
    bench_rng_t rng;
    bench_rng_seed(&rng, seed);
    uint64_t calls = 0;
    for (uint64_t rep = 0; rep < scale; rep++) {
        // Every power of two from 64 KiB to 256 MiB, plus an odd size near
        // each, with a few blocks kept live so the address space fragments.
        char *keep[4] = { NULL, NULL, NULL, NULL };
        for (size_t size = (size_t)64 << 10; size <= ((size_t)256 << 20); size *= 2) {
            size_t odd = size + (size_t)bench_rng_range(&rng, 1, 4095);
            char *a = bench_xmalloc(size);
            touch_pages(a, size);
            char *b = bench_xmalloc(odd);
            touch_pages(b, odd);
            free(a);
            size_t k = (size_t)(bench_rng_next(&rng) % 4);
            free(keep[k]);
            keep[k] = b;
            calls += 3;
        }
        for (size_t k = 0; k < 4; k++) {
            free(keep[k]);
        }
        // Many medium blocks just above typical mmap thresholds.
        char *mid[64];
        for (int round = 0; round < 20; round++) {
            for (int i = 0; i < 64; i++) {
                size_t size = bench_rng_range(&rng, (size_t)64 << 10, (size_t)512 << 10);
                mid[i] = bench_xmalloc(size);
                touch_pages(mid[i], size);
            }
            for (int i = 0; i < 64; i++) {
                free(mid[i]);
            }
            calls += 128;
        }
    }
    return calls;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    bench_barrier_wait(w->start);
    if (w->mode == MODE_SWEEP) {
        w->calls = run_sweep(w->scale, w->seed);
    } else if (w->mode == MODE_REALLOC) {
        w->calls = run_realloc(w->scale);
    } else {
        w->calls = run_large(w->scale, w->seed);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s sweep|realloc|large [THREADS] [SCALE]\n", argv[0]);
        return 2;
    }
    int mode;
    if (strcmp(argv[1], "sweep") == 0) {
        mode = MODE_SWEEP;
    } else if (strcmp(argv[1], "realloc") == 0) {
        mode = MODE_REALLOC;
    } else if (strcmp(argv[1], "large") == 0) {
        mode = MODE_LARGE;
    } else {
        bench_die("mode must be sweep, realloc or large");
    }
    int threads = (int)bench_arg_u64(argc, argv, 2, 1);
    uint64_t scale = bench_arg_u64(argc, argv, 3, 1);
    if (threads < 1 || scale < 1) {
        bench_die("need THREADS >= 1, SCALE >= 1");
    }

    bench_barrier_t start;
    bench_barrier_init(&start, threads + 1);
    worker_t *workers = bench_xmalloc(sizeof(worker_t) * (size_t)threads);
    for (int i = 0; i < threads; i++) {
        workers[i] = (worker_t){ mode, scale, 500 + (uint64_t)i, &start, 0 };
    }
    pthread_t *tids = bench_xmalloc(sizeof(pthread_t) * (size_t)threads);
    double seconds = bench_time_threads(threads, worker_main, workers, sizeof(worker_t), &start,
                                        tids);

    uint64_t calls = 0;
    for (int i = 0; i < threads; i++) {
        calls += workers[i].calls;
    }
    printf("sizes mode=%s threads=%d scale=%llu calls=%llu seconds=%.3f kcalls_per_s=%.1f\n",
           argv[1], threads, (unsigned long long)scale, (unsigned long long)calls, seconds,
           (double)calls / seconds / 1e3);
    free(tids);
    free(workers);
    return 0;
}
