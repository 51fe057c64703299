/* The background thread. With MALLOCX_BACKGROUND=1 a child process allocates 128 MiB, frees it
 * all and then sleeps without calling the allocator: its resident size must fall to within
 * 4 MiB of where it started within two seconds, with exactly one extra thread in the process.
 * With `auto`, the default, the same happens once the process has grown past 32 MiB of pages,
 * and a child that stays below that has no thread at all. With 0 the same child keeps the
 * memory the whole time (nobody purges: the retain limit is set high so no budget interferes)
 * and has no thread besides its own. A fork child of a process with the thread gets a thread
 * of its own on its first allocation slow path (with `auto`, once it has grown itself), and
 * both processes exit cleanly. The thread
 * keeps the purge delay: nothing goes back before it. It trims the pages an idle thread keeps
 * a few live blocks in, which without it stay resident. And once everything is given back, it
 * wakes rarely instead of once per purge delay. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "malloc-x.h"
#include "support.h"

#define MIB ((size_t)1 << 20)
#define WORKING_SET (128 * MIB)
#define DEADLINE_MS 2000

static const char *self_path;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* /proc/self/task has one entry per thread, plus "." and "..". */
static long thread_count(void)
{
    struct stat st;
    return stat("/proc/self/task", &st) == 0 ? (long)st.st_nlink - 2 : -1;
}

/* Prints "<peak> <lowest resident while asleep> <ms until it fell under `bar` or -1>
 * <threads> <wakeups of other threads in the last second>". Only nanosleep and /proc reads:
 * no allocator call. */
static void report_while_asleep(size_t baseline, size_t peak, size_t bar)
{
    int64_t start = now_ms();
    int64_t fell = -1;
    size_t lowest = peak;
    long wakeups_before = -1;
    while (now_ms() - start < DEADLINE_MS) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
        size_t rss = mx_test_rss_above(baseline);
        lowest = rss < lowest ? rss : lowest;
        if (fell < 0 && rss < bar) {
            fell = now_ms() - start;
        }
        if (wakeups_before < 0 && now_ms() - start >= DEADLINE_MS - 1000) {
            wakeups_before = mx_test_other_threads_wakeups();
        }
    }
    long wakeups = mx_test_other_threads_wakeups() - wakeups_before;
    printf("%zu %zu %lld %ld %ld\n", peak, lowest, (long long)fell, thread_count(), wakeups);
}

/* Allocates `bytes` in blocks of 1 KiB to `hi`, frees them all and reports while asleep. */
static void fill_free_and_sleep(size_t bytes, size_t hi, uint64_t seed)
{
    size_t baseline = mx_test_rss_bytes();
    enum { MAX_BLOCKS = 4096 };
    static void *blocks[MAX_BLOCKS];
    size_t n = mx_test_fill_working_set(blocks, MAX_BLOCKS, bytes, 1 << 10, hi, seed);
    size_t peak = mx_test_rss_above(baseline);
    mx_test_free_all(blocks, n);
    report_while_asleep(baseline, peak, 4 * MIB);
}

static void child_work(void)
{
    fill_free_and_sleep(WORKING_SET, 256 << 10, 99);
}

/* A program that never reaches 32 MiB of pages. */
#define SMALL_SET (8 * MIB)

static void child_small(void)
{
    fill_free_and_sleep(SMALL_SET, 64 << 10, 98);
}

/* Pages that keep every 64th block of 256 bytes: three OS pages in four hold only free blocks,
 * and only trimming the pages in use (src/trim.h) gives them back, after the thread has been
 * idle for a while. */
#define SPARSE_SIZE 256
#define SPARSE_KEEP 64
#define SPARSE_BLOCKS (64 * MIB / SPARSE_SIZE)
#define SPARSE_BAR (24 * MIB)

static void child_sparse(void)
{
    static void *blocks[SPARSE_BLOCKS];
    size_t baseline = mx_test_rss_bytes();
    for (size_t i = 0; i < SPARSE_BLOCKS; i++) {
        blocks[i] = malloc(SPARSE_SIZE);
        if (blocks[i] == NULL) {
            exit(3);
        }
        memset(blocks[i], 1, SPARSE_SIZE);
    }
    size_t peak = mx_test_rss_above(baseline);
    for (size_t i = 0; i < SPARSE_BLOCKS; i++) {
        if (i % SPARSE_KEEP != 0) {
            free(blocks[i]);
        }
    }
    report_while_asleep(baseline, peak, SPARSE_BAR);
}

static void child_fork(void)
{
    /* A slow-path allocation in the parent first, so the parent is surely set up. */
    free(malloc(1 << 20));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        free(malloc(1 << 20));
        child_work();
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    exit(WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 4);
}

/* Blocks SIGUSR1 once the background thread runs and sends it to the process: it must stay
 * pending for sigtimedwait here, not reach the background thread, where its default action
 * would end the process. */
static void child_signal(void)
{
    free(malloc(1 << 20));
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, NULL);
    kill(getpid(), SIGUSR1);
    struct timespec timeout = {1, 0};
    int got = sigtimedwait(&usr1, NULL, &timeout);
    printf("%s %ld\n", got == SIGUSR1 ? "taken" : "lost", thread_count());
}

typedef struct {
    size_t peak, lowest;
    long long fell_ms;
    long threads;
    long wakeups;
} result_t;

/* `background`: the value of MALLOCX_BACKGROUND, or NULL for the default. */
static bool run_child_delay(const char *mode, const char *background, const char *delay,
                            result_t *r)
{
    const char *argv[] = {self_path, mode, NULL};
    const char *env[] = {"MALLOCX_PURGE_DELAY", delay, "MALLOCX_RETAIN_LIMIT", "1G",
                         "MALLOCX_BACKGROUND", background, NULL};
    char buf[256];
    unsigned long long peak, lowest;
    if (!mx_test_run_captured(argv, env, buf, sizeof(buf)) ||
        sscanf(buf, "%llu %llu %lld %ld %ld", &peak, &lowest, &r->fell_ms, &r->threads,
               &r->wakeups) != 5) {
        return false;
    }
    r->peak = (size_t)peak;
    r->lowest = (size_t)lowest;
    printf("%s, background %s, delay %3s ms: peak %6.1f MiB, lowest while asleep %6.1f MiB, "
           "under the bar after %lld ms, %ld thread(s), %ld wakeup(s) in the last second\n",
           mode, background != NULL ? background : "unset", delay, (double)r->peak / MIB,
           (double)r->lowest / MIB, r->fell_ms, r->threads, r->wakeups);
    return true;
}

static bool run_child(const char *mode, const char *background, result_t *r)
{
    return run_child_delay(mode, background, "10", r);
}

static void test_background_purges_while_program_sleeps(void **state)
{
    (void)state;
    result_t r;
    assert_true(run_child("work", "1", &r));
    assert_true(r.peak >= WORKING_SET * 9 / 10);
    assert_true(r.fell_ms >= 0);
    assert_int_equal(r.threads, 2);
}

static void test_without_background_no_thread_and_no_purge(void **state)
{
    (void)state;
    result_t r;
    assert_true(run_child("work", "0", &r));
    assert_true(r.peak >= WORKING_SET * 9 / 10);
    assert_true(r.lowest >= WORKING_SET / 2);
    assert_int_equal(r.threads, 1);
}

static void test_background_after_fork(void **state)
{
    (void)state;
    result_t r;
    assert_true(run_child("fork", "1", &r));
    assert_true(r.fell_ms >= 0);
    assert_int_equal(r.threads, 2);
}

/* The purge delay is a promise both ways: free memory stays resident for reuse during it, and
 * goes back after it. With a 300 ms delay, the memory is still resident 200 ms after the frees
 * and gone within two seconds. */
static void test_background_keeps_the_purge_delay(void **state)
{
    (void)state;
    result_t r;
    assert_true(run_child_delay("work", "1", "300", &r));
    assert_true(r.peak >= WORKING_SET * 9 / 10);
    assert_true(r.fell_ms >= 200);
    assert_true(r.fell_ms < DEADLINE_MS);
}

static void test_background_trims_pages_of_idle_thread(void **state)
{
    (void)state;
    result_t r;
    assert_true(run_child("sparse", "1", &r));
    assert_true(r.peak >= 60 * MIB);
    assert_true(r.fell_ms >= 0);
    assert_int_equal(r.threads, 2);
}

/* The default starts the thread once the process has grown, and it then does what
 * MALLOCX_BACKGROUND=1 does; a program that stays small never gets one. */
static void test_auto_starts_once_grown(void **state)
{
    (void)state;
    result_t r;
    assert_true(run_child("work", NULL, &r));
    assert_true(r.peak >= WORKING_SET * 9 / 10);
    assert_true(r.fell_ms >= 0);
    assert_int_equal(r.threads, 2);
}

/* A fork child under `auto` counts its growth from the fork: this one grows by 128 MiB. */
static void test_auto_fork_child_that_grows(void **state)
{
    (void)state;
    result_t r;
    assert_true(run_child("fork", NULL, &r));
    assert_true(r.fell_ms >= 0);
    assert_int_equal(r.threads, 2);
}

static void test_auto_small_program_has_no_thread(void **state)
{
    (void)state;
    result_t r;
    assert_true(run_child("small", NULL, &r));
    assert_int_equal(r.threads, 1);
    assert_int_equal(r.wakeups, 0);
}

/* A thread woken every purge delay would wake about 100 times a second here; with nothing left
 * to do, its sleeps double up to a second. */
static void test_background_sleeps_longer_when_nothing_is_left(void **state)
{
    (void)state;
    result_t r;
    assert_true(run_child("work", "1", &r));
    assert_int_equal(r.threads, 2);
    assert_true(r.wakeups >= 0);
    assert_true(r.wakeups <= 10);
}

static void test_background_thread_takes_no_signals(void **state)
{
    (void)state;
    const char *argv[] = {self_path, "signal", NULL};
    const char *env[] = {"MALLOCX_BACKGROUND", "1", NULL};
    char buf[64];
    assert_true(mx_test_run_captured(argv, env, buf, sizeof(buf)));
    assert_string_equal(buf, "taken 2\n");
}

static void test_without_background_pages_stay(void **state)
{
    (void)state;
    result_t r;
    assert_true(run_child("sparse", "0", &r));
    assert_true(r.peak >= 60 * MIB);
    assert_true(r.lowest >= 48 * MIB);
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc > 1 && strcmp(argv[1], "work") == 0) {
        child_work();
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "signal") == 0) {
        child_signal();
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "small") == 0) {
        child_small();
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "sparse") == 0) {
        child_sparse();
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "fork") == 0) {
        child_fork();
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_background_purges_while_program_sleeps),
        cmocka_unit_test(test_without_background_no_thread_and_no_purge),
        cmocka_unit_test(test_background_after_fork),
        cmocka_unit_test(test_background_keeps_the_purge_delay),
        cmocka_unit_test(test_background_trims_pages_of_idle_thread),
        cmocka_unit_test(test_without_background_pages_stay),
        cmocka_unit_test(test_auto_starts_once_grown),
        cmocka_unit_test(test_auto_fork_child_that_grows),
        cmocka_unit_test(test_auto_small_program_has_no_thread),
        cmocka_unit_test(test_background_sleeps_longer_when_nothing_is_left),
        cmocka_unit_test(test_background_thread_takes_no_signals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
