/* A thread that exits with much freed memory waiting for the purge gives it back at its exit:
 * a process whose threads have finished their work may make no allocator call for a long
 * time, and then no tick would come to purge it (purge.c). A worker writes and frees 32 MiB of
 * 4 KiB and 256 KiB blocks and exits; right after the join, before the main thread calls the
 * allocator again, resident memory must be back near where it started. The previous library
 * kept the 4 KiB blocks' 32 MiB resident until its next slow path (the large blocks' frees
 * read the purge clock themselves). Threads that exit together do not wait for each other's
 * purge but hand theirs to the one running (segment.h): all of their memory must still go. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define MIB ((size_t)1 << 20)
#define WORKER_BYTES (32 * MIB)

static void *worker(void *arg)
{
    size_t size = *(const size_t *)arg;
    size_t count = WORKER_BYTES / size;
    char **blocks = malloc(count * sizeof(char *));
    if (blocks == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        blocks[i] = malloc(size);
        if (blocks[i] != NULL) {
            memset(blocks[i], 0x6b, size);
        }
    }
    for (size_t i = 0; i < count; i++) {
        free(blocks[i]);
    }
    free(blocks);
    return blocks;
}

static void check_exit_gives_back(size_t size)
{
    size_t baseline = mx_test_rss_bytes();
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, worker, &size), 0);
    void *result = NULL;
    assert_int_equal(pthread_join(thread, &result), 0);
    size_t left = mx_test_rss_above(baseline);
    print_message("%7zu-byte blocks: %.1f MiB still resident after the worker's exit\n", size,
                  (double)left / MIB);
    assert_non_null(result);
    assert_true(left < 4 * MIB);
}

#define TOGETHER 4

static pthread_barrier_t exit_barrier;

static void *worker_exiting_together(void *arg)
{
    void *result = worker(arg);
    pthread_barrier_wait(&exit_barrier);
    return result;
}

static void test_threads_exiting_together_give_back(void **state)
{
    (void)state;
    size_t size = 4096;
    size_t baseline = mx_test_rss_bytes();
    assert_int_equal(pthread_barrier_init(&exit_barrier, NULL, TOGETHER), 0);
    pthread_t threads[TOGETHER];
    for (int i = 0; i < TOGETHER; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, worker_exiting_together, &size), 0);
    }
    for (int i = 0; i < TOGETHER; i++) {
        void *result = NULL;
        assert_int_equal(pthread_join(threads[i], &result), 0);
        assert_non_null(result);
    }
    pthread_barrier_destroy(&exit_barrier);
    size_t left = mx_test_rss_above(baseline);
    print_message("%d threads: %.1f MiB still resident after their exits\n", TOGETHER,
                  (double)left / MIB);
    assert_true(left < 4 * MIB);
}

static void test_exit_gives_back_medium_blocks(void **state)
{
    (void)state;
    check_exit_gives_back(4096);
}

static void test_exit_gives_back_large_blocks(void **state)
{
    (void)state;
    check_exit_gives_back(256 << 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_gives_back_medium_blocks),
        cmocka_unit_test(test_exit_gives_back_large_blocks),
        cmocka_unit_test(test_threads_exiting_together_give_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
