/* A thread that exits with much freed memory waiting for the purge gives it back at its exit:
 * a process whose threads have finished their work may make no allocator call for a long
 * time, and then no tick would come to purge it (purge.c). A worker writes and frees 32 MiB of
 * 4 KiB and 256 KiB blocks and exits; right after the join, before the main thread calls the
 * allocator again, resident memory must be back near where it started. The previous library
 * kept the 4 KiB blocks' 32 MiB resident until its next slow path (the large blocks' frees
 * read the purge clock themselves). */
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
