/* Claims reuse free memory that is still resident before memory that went back to the OS.
 * Eight large blocks are touched and freed in two halves: the first half is purged with
 * malloc_trim, the second stays resident (the purge delay is an hour, so no timer purges it).
 * Four new blocks of the same size, touched in full, must then land on the resident half:
 * taking the first free run would put them on the purged half, which sits at lower addresses,
 * and fault in 32 MiB while 32 MiB of free memory stayed resident beside them. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "malloc-x.h"
#include "support.h"

#define MIB ((size_t)1 << 20)
#define BLOCK (8 * MIB)
#define HALF 4

static void test_claims_prefer_resident_free_memory(void **state)
{
    (void)state;
    assert_int_equal(mx_option_set(MX_OPTION_PURGE_DELAY, 3600000), 0);
    assert_int_equal(mx_option_set(MX_OPTION_RETAIN_LIMIT, 1LL << 30), 0);
    void *first[HALF];
    void *second[HALF];
    for (int i = 0; i < HALF; i++) {
        first[i] = malloc(BLOCK);
        assert_non_null(first[i]);
        memset(first[i], 1, BLOCK);
    }
    for (int i = 0; i < HALF; i++) {
        second[i] = malloc(BLOCK);
        assert_non_null(second[i]);
        memset(second[i], 2, BLOCK);
    }
    for (int i = 0; i < HALF; i++) {
        free(first[i]);
    }
    malloc_trim(0);
    for (int i = 0; i < HALF; i++) {
        free(second[i]);
    }
    size_t before = mx_test_rss_bytes();
    void *again[HALF];
    for (int i = 0; i < HALF; i++) {
        again[i] = malloc(BLOCK);
        assert_non_null(again[i]);
        memset(again[i], 3, BLOCK);
    }
    size_t grown = mx_test_rss_above(before);
    printf("resident memory grew by %.1f MiB reusing %zu MiB of freed blocks\n",
           (double)grown / MIB, HALF * BLOCK / MIB);
    assert_true(grown <= 4 * MIB);
    for (int i = 0; i < HALF; i++) {
        free(again[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claims_prefer_resident_free_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
