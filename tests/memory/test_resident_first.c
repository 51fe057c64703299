/* A new page or large block takes memory that was freed and is still resident before memory
 * that the purge already gave back or that was never touched: reusing it costs no page fault,
 * and leaves nothing resident behind for the purge (segment.c). Two 1 MiB blocks: the lower
 * one is freed and purged (malloc_trim), the upper one freed and left resident; the next
 * 1 MiB block must take the upper one's place, and writing it must not add its size to the
 * resident memory. First fit took the lower one. */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define MIB ((size_t)1 << 20)

static void test_claims_take_resident_memory_first(void **state)
{
    (void)state;
    char *a = malloc(MIB);
    char *b = malloc(MIB);
    assert_non_null(a);
    assert_non_null(b);
    memset(a, 1, MIB);
    memset(b, 2, MIB);
    char *low = (uintptr_t)a < (uintptr_t)b ? a : b;
    char *high = low == a ? b : a;

    free(low);
    malloc_trim(0);
    free(high);
    size_t baseline = mx_test_rss_bytes();
    char *again = malloc(MIB);
    assert_non_null(again);
    memset(again, 3, MIB);
    size_t grown = mx_test_rss_above(baseline);
    print_message("new block at the %s one's place; resident memory grew %zu KiB\n",
                  again == high ? "resident" : again == low ? "purged" : "neither",
                  grown >> 10);
    assert_ptr_equal(again, high);
    assert_true(grown < MIB / 2);
    free(again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claims_take_resident_memory_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
