/* malloc_trim(0) gives back every free page now, and its result says whether anything went
 * back. The test runs with a purge delay of an hour (it re-executes itself with
 * MALLOCX_PURGE_DELAY set), so nothing goes back on a timer, and a high retain limit.
 * Cases: memory the calling thread freed; memory another thread allocated, which this thread
 * freed while the owner sleeps (only a collection of the idle heap reaches it); a second trim
 * right after the first, which has nothing left to release and must say so; and pages that
 * keep a few live blocks, whose free blocks' memory goes back while the pages stay in use,
 * the calling thread's and an idle owner's. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "malloc-x.h"
#include "support.h"

#define MIB ((size_t)1 << 20)
#define WORKING_SET (96 * MIB)
#define BLOCKS 24576

static void *blocks[BLOCKS];

static size_t fill(void)
{
    return mx_test_fill_working_set(blocks, BLOCKS, WORKING_SET, 32, 16 << 10, 3);
}

static void check_trim(const char *what, size_t baseline, size_t peak)
{
    size_t before = mx_test_rss_above(baseline);
    int first = malloc_trim(0);
    size_t after = mx_test_rss_above(baseline);
    int second = malloc_trim(0);
    printf("%-34s peak %6.1f MiB, before trim %6.1f MiB, after %5.1f MiB; "
           "trim returned %d, then %d\n",
           what, (double)peak / MIB, (double)before / MIB, (double)after / MIB, first, second);
    assert_true(before >= WORKING_SET / 2);
    assert_int_equal(first, 1);
    assert_true(after <= 4 * MIB);
    assert_int_equal(second, 0);
}

static void test_trim_own_frees(void **state)
{
    (void)state;
    malloc_trim(0);
    size_t baseline = mx_test_rss_bytes();
    size_t n = fill();
    size_t peak = mx_test_rss_above(baseline);
    mx_test_free_all(blocks, n);
    check_trim("freed by the owner", baseline, peak);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stage;

/* The owner thread's side: says it is done allocating, then blocks outside the allocator until
 * the test releases it. */
static void owner_idle_until_released(void)
{
    pthread_mutex_lock(&lock);
    stage = 1;
    pthread_cond_broadcast(&cond);
    while (stage != 2) {
        pthread_cond_wait(&cond, &lock);
    }
    pthread_mutex_unlock(&lock);
}

static void wait_for_idle_owner(void)
{
    pthread_mutex_lock(&lock);
    while (stage != 1) {
        pthread_cond_wait(&cond, &lock);
    }
    pthread_mutex_unlock(&lock);
}

static void release_owner(void)
{
    pthread_mutex_lock(&lock);
    stage = 2;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static void *owner(void *arg)
{
    size_t *count = arg;
    *count = fill();
    owner_idle_until_released();
    return NULL;
}

static void test_trim_reaches_idle_owner(void **state)
{
    (void)state;
    malloc_trim(0);
    size_t baseline = mx_test_rss_bytes();
    size_t n = 0;
    pthread_t t;
    stage = 0;
    assert_int_equal(pthread_create(&t, NULL, owner, &n), 0);
    wait_for_idle_owner();
    size_t peak = mx_test_rss_above(baseline);
    mx_test_free_all(blocks, n);
    check_trim("freed by another thread, owner idle", baseline, peak);
    release_owner();
    pthread_join(t, NULL);
}

/* Sparse pages: every 64th block of 256 bytes stays live, so three OS pages in four hold only
 * free blocks while every page of the allocator is still in use. malloc_trim gives those OS
 * pages back (trim.h); the live blocks keep their contents, and the freed blocks can all be
 * allocated again, each once. */
#define SPARSE_SIZE 256
#define SPARSE_KEEP 64
#define SPARSE_BLOCKS (64 * MIB / SPARSE_SIZE)

static void **sparse;

static void sparse_fill(void)
{
    for (size_t i = 0; i < SPARSE_BLOCKS; i++) {
        sparse[i] = malloc(SPARSE_SIZE);
        assert_non_null(sparse[i]);
        memset(sparse[i], (int)(i % 251), SPARSE_SIZE);
    }
}

static int compare_pointers(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a;
    uintptr_t y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

static void sparse_check_and_refill(void)
{
    for (size_t i = 0; i < SPARSE_BLOCKS; i += SPARSE_KEEP) {
        const unsigned char *b = sparse[i];
        for (size_t k = 0; k < SPARSE_SIZE; k++) {
            assert_int_equal(b[k], i % 251);
        }
    }
    for (size_t i = 0; i < SPARSE_BLOCKS; i++) {
        if (i % SPARSE_KEEP != 0) {
            sparse[i] = malloc(SPARSE_SIZE);
            assert_non_null(sparse[i]);
            memset(sparse[i], 1, SPARSE_SIZE);
        }
    }
    qsort(sparse, SPARSE_BLOCKS, sizeof(void *), compare_pointers);
    for (size_t i = 1; i < SPARSE_BLOCKS; i++) {
        assert_true(sparse[i] != sparse[i - 1]);
    }
    for (size_t i = 0; i < SPARSE_BLOCKS; i++) {
        free(sparse[i]);
    }
}

static void sparse_free_most(void)
{
    for (size_t i = 0; i < SPARSE_BLOCKS; i++) {
        if (i % SPARSE_KEEP != 0) {
            free(sparse[i]);
        }
    }
}

static void check_sparse_trim(const char *what, size_t baseline)
{
    size_t before = mx_test_rss_above(baseline);
    int result = malloc_trim(0);
    size_t after = mx_test_rss_above(baseline);
    printf("%-34s before trim %5.1f MiB, after %5.1f MiB; trim returned %d\n", what,
           (double)before / MIB, (double)after / MIB, result);
    assert_true(before >= 60 * MIB);
    assert_int_equal(result, 1);
    assert_true(after <= 24 * MIB);
}

static void test_trim_sparse_pages(void **state)
{
    (void)state;
    malloc_trim(0);
    size_t baseline = mx_test_rss_bytes();
    sparse_fill();
    sparse_free_most();
    check_sparse_trim("sparse pages, own", baseline);
    sparse_check_and_refill();
}

static void *sparse_owner(void *arg)
{
    (void)arg;
    sparse_fill();
    owner_idle_until_released();
    /* Back from idle: the owner allocates from its trimmed pages and frees into them. */
    sparse_check_and_refill();
    return NULL;
}

static void test_trim_sparse_pages_of_idle_owner(void **state)
{
    (void)state;
    malloc_trim(0);
    size_t baseline = mx_test_rss_bytes();
    pthread_t t;
    stage = 0;
    assert_int_equal(pthread_create(&t, NULL, sparse_owner, NULL), 0);
    wait_for_idle_owner();
    sparse_free_most();
    check_sparse_trim("sparse pages, idle owner", baseline);
    release_owner();
    pthread_join(t, NULL);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (getenv("MALLOCX_PURGE_DELAY") == NULL) {
        setenv("MALLOCX_PURGE_DELAY", "3600000", 1);
        setenv("MALLOCX_RETAIN_LIMIT", "1G", 1);
        execv("/proc/self/exe", argv);
        return 127;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trim_own_frees),
        cmocka_unit_test(test_trim_reaches_idle_owner),
        cmocka_unit_test(test_trim_sparse_pages),
        cmocka_unit_test(test_trim_sparse_pages_of_idle_owner),
    };
    sparse = malloc(SPARSE_BLOCKS * sizeof(void *));
    if (sparse == NULL) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
