// phases: memory use across the phases of a program, not speed.
//
// usage: phases [THREADS] [MIB] [floor]
// Phase 1: THREADS threads together allocate a mixed working set of about
//          MIB MiB (mostly 16..512 B, some 1..8 KiB, a few 64..256 KiB).
// Phase 2: free a random 90% of it, scattered, so that most pages keep a
//          few live blocks (the worst case for giving memory back).
// Phase 3: allocate about the same number of bytes again in a different size
//          mix (600 B..4 KiB), which can reuse the freed space only if the
//          allocator can recycle memory across size classes.
// With `floor`, it also reports the bytes phase 2 left live and the OS pages those blocks
// overlap (each with its usable size, from malloc_usable_size): memory that no allocator
// keeping blocks where they are can give back, so RSS after phase 2 cannot go below it with
// this layout. Counting allocates and sorts after everything else is measured, but still
// inside the process's time, so the runner asks for it in separate, untimed runs.
// RSS is read from /proc/self/statm after each phase, and after phase 2 once
// more after the program has been idle for 200 ms and made a few calls (an
// allocator that returns memory with a delay gets the chance to). The peak
// comes from
// VmHWM in /proc/self/status. All values are MiB. The runner also records
// the process's peak RSS from outside.
#include <malloc.h>
#include <stdbool.h>
#include <unistd.h>

#include "bench_util.h"

typedef struct {
    int id;
    int threads;
    size_t count;   // blocks this thread allocates in phase 1
    char **blocks;  // this thread's share of phase-1 blocks (freed ones are NULLed)
    char **again;   // phase-3 blocks
    size_t again_count;
    size_t live_bytes;
    bench_barrier_t *barrier;
} worker_t;

static double rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages_total = 0;
    long pages_resident = 0;
    if (f == NULL || fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) {
        bench_die("cannot read /proc/self/statm");
    }
    fclose(f);
    return (double)pages_resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static double hwm_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        bench_die("cannot read /proc/self/status");
    }
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return (double)kib / 1024.0;
}

static size_t phase1_size(bench_rng_t *rng)
{
    uint64_t r = bench_rng_next(rng) % 1000;
    if (r < 900) {
        return bench_rng_range(rng, 16, 512);
    }
    if (r < 995) {
        return bench_rng_range(rng, 1024, 8192);
    }
    return bench_rng_range(rng, (size_t)64 << 10, (size_t)256 << 10);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    bench_rng_t rng;
    bench_rng_seed(&rng, 42 + (uint64_t)w->id);

    // Phase 1.
    size_t bytes = 0;
    for (size_t i = 0; i < w->count; i++) {
        size_t size = phase1_size(&rng);
        w->blocks[i] = bench_xmalloc(size);
        memset(w->blocks[i], (int)i, size);
        bytes += size;
    }
    bench_barrier_wait(&w->barrier[0]);
    bench_barrier_wait(&w->barrier[1]);

    // Phase 2: each block survives with probability 1/10.
    for (size_t i = 0; i < w->count; i++) {
        if (bench_rng_next(&rng) % 10 != 0) {
            free(w->blocks[i]);
            w->blocks[i] = NULL;
        }
    }
    bench_barrier_wait(&w->barrier[2]);
    bench_barrier_wait(&w->barrier[3]);

    // Phase 3: as many bytes as phase 2 freed (approximately: the same
    // fraction of the phase-1 bytes), in a new size mix.
    size_t target = bytes / 10 * 9;
    size_t got = 0;
    size_t n = 0;
    while (got < target && n < w->again_count) {
        size_t size = bench_rng_range(&rng, 600, 4096);
        w->again[n] = bench_xmalloc(size);
        memset(w->again[n], (int)n, size);
        got += size;
        n++;
    }
    w->again_count = n;
    w->live_bytes = bytes - bytes / 10 * 9 + got;
    return NULL;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

// MiB of the distinct OS pages that the phase-1 survivors overlap; their usable bytes in *kept.
static double live_pages_mib(const worker_t *workers, int threads, size_t *kept)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    size_t count = 0;
    for (int pass = 0; pass < 2; pass++) {
        uint64_t *pages = NULL;
        if (pass == 1) {
            pages = bench_xmalloc((count + 1) * sizeof(uint64_t));
        }
        size_t n = 0;
        for (int t = 0; t < threads; t++) {
            for (size_t i = 0; i < workers[t].count; i++) {
                uintptr_t p = (uintptr_t)workers[t].blocks[i];
                if (p == 0) {
                    continue;
                }
                size_t usable = malloc_usable_size(workers[t].blocks[i]);
                if (pass == 1) {
                    *kept += usable;
                }
                uintptr_t last = (p + usable - 1) / page;
                for (uintptr_t q = p / page; q <= last; q++) {
                    if (pages != NULL) {
                        pages[n] = q;
                    }
                    n++;
                }
            }
        }
        count = n;
        if (pages != NULL) {
            qsort(pages, n, sizeof(uint64_t), compare_u64);
            size_t distinct = 0;
            for (size_t i = 0; i < n; i++) {
                distinct += i == 0 || pages[i] != pages[i - 1];
            }
            free(pages);
            return (double)distinct * (double)page / (1024.0 * 1024.0);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    int threads = (int)bench_arg_u64(argc, argv, 1, 1);
    size_t mib = bench_arg_u64(argc, argv, 2, 512);
    bool count_floor = argc > 3 && strcmp(argv[3], "floor") == 0;
    if (threads < 1 || mib < 1) {
        bench_die("need THREADS >= 1, MIB >= 1");
    }
    // The mean phase-1 request is ~1.4 KiB (0.9*264 + 0.095*4608 + 0.005*163840).
    size_t per_thread = (mib << 20) / 1400 / (size_t)threads;

    double t0 = bench_now();
    // The main thread steps through the phases in lockstep with the workers:
    // barrier 0 = phase 1 done, 1 = measured, go on; 2 and 3 likewise for phase 2.
    bench_barrier_t barrier[4];
    for (int i = 0; i < 4; i++) {
        bench_barrier_init(&barrier[i], threads + 1);
    }
    worker_t *workers = bench_xmalloc(sizeof(worker_t) * (size_t)threads);
    for (int i = 0; i < threads; i++) {
        workers[i] = (worker_t){ i,
                                 threads,
                                 per_thread,
                                 bench_xmalloc(per_thread * sizeof(char *)),
                                 bench_xmalloc(per_thread * sizeof(char *)),
                                 per_thread,
                                 0,
                                 barrier };
    }
    pthread_t *tids = bench_xmalloc(sizeof(pthread_t) * (size_t)threads);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&tids[i], NULL, worker_main, &workers[i]) != 0) {
            bench_die("pthread_create");
        }
    }
    bench_barrier_wait(&barrier[0]);
    double rss_full = rss_mib();
    bench_barrier_wait(&barrier[1]);
    bench_barrier_wait(&barrier[2]);
    double rss_freed = rss_mib();
    usleep(200 * 1000);
    for (int i = 0; i < 1000; i++) {
        free(bench_xmalloc(64));
    }
    double rss_idle = rss_mib();
    bench_barrier_wait(&barrier[3]);
    for (int i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
    }
    double rss_phase3 = rss_mib();
    size_t live = 0;
    for (int i = 0; i < threads; i++) {
        live += workers[i].live_bytes;
    }

    double peak = hwm_mib();
    double seconds = bench_now() - t0;

    printf("phases threads=%d mib=%zu live_mib=%.1f rss_full_mib=%.1f rss_after_free_mib=%.1f "
           "rss_idle_mib=%.1f rss_phase3_mib=%.1f peak_mib=%.1f seconds=%.3f",
           threads, mib, (double)live / (1024.0 * 1024.0), rss_full, rss_freed, rss_idle,
           rss_phase3, peak, seconds);
    if (count_floor) {
        size_t kept = 0;
        double pages = live_pages_mib(workers, threads, &kept);
        printf(" kept_mib=%.1f kept_pages_mib=%.1f", (double)kept / (1024.0 * 1024.0), pages);
    }
    printf("\n");

    for (int i = 0; i < threads; i++) {
        for (size_t j = 0; j < workers[i].count; j++) {
            free(workers[i].blocks[j]);
        }
        for (size_t j = 0; j < workers[i].again_count; j++) {
            free(workers[i].again[j]);
        }
        free(workers[i].blocks);
        free(workers[i].again);
    }
    free(tids);
    free(workers);
    return 0;
}
