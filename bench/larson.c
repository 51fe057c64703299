// larson: a server-like mix of long- and short-lived blocks with cross-thread
// frees, in the spirit of the Larson & Krishnan benchmark.
//
// usage: larson THREADS MIN_SIZE MAX_SIZE [OPS] [SLOTS] [SHARE_PCT]
// Each thread owns SLOTS slots, filled at start. One operation picks a random
// slot, gets rid of the block in it and puts a new block of a random size in
// [MIN_SIZE, MAX_SIZE] there. Getting rid of a block means free() it locally,
// except for SHARE_PCT percent of them, which are posted to a random other
// thread's mailbox; that thread frees them the next time it checks its
// mailbox (every 64 operations). So SHARE_PCT sets the fraction of remote
// frees, and blocks live for about SLOTS operations, like requests in flight.
// OPS is the total across all threads.
#include <sched.h>
#include <stdatomic.h>

#include "bench_util.h"

// A block posted to a mailbox carries the link in its own first word; every
// size in the workload is at least sizeof(void *).
typedef struct block {
    struct block *next;
} block_t;

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
} worker_t;

static void mailbox_post(mailbox_t *box, block_t *b)
{
    block_t *old = atomic_load_explicit(&box->head, memory_order_relaxed);
    do {
        b->next = old;
    } while (!atomic_compare_exchange_weak_explicit(&box->head, &old, b, memory_order_release,
                                                    memory_order_relaxed));
}

static uint64_t mailbox_drain(mailbox_t *box)
{
    block_t *b = atomic_exchange_explicit(&box->head, NULL, memory_order_acquire);
    uint64_t n = 0;
    while (b != NULL) {
        block_t *next = b->next;
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
    for (size_t i = 0; i < w->slot_count; i++) {
        size_t size = bench_rng_range(&rng, w->min_size, w->max_size);
        slots[i] = bench_xmalloc(size);
        slots[i][size - 1] = 1;
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
            mailbox_post(&w->mailboxes[target], (block_t *)old);
        } else {
            free(old);
        }
        size_t size = bench_rng_range(&rng, w->min_size, w->max_size);
        char *p = bench_xmalloc(size);
        // Touch both ends as a program filling in a request would.
        p[0] = (char)op;
        p[size - 1] = (char)op;
        slots[slot] = p;
        if ((op & 63) == 63) {
            w->remote_frees += mailbox_drain(mine);
        }
    }
    // A thread that is done keeps freeing what is posted to it until every thread is done, as
    // a server keeps serving: otherwise the blocks posted to it meanwhile would pile up in its
    // mailbox, and the peak RSS would measure how unevenly the threads were scheduled.
    atomic_fetch_add(w->finished, 1);
    while (atomic_load(w->finished) < w->threads) {
        w->remote_frees += mailbox_drain(mine);
        sched_yield();
    }
    w->remote_frees += mailbox_drain(mine);
    for (size_t i = 0; i < w->slot_count; i++) {
        free(slots[i]);
    }
    free(slots);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s THREADS MIN_SIZE MAX_SIZE [OPS] [SLOTS] [SHARE_PCT]\n", argv[0]);
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
    worker_t *workers = bench_xmalloc(sizeof(worker_t) * (size_t)threads);
    for (int i = 0; i < threads; i++) {
        workers[i] = (worker_t){ i, threads, min_size, max_size, ops / (uint64_t)threads,
                                 slot_count, share_pct, mailboxes, &start, &finished, 0 };
    }

    pthread_t *tids = bench_xmalloc(sizeof(pthread_t) * (size_t)threads);
    double seconds = bench_time_threads(threads, worker_main, workers, sizeof(worker_t), &start,
                                        tids);

    // Blocks posted after their receiver's last drain are still in a mailbox.
    uint64_t remote = 0;
    for (int i = 0; i < threads; i++) {
        remote += mailbox_drain(&mailboxes[i]);
        remote += workers[i].remote_frees;
    }
    uint64_t total = (ops / (uint64_t)threads) * (uint64_t)threads;
    printf("larson threads=%d size=%zu-%zu ops=%llu remote_frees=%llu seconds=%.3f mops=%.2f\n",
           threads, min_size, max_size, (unsigned long long)total, (unsigned long long)remote,
           seconds, (double)total / seconds / 1e6);
    free(tids);
    free(workers);
    free(mailboxes);
    return 0;
}
