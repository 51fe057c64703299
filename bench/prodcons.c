// prodcons: producer/consumer, where every free is a remote free.
//
// usage: prodcons THREADS BATCH MAX_SIZE [BLOCKS]
// THREADS/2 producers (at least one) each feed their own consumer through a
// single-producer single-consumer ring. A producer allocates BATCH blocks of
// random sizes in [16, MAX_SIZE], chains them through their first word and
// passes the chain as one ring entry; the consumer walks the chain and frees
// every block. So no thread ever frees a block it allocated, and BATCH sets
// how many remote frees arrive at once (1: a stream of single blocks, as in
// a message queue; 1000: large batches, as in a pipeline stage).
// BLOCKS is the total number of blocks over all producers.
#include <sched.h>
#include <stdatomic.h>

#include "bench_util.h"

#define RING_SIZE 256 // slots; a power of two so the index wraps with a mask
// Bound on blocks in flight per pair, so that large batches measure the
// allocator and not how much memory a deep queue can pile up.
#define IN_FLIGHT_BLOCKS 65536

typedef struct block {
    struct block *next;
} block_t;

// Head and tail live on separate cache lines: the producer writes only
// `tail`, the consumer only `head`, so the ring itself adds one line
// transfer per entry and no more.
typedef struct {
    _Alignas(64) _Atomic uint64_t head;
    _Alignas(64) _Atomic uint64_t tail;
    uint64_t capacity; // entries usable, <= RING_SIZE; immutable
    _Alignas(64) block_t *entries[RING_SIZE];
} ring_t;

typedef struct {
    ring_t *ring;
    uint64_t seed;
    uint64_t batches;
    size_t batch;
    size_t max_size;
    bench_barrier_t *start;
    uint64_t freed;
} pair_t;

// On a 2-core machine with 8 threads a spinning waiter would steal the core
// its partner needs, so waiting yields.
static void ring_push(ring_t *ring, block_t *chain)
{
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    while (tail - atomic_load_explicit(&ring->head, memory_order_acquire) >= ring->capacity) {
        sched_yield();
    }
    ring->entries[tail & (RING_SIZE - 1)] = chain;
    atomic_store_explicit(&ring->tail, tail + 1, memory_order_release);
}

static block_t *ring_pop(ring_t *ring)
{
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    while (atomic_load_explicit(&ring->tail, memory_order_acquire) == head) {
        sched_yield();
    }
    block_t *chain = ring->entries[head & (RING_SIZE - 1)];
    atomic_store_explicit(&ring->head, head + 1, memory_order_release);
    return chain;
}

static void *producer_main(void *arg)
{
    pair_t *p = arg;
    bench_rng_t rng;
    bench_rng_seed(&rng, p->seed);
    bench_barrier_wait(p->start);
    for (uint64_t b = 0; b < p->batches; b++) {
        block_t *chain = NULL;
        for (size_t i = 0; i < p->batch; i++) {
            size_t size = bench_rng_range(&rng, 16, p->max_size);
            block_t *blk = bench_xmalloc(size);
            ((char *)blk)[size - 1] = 1;
            blk->next = chain;
            chain = blk;
        }
        ring_push(p->ring, chain);
    }
    // An empty chain tells the consumer that nothing more is coming.
    ring_push(p->ring, NULL);
    return NULL;
}

static void *consumer_main(void *arg)
{
    pair_t *p = arg;
    bench_barrier_wait(p->start);
    for (;;) {
        block_t *chain = ring_pop(p->ring);
        if (chain == NULL) {
            break;
        }
        while (chain != NULL) {
            block_t *next = chain->next;
            free(chain);
            chain = next;
            p->freed++;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s THREADS BATCH [MAX_SIZE] [BLOCKS]\n", argv[0]);
        return 2;
    }
    int threads = (int)bench_arg_u64(argc, argv, 1, 2);
    size_t batch = bench_arg_u64(argc, argv, 2, 100);
    size_t max_size = bench_arg_u64(argc, argv, 3, 256);
    uint64_t blocks = bench_arg_u64(argc, argv, 4, 10000000);
    if (threads < 1 || batch < 1 || max_size < 16) {
        bench_die("need THREADS >= 1, BATCH >= 1, MAX_SIZE >= 16");
    }
    // One thread cannot be split; it runs as one producer and one consumer.
    int pairs = threads >= 2 ? threads / 2 : 1;

    ring_t *rings = aligned_alloc(64, sizeof(ring_t) * (size_t)pairs);
    if (rings == NULL) {
        bench_die("aligned_alloc");
    }
    pair_t *ps = bench_xmalloc(sizeof(pair_t) * (size_t)pairs);
    bench_barrier_t start;
    bench_barrier_init(&start, 2 * pairs + 1);
    uint64_t batches = blocks / (uint64_t)pairs / batch;
    for (int i = 0; i < pairs; i++) {
        atomic_init(&rings[i].head, 0);
        atomic_init(&rings[i].tail, 0);
        uint64_t capacity = IN_FLIGHT_BLOCKS / batch;
        rings[i].capacity = capacity < 2 ? 2 : (capacity > RING_SIZE ? RING_SIZE : capacity);
        ps[i] = (pair_t){ &rings[i], 77 + (uint64_t)i, batches, batch, max_size, &start, 0 };
    }

    pthread_t *tids = bench_xmalloc(sizeof(pthread_t) * 2 * (size_t)pairs);
    for (int i = 0; i < pairs; i++) {
        if (pthread_create(&tids[2 * i], NULL, producer_main, &ps[i]) != 0 ||
            pthread_create(&tids[2 * i + 1], NULL, consumer_main, &ps[i]) != 0) {
            bench_die("pthread_create");
        }
    }
    bench_barrier_wait(&start);
    double t0 = bench_now();
    for (int i = 0; i < 2 * pairs; i++) {
        pthread_join(tids[i], NULL);
    }
    double seconds = bench_now() - t0;

    uint64_t freed = 0;
    for (int i = 0; i < pairs; i++) {
        freed += ps[i].freed;
    }
    printf("prodcons threads=%d batch=%zu size=16-%zu blocks=%llu seconds=%.3f mops=%.2f\n",
           2 * pairs, batch, max_size, (unsigned long long)freed, seconds,
           (double)freed / seconds / 1e6);
    free(tids);
    free(ps);
    free(rings);
    return 0;
}
