/* malloc_trim(0) gives back every free page now, and its result says whether anything went
 * back. The test runs with a purge delay of an hour (it re-executes itself with
 * MALLOCX_PURGE_DELAY set), so nothing goes back on a timer, and a high retain limit.
 * Three cases: memory the calling thread freed; memory another thread allocated, which this
 * thread freed while the owner sleeps (only a collection of the idle heap reaches it); and
 * a second trim right after the first, which has nothing left to release and must say so. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
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

static void *owner(void *arg)
{
    size_t *count = arg;
    *count = fill();
    pthread_mutex_lock(&lock);
    stage = 1;
    pthread_cond_broadcast(&cond);
    while (stage != 2) {
        pthread_cond_wait(&cond, &lock);
    }
    pthread_mutex_unlock(&lock);
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
    pthread_mutex_lock(&lock);
    while (stage != 1) {
        pthread_cond_wait(&cond, &lock);
    }
    pthread_mutex_unlock(&lock);
    size_t peak = mx_test_rss_above(baseline);
    mx_test_free_all(blocks, n);
    check_trim("freed by another thread, owner idle", baseline, peak);
    pthread_mutex_lock(&lock);
    stage = 2;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
