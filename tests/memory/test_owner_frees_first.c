/* Blocks the owner freed into a class's older pages are reused before the newest page hands out
 * much more of its untouched tail (heap.c: heap_queue_find; page.c: allowances of fresh blocks).
 * A new thread allocates 200 blocks of 1 KiB, so that three pages are full and a fourth has a
 * tail left, frees every other one of the first 100, and allocates 50 more: most of those must
 * take the places just freed. Handing out the newest page's tail first took none of them, and
 * a class whose live blocks fill a page and a half came to have two pages carved to the end. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "support.h"

#define BLOCK 1000
#define FIRST 200
#define FREED 50

static void *reuse_thread(void *arg)
{
    size_t *reused = arg;
    static void *blocks[FIRST];
    static void *freed[FREED];
    static void *again[FREED];
    for (size_t i = 0; i < FIRST; i++) {
        blocks[i] = malloc(BLOCK);
        if (blocks[i] == NULL) {
            return NULL;
        }
    }
    for (size_t i = 0; i < FREED; i++) {
        freed[i] = blocks[2 * i];
        free(blocks[2 * i]);
        blocks[2 * i] = NULL;
    }
    for (size_t i = 0; i < FREED; i++) {
        again[i] = malloc(BLOCK);
        for (size_t j = 0; j < FREED; j++) {
            *reused += again[i] != NULL && again[i] == freed[j];
        }
    }
    for (size_t i = 0; i < FREED; i++) {
        free(again[i]);
    }
    for (size_t i = 0; i < FIRST; i++) {
        free(blocks[i]);
    }
    return reused;
}

static void test_owner_frees_come_before_the_tail(void **state)
{
    (void)state;
    size_t reused = 0;
    pthread_t thread;
    void *result = NULL;
    assert_int_equal(pthread_create(&thread, NULL, reuse_thread, &reused), 0);
    assert_int_equal(pthread_join(thread, &result), 0);
    assert_non_null(result);
    print_message("%zu of %d new blocks took the place of a freed one\n", reused, FREED);
    assert_true(reused >= FREED / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner_frees_come_before_the_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
