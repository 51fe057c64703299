// larson: a server-like mix of long- and short-lived blocks with cross-thread
// frees, in the spirit of the Larson & Krishnan benchmark.
//
// usage: larson THREADS MIN_SIZE MAX_SIZE [OPS] [SLOTS] [SHARE_PCT] [live]
// Each thread owns SLOTS slots, filled at start. One operation picks a random
// slot, gets rid of the block in it and puts a new block of a random size in
// [MIN_SIZE, MAX_SIZE] there. Getting rid of a block means free() it locally,
// except for SHARE_PCT percent of them, which are posted to a random other
// thread's mailbox; that thread frees them the next time it checks its
// mailbox (every 64 operations). So SHARE_PCT sets the fraction of remote
// frees, and blocks live for about SLOTS operations, like requests in flight.
// OPS is the total across all threads.
// With `live`, it also reports the peak of the live bytes (requested sizes of
// the blocks in slots and in mailboxes) and the peak RSS, both sampled every
// millisecond. How many blocks wait in mailboxes depends on how the threads
// were scheduled, which differs from one allocator to the next, so the peak
// RSS alone does not say what an allocator adds to the program's own data;
// the RSS the run added, over its peak live bytes, does. Counting costs a few
// stores per operation and a sampling thread, so the runner asks for it in
// separate, untimed runs.
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#include "bench_util.h"

// A block posted to a mailbox carries the link in its own first word; every
// size in the workload is at least sizeof(void *).
typedef struct block {
    struct block *next;
} block_t;

// With `live`, a posted block also carries its size, for the receiver's count.
typedef struct {
    block_t link;
    size_t size;
} sized_block_t;

// Bytes a thread allocated and freed, written by that thread only, on a line
// of their own; the sampler reads them.
typedef struct {
    _Alignas(64) _Atomic uint64_t allocated;
    _Atomic uint64_t freed;
} live_count_t;

// A mailbox is a lock-free stack: senders push with a CAS, the owner takes
// the whole stack with one exchange. Taking everything at once means there
// is no pop and therefore no ABA problem. Padded to its own cache line so
// that the mailboxes do not false-share with each other.
typedef struct {
    _Alignas(64) _Atomic(block_t *) head;
    char pad[64 - sizeof(block_t *)];
} mailbox_t;

typedef struct {
    int id;
    int threads;
    size_t min_size;
    size_t max_size;
    uint64_t ops;
    size_t slot_count;
    unsigned share_pct;
    mailbox_t *mailboxes;
    bench_barrier_t *start;
    atomic_int *finished;
    uint64_t remote_frees; // blocks this thread freed that another thread allocated
    live_count_t *live;    // this thread's counts with `live`; NULL otherwise
} worker_t;

// Only this thread writes the count, so a plain add is enough.
static void live_add(_Atomic uint64_t *count, size_t bytes)
{
    atomic_store_explicit(count, atomic_load_explicit(count, memory_order_relaxed) + bytes,
                          memory_order_relaxed);
}

typedef struct {
    live_count_t *counts;
    int threads;
    atomic_int stop;
    double base_rss_mib; // the first sample, before the workers allocate
    double peak_live_mib;
    double peak_rss_mib;
} sampler_t;

// RSS from /proc/self/statm, read without stdio so that sampling does not
// allocate.
static double sampled_rss_mib(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (fd >= 0) {
        close(fd);
    }
    if (n <= 0) {
        bench_die("cannot read /proc/self/statm");
    }
    buf[n] = '\0';
    char *end = NULL;
    strtoull(buf, &end, 10);
    unsigned long long pages = strtoull(end, NULL, 10);
    return (double)pages * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static void *sampler_main(void *arg)
{
    sampler_t *s = arg;
    while (!atomic_load(&s->stop)) {
        // Frees first: a block freed between the two passes then counts as
        // live, never as freed before it was allocated.
        uint64_t freed = 0;
        uint64_t allocated = 0;
        for (int i = 0; i < s->threads; i++) {
            freed += atomic_load_explicit(&s->counts[i].freed, memory_order_relaxed);
        }
        for (int i = 0; i < s->threads; i++) {
            allocated += atomic_load_explicit(&s->counts[i].allocated, memory_order_relaxed);
        }
        double live = (double)(allocated - freed) / (1024.0 * 1024.0);
        double rss = sampled_rss_mib();
        if (s->base_rss_mib == 0.0) {
            s->base_rss_mib = rss;
        }
        s->peak_live_mib = live > s->peak_live_mib ? live : s->peak_live_mib;
        s->peak_rss_mib = rss > s->peak_rss_mib ? rss : s->peak_rss_mib;
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    return NULL;
}

static void mailbox_post(mailbox_t *box, block_t *b)
{
    block_t *old = atomic_load_explicit(&box->head, memory_order_relaxed);
    do {
        b->next = old;
    } while (!atomic_compare_exchange_weak_explicit(&box->head, &old, b, memory_order_release,
                                                    memory_order_relaxed));
}

static uint64_t mailbox_drain(mailbox_t *box, live_count_t *live)
{
    block_t *b = atomic_exchange_explicit(&box->head, NULL, memory_order_acquire);
    uint64_t n = 0;
    while (b != NULL) {
        block_t *next = b->next;
        if (live != NULL) {
            live_add(&live->freed, ((sized_block_t *)b)->size);
        }
        free(b);
        b = next;
        n++;
    }
    return n;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    bench_rng_t rng;
    bench_rng_seed(&rng, 1000 + (uint64_t)w->id);

    char **slots = bench_xmalloc(w->slot_count * sizeof(char *));
    size_t *sizes = w->live != NULL ? bench_xmalloc(w->slot_count * sizeof(size_t)) : NULL;
    for (size_t i = 0; i < w->slot_count; i++) {
        size_t size = bench_rng_range(&rng, w->min_size, w->max_size);
        slots[i] = bench_xmalloc(size);
        slots[i][size - 1] = 1;
        if (sizes != NULL) {
            sizes[i] = size;
            live_add(&w->live->allocated, size);
        }
    }
    bench_barrier_wait(w->start);

    mailbox_t *mine = &w->mailboxes[w->id];
    for (uint64_t op = 0; op < w->ops; op++) {
        uint64_t r = bench_rng_next(&rng);
        size_t slot = (size_t)(r % w->slot_count);
        char *old = slots[slot];
        if (w->threads > 1 && (r >> 32) % 100 < w->share_pct) {
            int target = (int)((r >> 40) % (uint64_t)(w->threads - 1));
            if (target >= w->id) {
                target++;
            }
            if (sizes != NULL) {
                ((sized_block_t *)old)->size = sizes[slot];
            }
            mailbox_post(&w->mailboxes[target], (block_t *)old);
        } else {
            if (sizes != NULL) {
                live_add(&w->live->freed, sizes[slot]);
            }
            free(old);
        }
        size_t size = bench_rng_range(&rng, w->min_size, w->max_size);
        char *p = bench_xmalloc(size);
        // Touch both ends as a program filling in a request would.
        p[0] = (char)op;
        p[size - 1] = (char)op;
        slots[slot] = p;
        if (sizes != NULL) {
            sizes[slot] = size;
            live_add(&w->live->allocated, size);
        }
        if ((op & 63) == 63) {
            w->remote_frees += mailbox_drain(mine, w->live);
        }
    }
    // A thread that is done keeps freeing what is posted to it until every thread is done, as
    // a server keeps serving: otherwise the blocks posted to it meanwhile would pile up in its
    // mailbox, and the peak RSS would measure how unevenly the threads were scheduled.
    atomic_fetch_add(w->finished, 1);
    while (atomic_load(w->finished) < w->threads) {
        w->remote_frees += mailbox_drain(mine, w->live);
        sched_yield();
    }
    w->remote_frees += mailbox_drain(mine, w->live);
    for (size_t i = 0; i < w->slot_count; i++) {
        if (sizes != NULL) {
            live_add(&w->live->freed, sizes[i]);
        }
        free(slots[i]);
    }
    free(slots);
    free(sizes);
    return NULL;
}

int main(int argc, char **argv)
{
    // `live` comes last, after however many of the optional numbers.
    bool count_live = argc > 1 && strcmp(argv[argc - 1], "live") == 0;
    if (count_live) {
        argc--;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: %s THREADS MIN_SIZE MAX_SIZE [OPS] [SLOTS] [SHARE_PCT] [live]\n",
                argv[0]);
        return 2;
    }
    int threads = (int)bench_arg_u64(argc, argv, 1, 1);
    size_t min_size = bench_arg_u64(argc, argv, 2, 16);
    size_t max_size = bench_arg_u64(argc, argv, 3, 1024);
    uint64_t ops = bench_arg_u64(argc, argv, 4, 20000000);
    size_t slot_count = bench_arg_u64(argc, argv, 5, 1000);
    unsigned share_pct = (unsigned)bench_arg_u64(argc, argv, 6, 10);
    if (threads < 1 || min_size < sizeof(block_t) || max_size < min_size || slot_count < 1 ||
        share_pct > 100) {
        bench_die("need THREADS >= 1, 8 <= MIN_SIZE <= MAX_SIZE, SLOTS >= 1, SHARE_PCT <= 100");
    }
    if (count_live && min_size < sizeof(sized_block_t)) {
        bench_die("live needs MIN_SIZE >= 16");
    }

    mailbox_t *mailboxes = aligned_alloc(64, sizeof(mailbox_t) * (size_t)threads);
    if (mailboxes == NULL) {
        bench_die("aligned_alloc");
    }
    for (int i = 0; i < threads; i++) {
        atomic_init(&mailboxes[i].head, NULL);
    }
    bench_barrier_t start;
    bench_barrier_init(&start, threads + 1);
    atomic_int finished = 0;
    live_count_t *counts = NULL;
    sampler_t sampler = { NULL, threads, 0, 0.0, 0.0, 0.0 };
    pthread_t sampler_tid;
    if (count_live) {
        counts = aligned_alloc(64, sizeof(live_count_t) * (size_t)threads);
        if (counts == NULL) {
            bench_die("aligned_alloc");
        }
        memset(counts, 0, sizeof(live_count_t) * (size_t)threads);
        sampler.counts = counts;
        if (pthread_create(&sampler_tid, NULL, sampler_main, &sampler) != 0) {
            bench_die("pthread_create");
        }
    }
    worker_t *workers = bench_xmalloc(sizeof(worker_t) * (size_t)threads);
    for (int i = 0; i < threads; i++) {
        workers[i] = (worker_t){ i, threads, min_size, max_size, ops / (uint64_t)threads,
                                 slot_count, share_pct, mailboxes, &start, &finished, 0,
                                 counts != NULL ? &counts[i] : NULL };
    }

    pthread_t *tids = bench_xmalloc(sizeof(pthread_t) * (size_t)threads);
    double seconds = bench_time_threads(threads, worker_main, workers, sizeof(worker_t), &start,
                                        tids);
    if (count_live) {
        atomic_store(&sampler.stop, 1);
        pthread_join(sampler_tid, NULL);
    }

    // Blocks posted after their receiver's last drain are still in a mailbox.
    uint64_t remote = 0;
    for (int i = 0; i < threads; i++) {
        remote += mailbox_drain(&mailboxes[i], NULL);
        remote += workers[i].remote_frees;
    }
    uint64_t total = (ops / (uint64_t)threads) * (uint64_t)threads;
    printf("larson threads=%d size=%zu-%zu ops=%llu remote_frees=%llu seconds=%.3f mops=%.2f",
           threads, min_size, max_size, (unsigned long long)total, (unsigned long long)remote,
           seconds, (double)total / seconds / 1e6);
    if (count_live) {
        // What the workload added to the RSS, over its live bytes.
        printf(" live_peak_mib=%.1f live_base_rss_mib=%.1f live_peak_rss_mib=%.1f "
               "live_added_pct=%.0f",
               sampler.peak_live_mib, sampler.base_rss_mib, sampler.peak_rss_mib,
               100.0 * (sampler.peak_rss_mib - sampler.base_rss_mib) / sampler.peak_live_mib);
    }
    printf("\n");
    free(counts);
    free(tids);
    free(workers);
    free(mailboxes);
    return 0;
}
