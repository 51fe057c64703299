/* A class whose blocks are replaced one at a time in random order keeps a share of its pages
 * free, so that malloc switches pages every dozen blocks or more, and not a larger share
 * (heap.c: heap_page_is_sparse). A new thread fills 10,000 slots with 500-byte blocks and
 * replaces random ones 400,000 times. Without the rule the class's free blocks were about 1% of
 * its live bytes, a block or two per page; a rule that never stopped growing would leave far
 * more than the eighth it allows. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "malloc-x.h"
#include "support.h"

#define SLOTS 10000
#define BLOCK 500
#define REPLACEMENTS 400000

typedef struct {
    size_t live;
    size_t free_in_pages;
} sparse_result_t;

static void *replace_thread(void *arg)
{
    sparse_result_t *result = arg;
    static void *slots[SLOTS];
    uint64_t rng = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < SLOTS; i++) {
        slots[i] = malloc(BLOCK);
        if (slots[i] == NULL) {
            return NULL;
        }
    }
    for (size_t i = 0; i < REPLACEMENTS; i++) {
        rng = rng * 6364136223846793005u + 1442695040888963407u;
        size_t slot = (size_t)(rng >> 33) % SLOTS;
        free(slots[slot]);
        slots[slot] = malloc(BLOCK);
        if (slots[slot] == NULL) {
            return NULL;
        }
    }
    mx_stats_t stats;
    mx_stats_get(&stats);
    result->live = SLOTS * mx_usable_size(slots[0]);
    result->free_in_pages = stats.free_in_pages_bytes;
    for (size_t i = 0; i < SLOTS; i++) {
        free(slots[i]);
    }
    return result;
}

static void test_replaced_class_keeps_a_bounded_share_free(void **state)
{
    (void)state;
    sparse_result_t result = {0, 0};
    pthread_t thread;
    void *joined = NULL;
    assert_int_equal(pthread_create(&thread, NULL, replace_thread, &result), 0);
    assert_int_equal(pthread_join(thread, &joined), 0);
    assert_non_null(joined);
    print_message("live %zu KiB, free in pages %zu KiB\n", result.live >> 10,
                  result.free_in_pages >> 10);
    assert_true(result.free_in_pages * 20 >= result.live);
    assert_true(result.free_in_pages * 4 <= result.live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replaced_class_keeps_a_bounded_share_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
