/* The background thread. With MALLOCX_BACKGROUND=1 a child process allocates 128 MiB, frees it
 * all and then sleeps without calling the allocator: its resident size must fall to within
 * 4 MiB of where it started within two seconds, with exactly one extra thread in the process.
 * Without the option the same child keeps the memory the whole time (nobody purges: the
 * retain limit is set high so no budget interferes) and has no thread besides its own. A fork
 * child of a process with the thread gets a thread of its own on its first allocation slow
 * path, and both processes exit cleanly. The thread keeps the purge delay: nothing goes
 * back before it. And it trims the pages an idle thread keeps a few live blocks in, which
 * without it stay resident. And a signal sent to the process never reaches it. */
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
 * <threads>". Only nanosleep and /proc reads: no allocator call. */
static void report_while_asleep(size_t baseline, size_t peak, size_t bar)
{
    int64_t start = now_ms();
    int64_t fell = -1;
    size_t lowest = peak;
    while (now_ms() - start < DEADLINE_MS) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
        size_t rss = mx_test_rss_above(baseline);
        lowest = rss < lowest ? rss : lowest;
        if (fell < 0 && rss < bar) {
            fell = now_ms() - start;
        }
    }
    printf("%zu %zu %lld %ld\n", peak, lowest, (long long)fell, thread_count());
}

static void child_work(void)
{
    size_t baseline = mx_test_rss_bytes();
    enum { MAX_BLOCKS = 4096 };
    static void *blocks[MAX_BLOCKS];
    size_t n = mx_test_fill_working_set(blocks, MAX_BLOCKS, WORKING_SET, 1 << 10, 256 << 10, 99);
    size_t peak = mx_test_rss_above(baseline);
    mx_test_free_all(blocks, n);
    report_while_asleep(baseline, peak, 4 * MIB);
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
} result_t;

static bool run_child_delay(const char *mode, bool background, const char *delay, result_t *r)
{
    const char *argv[] = {self_path, mode, NULL};
    const char *env[] = {"MALLOCX_PURGE_DELAY", delay, "MALLOCX_RETAIN_LIMIT", "1G",
                         "MALLOCX_BACKGROUND", background ? "1" : NULL, NULL};
    char buf[256];
    unsigned long long peak, lowest;
    if (!mx_test_run_captured(argv, env, buf, sizeof(buf)) ||
        sscanf(buf, "%llu %llu %lld %ld", &peak, &lowest, &r->fell_ms, &r->threads) != 4) {
        return false;
    }
    r->peak = (size_t)peak;
    r->lowest = (size_t)lowest;
    printf("%s, %s, delay %3s ms: peak %6.1f MiB, lowest while asleep %6.1f MiB, under the bar "
           "after %lld ms, %ld thread(s)\n",
           mode, background ? "background" : "no background", delay, (double)r->peak / MIB,
           (double)r->lowest / MIB, r->fell_ms, r->threads);
    return true;
}

static bool run_child(const char *mode, bool background, result_t *r)
{
    return run_child_delay(mode, background, "10", r);
}

static void test_background_purges_while_program_sleeps(void **state)
{
    (void)state;
    result_t r;
    assert_true(run_child("work", true, &r));
    assert_true(r.peak >= WORKING_SET * 9 / 10);
    assert_true(r.fell_ms >= 0);
    assert_int_equal(r.threads, 2);
}

static void test_without_background_no_thread_and_no_purge(void **state)
{
    (void)state;
    result_t r;
    assert_true(run_child("work", false, &r));
    assert_true(r.peak >= WORKING_SET * 9 / 10);
    assert_true(r.lowest >= WORKING_SET / 2);
    assert_int_equal(r.threads, 1);
}

static void test_background_after_fork(void **state)
{
    (void)state;
    result_t r;
    assert_true(run_child("fork", true, &r));
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
    assert_true(run_child_delay("work", true, "300", &r));
    assert_true(r.peak >= WORKING_SET * 9 / 10);
    assert_true(r.fell_ms >= 200);
    assert_true(r.fell_ms < DEADLINE_MS);
}

static void test_background_trims_pages_of_idle_thread(void **state)
{
    (void)state;
    result_t r;
    assert_true(run_child("sparse", true, &r));
    assert_true(r.peak >= 60 * MIB);
    assert_true(r.fell_ms >= 0);
    assert_int_equal(r.threads, 2);
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
    assert_true(run_child("sparse", false, &r));
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
        cmocka_unit_test(test_background_thread_takes_no_signals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
