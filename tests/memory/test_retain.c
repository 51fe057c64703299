/* The retained-memory budget. A child process allocates 128 MiB in blocks of 64 KiB to 1 MiB,
 * touches them, frees them all and reports how much of it is still resident at once. The purge
 * delay is set to an hour, so nothing goes back on a timer: whatever went back did so because
 * the free memory kept for reuse passed the budget. The budget comes from MALLOCX_RETAIN_LIMIT,
 * or by default from the cgroup v2 memory limit (a sixteenth of it), which the test fakes in a
 * private mount namespace (unshare -m, as root) with a tmpfs holding a memory.max file. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "malloc-x.h"
#include "support.h"

#define MIB ((size_t)1 << 20)
#define WORKING_SET (128 * MIB)
/* Resident bytes that are not the budget's: page tables, the segment headers, the test. */
#define SLACK (4 * MIB)

static const char *self_path;

static void child_main(void)
{
    size_t baseline = mx_test_rss_bytes();
    enum { MAX_BLOCKS = 4096 };
    static void *blocks[MAX_BLOCKS];
    size_t n = mx_test_fill_working_set(blocks, MAX_BLOCKS, WORKING_SET, 64 << 10, 1 << 20, 42);
    size_t peak = mx_test_rss_above(baseline);
    mx_test_free_all(blocks, n);
    printf("%zu %zu\n", peak, mx_test_rss_above(baseline));
    exit(0);
}

/* Runs this program's child mode through `sh -c script` with `env` added to the environment;
 * returns its resident bytes after the frees (and the peak in *peak), or SIZE_MAX on failure. */
static size_t run_child(const char *script, const char *const *env, size_t *peak)
{
    const char *argv[] = {"/bin/sh", "-c", script, "sh", self_path, NULL};
    const char *vars[8] = {"MALLOCX_PURGE_DELAY", "3600000", "MALLOCX_RETAIN_LIMIT", NULL};
    size_t n = 4;
    for (; *env != NULL && n + 2 < sizeof(vars) / sizeof(vars[0]); env += 2) {
        vars[n++] = env[0];
        vars[n++] = env[1];
    }
    vars[n] = NULL;
    char buf[128];
    unsigned long long p = 0, after = 0;
    if (!mx_test_run_captured(argv, vars, buf, sizeof(buf)) ||
        sscanf(buf, "%llu %llu", &p, &after) != 2) {
        return SIZE_MAX;
    }
    *peak = (size_t)p;
    return (size_t)after;
}

static size_t run_plain(const char *const *env, size_t *peak)
{
    return run_child("exec \"$1\" child", env, peak);
}

static void report(const char *what, size_t peak, size_t after, size_t bar)
{
    printf("%-40s peak %6.1f MiB, after the frees %6.1f MiB (bar %6.1f MiB)\n", what,
           (double)peak / MIB, (double)after / MIB, (double)bar / MIB);
}

static void test_without_budget_memory_waits_for_the_delay(void **state)
{
    (void)state;
    const char *env[] = {"MALLOCX_RETAIN_LIMIT", "1G", NULL};
    size_t peak = 0;
    size_t after = run_plain(env, &peak);
    report("MALLOCX_RETAIN_LIMIT=1G (control)", peak, after, WORKING_SET / 2);
    assert_true(after != SIZE_MAX);
    assert_true(peak >= WORKING_SET * 9 / 10);
    assert_true(after >= WORKING_SET / 2);
}

static void check_budget(const char *value, size_t budget)
{
    const char *env[] = {"MALLOCX_RETAIN_LIMIT", value, NULL};
    size_t peak = 0;
    size_t after = run_plain(env, &peak);
    char what[64];
    snprintf(what, sizeof(what), "MALLOCX_RETAIN_LIMIT=%s", value);
    report(what, peak, after, budget + SLACK);
    assert_true(after != SIZE_MAX);
    assert_true(peak >= WORKING_SET * 9 / 10);
    assert_true(after <= budget + SLACK);
}

static void test_budget_caps_free_memory(void **state)
{
    (void)state;
    check_budget("8M", 8 * MIB);
    check_budget("32M", 32 * MIB);
}

static void test_zero_budget_keeps_nothing(void **state)
{
    (void)state;
    check_budget("0", 0);
}

/* The memory.max file goes on the cgroup2 root of the fake tree, above the process's own group,
 * whose directory is made empty: the limit of an ancestor binds too. */
static const char cgroup_script[] =
    "group=$(sed -n 's/^0:://p' /proc/self/cgroup); "
    "exec unshare -m sh -c 'mount -t tmpfs none /sys/fs/cgroup || exit 1; "
    "mkdir -p \"/sys/fs/cgroup$1\" && printf 268435456 > /sys/fs/cgroup/memory.max && "
    "exec \"$0\" child' \"$1\" \"$group\"";

static void test_budget_follows_cgroup_limit(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip();
    }
    const char *env[] = {NULL};
    size_t peak = 0;
    size_t after = run_child(cgroup_script, env, &peak);
    report("cgroup memory.max 256 MiB (budget 16 MiB)", peak, after, 16 * MIB + SLACK);
    assert_true(after != SIZE_MAX);
    assert_true(peak >= WORKING_SET * 9 / 10);
    assert_true(after <= 16 * MIB + SLACK);
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        child_main();
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_without_budget_memory_waits_for_the_delay),
        cmocka_unit_test(test_budget_caps_free_memory),
        cmocka_unit_test(test_zero_budget_keeps_nothing),
        cmocka_unit_test(test_budget_follows_cgroup_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
