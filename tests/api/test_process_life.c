/* The allocator across a process's life: before main, as the first call on a new thread, in
 * thread-exit destructors, in atexit handlers (via a helper program), across fork while other
 * threads allocate, and with a thousand live threads.
 *
 * This program links -lmalloc-x, so malloc and friends below are malloc-x's. cmocka's asserts
 * longjmp, which is only valid on the main thread: worker threads record what they saw and the
 * main thread asserts after joining. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "malloc-x.h"
#include "support.h"

#ifndef HELPER_PATH
#error "HELPER_PATH must name the atexit helper executable"
#endif

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

extern char **environ;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits for pid until deadline_ms (CLOCK_MONOTONIC); on timeout kills it so a deadlocked child
 * becomes a failure rather than a hung test. Returns the wait status, or -1 on timeout. */
static int wait_with_deadline(pid_t pid, uint64_t deadline_ms)
{
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return status;
        }
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        if (now_ms() >= deadline_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(2000);
    }
}

/* Small allocations of assorted sizes, written and checked; 0 on success. Safe on any thread
 * and in a forked child. */
static int churn(uint64_t seed, int rounds)
{
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, seed);
    void *held[16] = {0};
    size_t held_size[16] = {0};
    int bad = 0;
    for (int i = 0; i < rounds; i++) {
        int slot = (int)mx_test_rng_range(&rng, 0, 15);
        if (held[slot] != NULL) {
            if (!mx_test_check(held[slot], held_size[slot], (uint64_t)slot)) {
                bad = 1;
            }
            free(held[slot]);
        }
        size_t size = (size_t)mx_test_rng_range(&rng, 1, (i % 32 == 0) ? 300000 : 512);
        held[slot] = malloc(size);
        held_size[slot] = size;
        if (held[slot] == NULL) {
            return 1;
        }
        mx_test_fill(held[slot], size, (uint64_t)slot);
    }
    for (int slot = 0; slot < 16; slot++) {
        if (held[slot] != NULL && !mx_test_check(held[slot], held_size[slot], (uint64_t)slot)) {
            bad = 1;
        }
        free(held[slot]);
    }
    return bad;
}

/* ---- before main ---- */

static unsigned char *ctor_block;
static size_t ctor_block_size = 1000;

__attribute__((constructor)) static void allocate_before_main(void)
{
    ctor_block = malloc(ctor_block_size);
    if (ctor_block != NULL) {
        mx_test_fill(ctor_block, ctor_block_size, 77);
    }
    /* And a second one freed at once, so the allocator also sees a free before main. */
    free(malloc(100));
}

static void test_malloc_in_constructor(void **state)
{
    (void)state;
    assert_non_null(ctor_block);
    assert_int_equal(mx_owns(ctor_block), 1);
    assert_true(mx_test_check(ctor_block, ctor_block_size, 77));
    free(ctor_block);
    ctor_block = NULL;
}

/* ---- the first allocator call on a new thread ---- */

enum first_call {
    FIRST_REALLOC,
    FIRST_POSIX_MEMALIGN,
    FIRST_CALLOC,
    FIRST_ALIGNED_ALLOC,
    FIRST_FREE,
};

struct first_ctx {
    enum first_call call;
    void *main_block; /* for FIRST_FREE: allocated by main, freed first thing by the thread */
    int ok;
};

static void *first_call_thread(void *arg)
{
    struct first_ctx *ctx = arg;
    unsigned char *p = NULL;
    int ok = 1;
    /* Nothing before this switch may touch the allocator: the call under test comes first. */
    switch (ctx->call) {
    case FIRST_REALLOC:
        p = realloc(NULL, 100);
        ok = p != NULL;
        break;
    case FIRST_POSIX_MEMALIGN:
        ok = posix_memalign((void **)&p, 256, 100) == 0 && ((uintptr_t)p & 255) == 0;
        break;
    case FIRST_CALLOC:
        p = calloc(10, 10);
        ok = p != NULL;
        for (int i = 0; ok && i < 100; i++) {
            ok = p[i] == 0;
        }
        break;
    case FIRST_ALIGNED_ALLOC:
        p = aligned_alloc(4096, 100);
        ok = p != NULL && ((uintptr_t)p & 4095) == 0;
        break;
    case FIRST_FREE:
        free(ctx->main_block);
        break;
    }
    if (p != NULL) {
        memset(p, 1, 100);
        ok = ok && mx_owns(p) == 1;
    }
    ok = ok && churn(0x1234 + ctx->call, 200) == 0;
    free(p);
    ctx->ok = ok;
    return NULL;
}

static void run_first_call(enum first_call call)
{
    struct first_ctx ctx = {.call = call, .main_block = NULL, .ok = 0};
    if (call == FIRST_FREE) {
        ctx.main_block = malloc(200);
        assert_non_null(ctx.main_block);
        memset(ctx.main_block, 2, 200);
    }
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, first_call_thread, &ctx), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(ctx.ok, 1);
}

static void test_first_call_realloc(void **state)
{
    (void)state;
    run_first_call(FIRST_REALLOC);
}

static void test_first_call_posix_memalign(void **state)
{
    (void)state;
    run_first_call(FIRST_POSIX_MEMALIGN);
}

static void test_first_call_calloc(void **state)
{
    (void)state;
    run_first_call(FIRST_CALLOC);
}

static void test_first_call_aligned_alloc(void **state)
{
    (void)state;
    run_first_call(FIRST_ALIGNED_ALLOC);
}

static void test_first_call_free_remote(void **state)
{
    (void)state;
    run_first_call(FIRST_FREE);
}

/* ---- pthread key destructors ---- */

/* Destructors run after the thread function returned, possibly after the allocator's own
 * thread-exit hook (its key is usually created first, so its destructor runs first). */
static pthread_key_t key_churn;
static pthread_key_t key_handoff;
static atomic_int churn_runs;
static atomic_int churn_failures;
static void *_Atomic handoff_block;

static void destructor_churn(void *value)
{
    (void)value;
    if (churn(0x5150, 100) != 0) {
        atomic_fetch_add(&churn_failures, 1);
    }
    atomic_fetch_add(&churn_runs, 1);
}

static void destructor_handoff(void *value)
{
    (void)value;
    unsigned char *p = malloc(5000);
    if (p != NULL) {
        mx_test_fill(p, 5000, 99);
    }
    atomic_store(&handoff_block, p);
}

struct key_ctx {
    int allocate_first; /* whether the thread allocated before exiting */
};

static void *key_thread(void *arg)
{
    struct key_ctx *ctx = arg;
    if (ctx->allocate_first) {
        churn(0x77, 300);
    }
    /* Any non-NULL value makes the destructor run; these are not heap pointers. */
    pthread_setspecific(key_churn, (void *)1);
    pthread_setspecific(key_handoff, (void *)1);
    return NULL;
}

static void test_key_destructor_allocates(void **state)
{
    (void)state;
    assert_int_equal(pthread_key_create(&key_churn, destructor_churn), 0);
    assert_int_equal(pthread_key_create(&key_handoff, destructor_handoff), 0);
    for (int allocate_first = 0; allocate_first <= 1; allocate_first++) {
        for (int round = 0; round < 4; round++) {
            struct key_ctx ctx = {.allocate_first = allocate_first};
            atomic_store(&handoff_block, NULL);
            int runs_before = atomic_load(&churn_runs);
            pthread_t t;
            assert_int_equal(pthread_create(&t, NULL, key_thread, &ctx), 0);
            assert_int_equal(pthread_join(t, NULL), 0);
            assert_int_equal(atomic_load(&churn_runs), runs_before + 1);
            unsigned char *p = atomic_load(&handoff_block);
            assert_non_null(p);
            assert_int_equal(mx_owns(p), 1);
            assert_true(mx_test_check(p, 5000, 99));
            free(p);
        }
    }
    assert_int_equal(atomic_load(&churn_failures), 0);
    pthread_key_delete(key_churn);
    pthread_key_delete(key_handoff);
}

/* ---- atexit, in a helper process ---- */

static void test_atexit_helper(void **state)
{
    (void)state;
    int out[2];
    assert_int_equal(pipe(out), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addclose(&actions, out[1]);
    char *argv[] = {HELPER_PATH, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, HELPER_PATH, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (rc != 0) {
        close(out[0]);
        fail_msg("posix_spawn(%s) failed: %s", HELPER_PATH, strerror(rc));
    }
    char buf[256];
    size_t len = 0;
    uint64_t deadline = now_ms() + 10000;
    while (len < sizeof(buf) - 1 && now_ms() < deadline) {
        struct pollfd pfd = {.fd = out[0], .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0) {
            continue;
        }
        ssize_t n = read(out[0], buf + len, sizeof(buf) - 1 - len);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(out[0]);
    int status = wait_with_deadline(pid, deadline);
    print_message("helper output: \"%.*s\"\n", (int)strcspn(buf, "\n"), buf);
    if (status < 0) {
        fail_msg("atexit helper did not finish within 10 s");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fail_msg("atexit helper ended with status %#x (signal %d)", status,
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    assert_string_equal(buf, "ok\n");
}

/* ---- fork while other threads allocate ---- */

#define FORK_WORKERS 4
#define FORK_CHILDREN 20
#define FORK_SLOTS 64

/* Blocks owned by the workers, published here so a child can free blocks whose owner thread
 * does not exist in the child. Every non-NULL slot holds a live block filled with tag = index. */
static void *_Atomic fork_slots[FORK_SLOTS];
static size_t fork_slot_size(int i)
{
    return 16 + (size_t)i * 97;
}
static atomic_int fork_stop;

static void *fork_worker(void *arg)
{
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, (uint64_t)(uintptr_t)arg);
    while (!atomic_load(&fork_stop)) {
        int slot = (int)mx_test_rng_range(&rng, 0, FORK_SLOTS - 1);
        void *p = malloc(fork_slot_size(slot));
        if (p != NULL) {
            mx_test_fill(p, fork_slot_size(slot), (uint64_t)slot);
        }
        free(atomic_exchange(&fork_slots[slot], p));
        /* Some larger traffic too, so huge/large paths may hold locks at fork time. */
        void *big = malloc(mx_test_rng_range(&rng, 1, 4) * 256 * KIB);
        free(big);
    }
    return NULL;
}

static void *child_thread(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)churn(0xc41d, 300);
}

/* Runs in the forked child; only the calling thread exists. Returns the exit code. */
static int fork_child(unsigned char *parent_block, size_t parent_size)
{
    if (churn(0xf0f0, 500) != 0) {
        return 2;
    }
    if (!mx_test_check(parent_block, parent_size, 5)) {
        return 3;
    }
    free(parent_block);
    for (int i = 0; i < FORK_SLOTS; i++) {
        unsigned char *p = atomic_exchange(&fork_slots[i], NULL);
        if (p == NULL) {
            continue;
        }
        if (!mx_test_check(p, fork_slot_size(i), (uint64_t)i)) {
            return 4;
        }
        free(p);
    }
    pthread_t t;
    void *result = (void *)1;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0 || pthread_join(t, &result) != 0) {
        return 5;
    }
    if (result != NULL) {
        return 6;
    }
    return churn(0xf1f1, 200) == 0 ? 0 : 7;
}

static void test_fork_while_allocating(void **state)
{
    (void)state;
    atomic_store(&fork_stop, 0);
    pthread_t workers[FORK_WORKERS];
    for (int i = 0; i < FORK_WORKERS; i++) {
        assert_int_equal(
            pthread_create(&workers[i], NULL, fork_worker, (void *)(uintptr_t)(i + 1)), 0);
    }
    pid_t pids[FORK_CHILDREN];
    unsigned char *parent_blocks[FORK_CHILDREN] = {0};
    int forked = 0;
    for (int i = 0; i < FORK_CHILDREN; i++) {
        size_t size = 100 + (size_t)i * 40000;
        parent_blocks[i] = malloc(size);
        assert_non_null(parent_blocks[i]);
        mx_test_fill(parent_blocks[i], size, 5);
        usleep(5000);
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            _exit(fork_child(parent_blocks[i], size));
        }
        if (pid < 0) {
            break;
        }
        pids[forked++] = pid;
    }
    atomic_store(&fork_stop, 1);
    for (int i = 0; i < FORK_WORKERS; i++) {
        pthread_join(workers[i], NULL);
    }
    uint64_t deadline = now_ms() + 10000;
    int failures = 0;
    for (int i = 0; i < forked; i++) {
        int status = wait_with_deadline(pids[i], deadline);
        if (status < 0) {
            print_error("child %d did not exit within 10 s (deadlock?)\n", i);
            failures++;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            print_error("child %d ended with exit code %d, signal %d\n", i,
                        WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                        WIFSIGNALED(status) ? WTERMSIG(status) : 0);
            failures++;
        }
    }
    for (int i = 0; i < FORK_CHILDREN; i++) {
        free(parent_blocks[i]);
    }
    for (int i = 0; i < FORK_SLOTS; i++) {
        free(atomic_exchange(&fork_slots[i], NULL));
    }
    assert_int_equal(forked, FORK_CHILDREN);
    assert_int_equal(failures, 0);
}

/* ---- a thousand live threads ---- */

#define MANY_THREADS 1000
#define MANY_STACK (64 * KIB)

static pthread_barrier_t many_allocated;
static pthread_barrier_t many_release;
static atomic_int many_failures;

static void *many_thread(void *arg)
{
    size_t seed = (size_t)(uintptr_t)arg;
    void *p[4];
    for (int i = 0; i < 4; i++) {
        size_t size = 16 + (seed * 7 + (size_t)i * 40) % 200;
        p[i] = malloc(size);
        if (p[i] == NULL) {
            atomic_fetch_add(&many_failures, 1);
        } else {
            memset(p[i], (int)i, size);
        }
    }
    pthread_barrier_wait(&many_allocated);
    pthread_barrier_wait(&many_release);
    for (int i = 0; i < 4; i++) {
        free(p[i]);
    }
    return NULL;
}

static void test_many_live_threads(void **state)
{
    (void)state;
    static pthread_t threads[MANY_THREADS];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    assert_int_equal(pthread_attr_setstacksize(&attr, MANY_STACK), 0);
    assert_int_equal(pthread_barrier_init(&many_allocated, NULL, MANY_THREADS + 1), 0);
    assert_int_equal(pthread_barrier_init(&many_release, NULL, MANY_THREADS + 1), 0);
    atomic_store(&many_failures, 0);
    size_t vsize_before = mx_test_vsize_bytes();
    for (int i = 0; i < MANY_THREADS; i++) {
        int rc = pthread_create(&threads[i], &attr, many_thread, (void *)(uintptr_t)i);
        if (rc != 0) {
            /* The barrier would never open: this process cannot continue sanely. */
            print_error("pthread_create %d failed: %s\n", i, strerror(rc));
            _exit(1);
        }
    }
    pthread_barrier_wait(&many_allocated);
    size_t vsize_live = mx_test_vsize_bytes();
    pthread_barrier_wait(&many_release);
    for (int i = 0; i < MANY_THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    pthread_attr_destroy(&attr);
    pthread_barrier_destroy(&many_allocated);
    pthread_barrier_destroy(&many_release);
    size_t growth = vsize_live > vsize_before ? vsize_live - vsize_before : 0;
    print_message("virtual size grew by %zu MiB with %d live threads (stacks alone: %zu MiB)\n",
                  growth / MIB, MANY_THREADS, (size_t)MANY_THREADS * MANY_STACK / MIB);
    assert_int_equal(atomic_load(&many_failures), 0);
    /* A 64 MiB reservation per thread heap would be ~62 GiB here. */
    assert_true(growth < 2048 * MIB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malloc_in_constructor),
        cmocka_unit_test(test_first_call_realloc),
        cmocka_unit_test(test_first_call_posix_memalign),
        cmocka_unit_test(test_first_call_calloc),
        cmocka_unit_test(test_first_call_aligned_alloc),
        cmocka_unit_test(test_first_call_free_remote),
        cmocka_unit_test(test_key_destructor_allocates),
        cmocka_unit_test(test_atexit_helper),
        cmocka_unit_test(test_fork_while_allocating),
        cmocka_unit_test(test_many_live_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
