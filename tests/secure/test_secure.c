/* A MALLOCX_SECURE build: an overflow off the end of a page or a large or huge block runs into a
 * guard page and faults at once, and a fresh page hands out its blocks in a random order. */
#include "support.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>

#include "malloc-x.h"

/* 4 KiB blocks come in pages of one 64 KiB slice: 15 blocks, then the 4 KiB guard. Allocating
 * more than a page's worth hands out the last block of some page; one byte past it faults. */
static void overflow_small_page(void *arg)
{
    (void)arg;
    for (int i = 0; i < 64; i++) {
        uintptr_t end = (uintptr_t)malloc(4096) + 4096;
        if ((end + 4096) % 65536 == 0) {
            volatile unsigned char *past = (unsigned char *)end;
            *past = 1;
        }
    }
}

static void overflow_large(void *arg)
{
    size_t size = (size_t)(uintptr_t)arg;
    unsigned char *p = malloc(size);
    size_t usable = malloc_usable_size(p);
    memset(p, 1, usable);
    volatile unsigned char *past = p + usable;
    *past = 1;
}

static void test_small_page_overflow_faults(void **state)
{
    (void)state;
    char out[256];
    int sig = mx_test_run_child(overflow_small_page, NULL, out, sizeof(out));
    assert_int_equal(sig, SIGSEGV);
}

static void test_large_block_overflow_faults(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(mx_test_run_child(overflow_large, (void *)(uintptr_t)(200 << 10), out,
                                       sizeof(out)),
                     SIGSEGV);
}

static void test_huge_block_overflow_faults(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(mx_test_run_child(overflow_large, (void *)(uintptr_t)(40 << 20), out,
                                       sizeof(out)),
                     SIGSEGV);
}

/* In a new thread (a fresh heap, fresh pages), consecutive allocations of one size are not in
 * address order, as they are in the default build. */
static void *allocate_in_order(void *arg)
{
    void **blocks = arg;
    for (int i = 0; i < 64; i++) {
        blocks[i] = malloc(48);
    }
    return NULL;
}

static void test_free_list_order_is_random(void **state)
{
    (void)state;
    void *blocks[64];
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, allocate_in_order, blocks), 0);
    pthread_join(t, NULL);
    int ascending = 0;
    for (int i = 1; i < 64; i++) {
        ascending += (uintptr_t)blocks[i] == (uintptr_t)blocks[i - 1] + 48;
    }
    /* In address order 63 of 63 steps are +48; a random order makes a handful at most. */
    assert_true(ascending < 32);
    for (int i = 0; i < 64; i++) {
        free(blocks[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_page_overflow_faults),
        cmocka_unit_test(test_large_block_overflow_faults),
        cmocka_unit_test(test_huge_block_overflow_faults),
        cmocka_unit_test(test_free_list_order_is_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
