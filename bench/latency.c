// latency: the distribution of single malloc and free call times under a
// mixed multi-threaded load; the tail, not the mean.
//
// usage: latency THREADS [OPS] [SLOTS]
// Each thread runs OPS operations (OPS is per thread: the sample count per
// thread is what the percentiles need) on its own array of SLOTS live blocks:
// pick a slot, free its block, allocate a new one. Sizes are mostly small
// (16..256 B), sometimes medium (1..16 KiB), rarely large (64 KiB..1 MiB),
// so the slow paths (refills, page claims, large mappings, returning memory)
// happen now and then, as in a real program. One slot in eight is given to
// the neighbouring thread instead of being freed locally, so remote-free
// handling shows up too (those frees are timed by the receiver).
// Each call is timed with rdtscp before and after and stored in a
// preallocated array (mmap'ed, so the allocator under test does not see it);
// ticks are converted to ns with a TSC rate measured against CLOCK_MONOTONIC.
// The fixed cost of the timing itself (median of empty measurements) is
// reported as overhead_ns and not subtracted.
// The percentiles come pooled and by kind of call: malloc by the size asked
// (small, medium, large as above), free by the size of the block freed, and
// the remote frees apart, so that a tail can be traced to the calls that make
// it.
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <x86intrin.h>

#include "bench_util.h"

typedef struct block {
    struct block *next;
} block_t;

typedef struct {
    _Alignas(64) _Atomic(block_t *) head;
} mailbox_t;

// What a timed call was: the sizes of pick_size, and for free also whether the
// block came from another thread's mailbox.
typedef enum { KIND_SMALL, KIND_MEDIUM, KIND_LARGE, KIND_REMOTE, KIND_COUNT } call_kind_t;

static const char *const kind_names[KIND_COUNT] = { "small", "medium", "large", "remote" };

// A sample is the call's ticks with its kind in the top two bits, so that the
// arrays, and the process's RSS, stay as large as the ticks alone. Calls of
// 2^30 ticks or more (a third of a second) count as 2^30 - 1.
#define KIND_SHIFT 30
#define TICKS_MAX (((uint32_t)1 << KIND_SHIFT) - 1)

typedef struct {
    int id;
    int threads;
    uint64_t ops;
    size_t slot_count;
    mailbox_t *mailboxes;
    bench_barrier_t *start;
    uint32_t *malloc_ticks; // one sample per malloc call
    uint32_t *free_ticks;   // one sample per free call; remote ones included (timed by the
                            // thread that frees them)
    uint64_t free_samples;
} worker_t;

static inline uint64_t ticks(void)
{
    unsigned aux;
    return __rdtscp(&aux);
}

static uint32_t sample(uint64_t ticks, call_kind_t kind)
{
    return (ticks > TICKS_MAX ? TICKS_MAX : (uint32_t)ticks) | (uint32_t)kind << KIND_SHIFT;
}

static call_kind_t kind_of_size(size_t size)
{
    return size <= 256 ? KIND_SMALL : size <= 16384 ? KIND_MEDIUM : KIND_LARGE;
}

static void *map_array(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
    if (p == MAP_FAILED) {
        bench_die("mmap of the sample arrays");
    }
    return p;
}

static size_t pick_size(bench_rng_t *rng)
{
    uint64_t r = bench_rng_next(rng) % 1000;
    if (r < 900) {
        return bench_rng_range(rng, 16, 256);
    }
    if (r < 998) {
        return bench_rng_range(rng, 1024, 16384);
    }
    return bench_rng_range(rng, (size_t)64 << 10, (size_t)1 << 20);
}

static void timed_free(worker_t *w, void *p, call_kind_t kind)
{
    uint64_t t0 = ticks();
    free(p);
    uint64_t t1 = ticks();
    w->free_ticks[w->free_samples++] = sample(t1 - t0, kind);
}

static void drain(worker_t *w)
{
    block_t *b = atomic_exchange_explicit(&w->mailboxes[w->id].head, NULL, memory_order_acquire);
    while (b != NULL) {
        block_t *next = b->next;
        timed_free(w, b, KIND_REMOTE);
        b = next;
    }
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    bench_rng_t rng;
    bench_rng_seed(&rng, 9000 + (uint64_t)w->id);
    char **slots = map_array(w->slot_count * sizeof(char *));
    uint8_t *slot_kinds = map_array(w->slot_count);
    for (size_t i = 0; i < w->slot_count; i++) {
        size_t size = pick_size(&rng);
        slots[i] = bench_xmalloc(size);
        slots[i][0] = 1;
        slot_kinds[i] = (uint8_t)kind_of_size(size);
    }
    bench_barrier_wait(w->start);

    mailbox_t *next_box = &w->mailboxes[(w->id + 1) % w->threads];
    for (uint64_t op = 0; op < w->ops; op++) {
        size_t slot = (size_t)(bench_rng_next(&rng) % w->slot_count);
        block_t *old = (block_t *)slots[slot];
        if (w->threads > 1 && (op & 7) == 0) {
            block_t *head = atomic_load_explicit(&next_box->head, memory_order_relaxed);
            do {
                old->next = head;
            } while (!atomic_compare_exchange_weak_explicit(&next_box->head, &head, old,
                                                            memory_order_release,
                                                            memory_order_relaxed));
        } else {
            timed_free(w, old, (call_kind_t)slot_kinds[slot]);
        }
        size_t size = pick_size(&rng);
        uint64_t t0 = ticks();
        char *p = malloc(size);
        uint64_t t1 = ticks();
        call_kind_t kind = kind_of_size(size);
        w->malloc_ticks[op] = sample(t1 - t0, kind);
        if (p == NULL) {
            bench_die("malloc returned NULL");
        }
        p[0] = (char)op;
        slots[slot] = p;
        slot_kinds[slot] = (uint8_t)kind;
        if ((op & 255) == 255) {
            drain(w);
        }
    }
    for (size_t i = 0; i < w->slot_count; i++) {
        free(slots[i]);
    }
    munmap(slots, w->slot_count * sizeof(char *));
    munmap(slot_kinds, w->slot_count);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a;
    uint32_t y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

// Ticks per nanosecond, from a 50 ms interval measured both ways.
static double tsc_per_ns(void)
{
    double t0 = bench_now();
    uint64_t c0 = ticks();
    while (bench_now() - t0 < 0.05) {
    }
    double t1 = bench_now();
    uint64_t c1 = ticks();
    return (double)(c1 - c0) / ((t1 - t0) * 1e9);
}

static int cmp_ticks(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a & TICKS_MAX;
    uint32_t y = *(const uint32_t *)b & TICKS_MAX;
    return (x > y) - (x < y);
}

// Exact percentiles without sorting every sample: per kind of call, a count per
// tick value below HIST_TICKS, and the few samples at or above it sorted on their
// own. Sorting all of them took most of the process's run time, which the
// runner's wall-clock figure includes, and qsort's buffer came from the
// allocator under test. One pass over the samples serves every kind, and one walk
// of the counts all four percentiles of a kind: a pass per kind added 0.03 to
// 0.07 s to each run, which the runner times too.
#define HIST_TICKS ((uint32_t)1 << 16)

typedef struct {
    uint32_t *counts; // KIND_COUNT rows of HIST_TICKS counts
    uint32_t *high;   // the samples of HIST_TICKS ticks or more, kinds kept, by ticks
    uint64_t n_high;
    uint64_t totals[KIND_COUNT + 1]; // samples of each kind, and of all (last)
} tally_t;

static bool is_of_kind(uint32_t sample, int kind)
{
    return kind == KIND_COUNT || sample >> KIND_SHIFT == (uint32_t)kind;
}

static void tally_init(tally_t *t, const uint32_t *samples, uint64_t n)
{
    *t = (tally_t){ map_array((size_t)KIND_COUNT * HIST_TICKS * sizeof(uint32_t)), NULL, 0, { 0 } };
    for (uint64_t i = 0; i < n; i++) {
        uint32_t kind = samples[i] >> KIND_SHIFT;
        uint32_t value = samples[i] & TICKS_MAX;
        t->totals[kind]++;
        if (value < HIST_TICKS) {
            t->counts[kind * HIST_TICKS + value]++;
        } else {
            t->n_high++;
        }
    }
    t->totals[KIND_COUNT] = n;
    t->high = map_array(t->n_high * sizeof(uint32_t) + sizeof(uint32_t));
    uint64_t h = 0;
    for (uint64_t i = 0; i < n && h < t->n_high; i++) {
        if ((samples[i] & TICKS_MAX) >= HIST_TICKS) {
            t->high[h++] = samples[i];
        }
    }
    qsort(t->high, t->n_high, sizeof(uint32_t), cmp_ticks);
}

static void tally_free(tally_t *t)
{
    munmap(t->counts, (size_t)KIND_COUNT * HIST_TICKS * sizeof(uint32_t));
    munmap(t->high, t->n_high * sizeof(uint32_t) + sizeof(uint32_t));
}

// The ranks[i]-th smallest (from 0) of the samples of one kind (KIND_COUNT: of
// all) into out[i], for ranks in increasing order and below their number, in one
// walk of the counts.
#define PERCENTILES 4
static void tally_ranks(const tally_t *t, int kind, const uint64_t *ranks, uint32_t *out)
{
    uint64_t seen = 0;
    int next = 0;
    for (uint32_t v = 0; v < HIST_TICKS && next < PERCENTILES; v++) {
        for (int c = 0; c < KIND_COUNT; c++) {
            if (kind == KIND_COUNT || c == kind) {
                seen += t->counts[(size_t)c * HIST_TICKS + v];
            }
        }
        while (next < PERCENTILES && seen > ranks[next]) {
            out[next++] = v;
        }
    }
    for (uint64_t i = 0; i < t->n_high && next < PERCENTILES; i++) {
        if (is_of_kind(t->high[i], kind)) {
            while (next < PERCENTILES && seen == ranks[next]) {
                out[next++] = t->high[i] & TICKS_MAX;
            }
            seen++;
        }
    }
}

// Prints the percentiles of one kind of call (KIND_COUNT: of all) as `name`_p50_ns
// and so on; nothing if there were no such calls.
static void report(const char *name, const tally_t *t, int kind, double per_ns)
{
    uint64_t n = t->totals[kind];
    if (n == 0) {
        return;
    }
    const uint64_t ranks[PERCENTILES] = { n * 50 / 100, n * 99 / 100, n * 999 / 1000, n - 1 };
    uint32_t values[PERCENTILES];
    tally_ranks(t, kind, ranks, values);
    printf(" %s_p50_ns=%.0f %s_p99_ns=%.0f %s_p999_ns=%.0f %s_max_ns=%.0f", name,
           values[0] / per_ns, name, values[1] / per_ns, name, values[2] / per_ns, name,
           values[3] / per_ns);
}

// Pooled percentiles as `call`, then those of each kind of call as `call`_`kind`.
static void report_kinds(const char *call, const uint32_t *samples, uint64_t n, double per_ns)
{
    tally_t t;
    tally_init(&t, samples, n);
    report(call, &t, KIND_COUNT, per_ns);
    for (int kind = 0; kind < KIND_COUNT; kind++) {
        char name[32];
        snprintf(name, sizeof(name), "%s_%s", call, kind_names[kind]);
        report(name, &t, kind, per_ns);
    }
    tally_free(&t);
}

int main(int argc, char **argv)
{
    int threads = (int)bench_arg_u64(argc, argv, 1, 1);
    uint64_t ops = bench_arg_u64(argc, argv, 2, 2000000);
    size_t slot_count = bench_arg_u64(argc, argv, 3, 10000);
    if (threads < 1 || ops < 1 || slot_count < 1) {
        bench_die("need THREADS, OPS, SLOTS >= 1");
    }
    double per_ns = tsc_per_ns();

    // Timer overhead: the median of back-to-back readings.
    uint32_t empty[1001];
    for (int i = 0; i < 1001; i++) {
        uint64_t t0 = ticks();
        uint64_t t1 = ticks();
        empty[i] = (uint32_t)(t1 - t0);
    }
    qsort(empty, 1001, sizeof(uint32_t), cmp_u32);
    double overhead_ns = empty[500] / per_ns;

    mailbox_t *mailboxes = map_array(sizeof(mailbox_t) * (size_t)threads);
    bench_barrier_t start;
    bench_barrier_init(&start, threads + 1);
    worker_t *workers = map_array(sizeof(worker_t) * (size_t)threads);
    // A thread frees at most its own ops plus what its neighbour posted
    // (ops / 8) plus its slots at the end (not timed): 2 * ops is ample.
    for (int i = 0; i < threads; i++) {
        atomic_init(&mailboxes[i].head, NULL);
        workers[i] = (worker_t){ i,
                                 threads,
                                 ops,
                                 slot_count,
                                 mailboxes,
                                 &start,
                                 map_array(ops * sizeof(uint32_t)),
                                 map_array(2 * ops * sizeof(uint32_t)),
                                 0 };
    }
    pthread_t *tids = map_array(sizeof(pthread_t) * (size_t)threads);
    double seconds = bench_time_threads(threads, worker_main, workers, sizeof(worker_t), &start,
                                        tids);
    // Late posts to a mailbox whose owner has finished: free them untimed.
    for (int i = 0; i < threads; i++) {
        block_t *b = atomic_exchange(&mailboxes[i].head, NULL);
        while (b != NULL) {
            block_t *next = b->next;
            free(b);
            b = next;
        }
    }

    // Percentiles are over the calls of all threads together.
    uint64_t n_malloc = ops * (uint64_t)threads;
    uint64_t n_free = 0;
    for (int i = 0; i < threads; i++) {
        n_free += workers[i].free_samples;
    }
    uint32_t *all_malloc = map_array(n_malloc * sizeof(uint32_t));
    uint32_t *all_free = map_array(n_free * sizeof(uint32_t) + sizeof(uint32_t));
    uint64_t m = 0;
    uint64_t f = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all_malloc + m, workers[i].malloc_ticks, ops * sizeof(uint32_t));
        m += ops;
        memcpy(all_free + f, workers[i].free_ticks, workers[i].free_samples * sizeof(uint32_t));
        f += workers[i].free_samples;
    }
    printf("latency threads=%d ops=%llu seconds=%.3f overhead_ns=%.0f", threads,
           (unsigned long long)n_malloc, seconds, overhead_ns);
    report_kinds("malloc", all_malloc, n_malloc, per_ns);
    if (n_free > 0) {
        report_kinds("free", all_free, n_free, per_ns);
    }
    printf("\n");
    return 0;
}
