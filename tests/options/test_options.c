/* Run-time options: the environment variables, the MALLOCX_PROFILE presets, glibc's malloc
 * settings, the warning for a bad value, and mx_option_get/mx_option_set.
 *
 * Options are read once, when the allocator initializes, so each environment case runs this
 * program again as a child with exactly the variables under test (nothing inherited) and reads
 * back what the child's mx_option_get reports on stdout and what the library wrote to stderr.
 * The child leaves with _exit, so MALLOCX_SHOW_STATS cannot add its report unless a case asks
 * for a normal exit. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "malloc-x.h"
#include "support.h"

#define OPTION_COUNT 5
#define MIB (1LL << 20)

/* What a child run reports. */
typedef struct child_run {
    long long value[OPTION_COUNT]; /* mx_option_get of each option, in enum order */
    char err[4096];                /* everything the child wrote to stderr */
} child_run_t;

/* ---- child side ---- */

static void child_print_options(void)
{
    char line[256];
    int n = snprintf(line, sizeof(line), "%lld %lld %lld %lld %lld\n",
                     mx_option_get(MX_OPTION_PURGE_DELAY), mx_option_get(MX_OPTION_RETAIN_LIMIT),
                     mx_option_get(MX_OPTION_BACKGROUND), mx_option_get(MX_OPTION_SHOW_STATS),
                     mx_option_get(MX_OPTION_VERBOSE));
    if (write(1, line, (size_t)n) != n) {
        _exit(3);
    }
}

/* Modes: "print" reports and leaves with _exit; "print-exit" reports and returns from main,
 * so destructors run; "set-first" calls mx_option_set before anything else could allocate;
 * "set-show-stats" turns statistics on at run time and exits normally. */
static int child_main(const char *mode)
{
    if (strcmp(mode, "set-first") == 0) {
        if (mx_option_set(MX_OPTION_PURGE_DELAY, 77) != 0) {
            _exit(4);
        }
    } else if (strcmp(mode, "set-show-stats") == 0) {
        if (mx_option_set(MX_OPTION_SHOW_STATS, 1) != 0) {
            _exit(4);
        }
    }
    child_print_options();
    if (strcmp(mode, "print") == 0 || strcmp(mode, "set-first") == 0) {
        _exit(0);
    }
    return 0;
}

/* ---- parent side ---- */

static long read_all(int fd, char *buf, size_t cap)
{
    lseek(fd, 0, SEEK_SET);
    return (long)mx_test_read_fd(fd, buf, cap);
}

/* Runs this program in `mode` with exactly the variables in env (NULL-terminated) and fills
 * *run; fails the test if the child does not exit with status 0. */
static void run_child_mode(const char *mode, const char *const *env, child_run_t *run)
{
    int out = memfd_create("child-stdout", 0);
    int err = memfd_create("child-stderr", 0);
    assert_true(out >= 0 && err >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out, 1);
        dup2(err, 2);
        char *argv[] = {"test_options", "--child", (char *)mode, NULL};
        execve("/proc/self/exe", argv, (char *const *)env);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    char text[256];
    read_all(out, text, sizeof(text));
    read_all(err, run->err, sizeof(run->err));
    close(out);
    close(err);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fail_msg("child exited with status 0x%x; stderr: %s", status, run->err);
    }
    int fields = sscanf(text, "%lld %lld %lld %lld %lld", &run->value[0], &run->value[1],
                        &run->value[2], &run->value[3], &run->value[4]);
    if (fields != OPTION_COUNT) {
        fail_msg("child printed '%s'", text);
    }
}

static void run_child(const char *const *env, child_run_t *run)
{
    run_child_mode("print", env, run);
}

/* Fails unless the child reported exactly these five values. */
static void expect_values(const child_run_t *run, long long purge_delay, long long retain_limit,
                          long long background, long long show_stats, long long verbose)
{
    assert_int_equal(run->value[MX_OPTION_PURGE_DELAY], purge_delay);
    assert_int_equal(run->value[MX_OPTION_RETAIN_LIMIT], retain_limit);
    assert_int_equal(run->value[MX_OPTION_BACKGROUND], background);
    assert_int_equal(run->value[MX_OPTION_SHOW_STATS], show_stats);
    assert_int_equal(run->value[MX_OPTION_VERBOSE], verbose);
}

/* The child with one variable set: its option must read back as `expected`, silently. */
static void expect_setting(const char *assignment, mx_option_t option, long long expected)
{
    const char *env[] = {assignment, NULL};
    child_run_t run;
    run_child(env, &run);
    if (run.value[option] != expected || run.err[0] != '\0') {
        fail_msg("%s: got %lld (expected %lld), stderr '%s'", assignment, run.value[option],
                 expected, run.err);
    }
}

/* The child with one bad variable: exactly the warning line, and the option at `kept`. */
static void expect_warning(const char *assignment, mx_option_t option, long long kept,
                           const char *line)
{
    const char *env[] = {assignment, NULL};
    child_run_t run;
    run_child(env, &run);
    assert_string_equal(run.err, line);
    assert_int_equal(run.value[option], kept);
}

static void test_defaults(void **state)
{
    (void)state;
    const char *env[] = {NULL};
    child_run_t run;
    run_child(env, &run);
    expect_values(&run, 10, -1, -1, 0, 0);
    assert_string_equal(run.err, "");
}

static void test_valid_settings(void **state)
{
    (void)state;
    expect_setting("MALLOCX_PURGE_DELAY=0", MX_OPTION_PURGE_DELAY, 0);
    expect_setting("MALLOCX_PURGE_DELAY=250", MX_OPTION_PURGE_DELAY, 250);
    expect_setting("MALLOCX_PURGE_DELAY=3600000", MX_OPTION_PURGE_DELAY, 3600000);
    expect_setting("MALLOCX_PURGE_DELAY=007", MX_OPTION_PURGE_DELAY, 7);
    expect_setting("MALLOCX_RETAIN_LIMIT=0", MX_OPTION_RETAIN_LIMIT, 0);
    expect_setting("MALLOCX_RETAIN_LIMIT=12345", MX_OPTION_RETAIN_LIMIT, 12345);
    expect_setting("MALLOCX_RETAIN_LIMIT=auto", MX_OPTION_RETAIN_LIMIT, -1);
    expect_setting("MALLOCX_RETAIN_LIMIT=9223372036854775807", MX_OPTION_RETAIN_LIMIT,
                   9223372036854775807LL);
    expect_setting("MALLOCX_BACKGROUND=1", MX_OPTION_BACKGROUND, 1);
    expect_setting("MALLOCX_BACKGROUND=0", MX_OPTION_BACKGROUND, 0);
    expect_setting("MALLOCX_BACKGROUND=auto", MX_OPTION_BACKGROUND, -1);
    expect_setting("MALLOCX_SHOW_STATS=1", MX_OPTION_SHOW_STATS, 1);
    expect_setting("MALLOCX_SHOW_STATS=0", MX_OPTION_SHOW_STATS, 0);
    /* An empty variable is unset. */
    expect_setting("MALLOCX_PURGE_DELAY=", MX_OPTION_PURGE_DELAY, 10);
    expect_setting("MALLOCX_PROFILE=", MX_OPTION_PURGE_DELAY, 10);
}

static void test_size_suffixes(void **state)
{
    (void)state;
    expect_setting("MALLOCX_RETAIN_LIMIT=64K", MX_OPTION_RETAIN_LIMIT, 64 << 10);
    expect_setting("MALLOCX_RETAIN_LIMIT=3k", MX_OPTION_RETAIN_LIMIT, 3 << 10);
    expect_setting("MALLOCX_RETAIN_LIMIT=64M", MX_OPTION_RETAIN_LIMIT, 64 * MIB);
    expect_setting("MALLOCX_RETAIN_LIMIT=5m", MX_OPTION_RETAIN_LIMIT, 5 * MIB);
    expect_setting("MALLOCX_RETAIN_LIMIT=2G", MX_OPTION_RETAIN_LIMIT, 2048 * MIB);
    expect_setting("MALLOCX_RETAIN_LIMIT=1g", MX_OPTION_RETAIN_LIMIT, 1024 * MIB);
    expect_setting("MALLOCX_RETAIN_LIMIT=0M", MX_OPTION_RETAIN_LIMIT, 0);
    /* The largest count of GiB that fits in 63 bits. */
    expect_setting("MALLOCX_RETAIN_LIMIT=8589934591G", MX_OPTION_RETAIN_LIMIT, 8589934591LL << 30);
}

static void test_verbose_prints_options(void **state)
{
    (void)state;
    const char *env[] = {"MALLOCX_VERBOSE=1", NULL};
    child_run_t run;
    run_child(env, &run);
    expect_values(&run, 10, -1, -1, 0, 1);
    assert_string_equal(run.err, "malloc-x: MALLOCX_PURGE_DELAY=10 MALLOCX_RETAIN_LIMIT=auto "
                                 "MALLOCX_BACKGROUND=auto MALLOCX_SHOW_STATS=0 "
                                 "MALLOCX_VERBOSE=1\n");

    const char *env_memory[] = {"MALLOCX_PROFILE=memory", "MALLOCX_VERBOSE=1", NULL};
    run_child(env_memory, &run);
    assert_string_equal(run.err, "malloc-x: MALLOCX_PURGE_DELAY=1 MALLOCX_RETAIN_LIMIT=8M "
                                 "MALLOCX_BACKGROUND=auto MALLOCX_SHOW_STATS=0 "
                                 "MALLOCX_VERBOSE=1\n");
}

static void test_profiles(void **state)
{
    (void)state;
    child_run_t run;
    const char *throughput[] = {"MALLOCX_PROFILE=throughput", NULL};
    run_child(throughput, &run);
    expect_values(&run, 100, -1, -1, 0, 0);
    assert_string_equal(run.err, "");

    const char *memory[] = {"MALLOCX_PROFILE=memory", NULL};
    run_child(memory, &run);
    expect_values(&run, 1, 8 * MIB, -1, 0, 0);
    assert_string_equal(run.err, "");

    const char *latency[] = {"MALLOCX_PROFILE=latency", NULL};
    run_child(latency, &run);
    expect_values(&run, 10, -1, 1, 0, 0);
    assert_string_equal(run.err, "");
}

/* Explicit variables win over the preset, whatever their order in the environment. */
static void test_variable_overrides_profile(void **state)
{
    (void)state;
    child_run_t run;
    const char *memory[] = {"MALLOCX_PURGE_DELAY=50", "MALLOCX_PROFILE=memory",
                            "MALLOCX_RETAIN_LIMIT=auto", NULL};
    run_child(memory, &run);
    expect_values(&run, 50, -1, -1, 0, 0);
    assert_string_equal(run.err, "");

    const char *latency[] = {"MALLOCX_PROFILE=latency", "MALLOCX_BACKGROUND=0",
                             "MALLOCX_SHOW_STATS=1", NULL};
    run_child(latency, &run);
    expect_values(&run, 10, -1, 0, 1, 0);
    assert_string_equal(run.err, "");
}

static void test_bad_values(void **state)
{
    (void)state;
    expect_warning("MALLOCX_PURGE_DELAY=abc", MX_OPTION_PURGE_DELAY, 10,
                   "malloc-x: ignoring MALLOCX_PURGE_DELAY=abc (expected milliseconds "
                   "0..3600000); using 10\n");
    expect_warning("MALLOCX_PURGE_DELAY=99999999999999999999999", MX_OPTION_PURGE_DELAY, 10,
                   "malloc-x: ignoring MALLOCX_PURGE_DELAY=99999999999999999999999 (expected "
                   "milliseconds 0..3600000); using 10\n");
    expect_warning("MALLOCX_PURGE_DELAY=-5", MX_OPTION_PURGE_DELAY, 10,
                   "malloc-x: ignoring MALLOCX_PURGE_DELAY=-5 (expected milliseconds "
                   "0..3600000); using 10\n");
    expect_warning("MALLOCX_PURGE_DELAY=3600001", MX_OPTION_PURGE_DELAY, 10,
                   "malloc-x: ignoring MALLOCX_PURGE_DELAY=3600001 (expected milliseconds "
                   "0..3600000); using 10\n");
    expect_warning("MALLOCX_PURGE_DELAY=10ms", MX_OPTION_PURGE_DELAY, 10,
                   "malloc-x: ignoring MALLOCX_PURGE_DELAY=10ms (expected milliseconds "
                   "0..3600000); using 10\n");
    expect_warning("MALLOCX_PURGE_DELAY= 10", MX_OPTION_PURGE_DELAY, 10,
                   "malloc-x: ignoring MALLOCX_PURGE_DELAY= 10 (expected milliseconds "
                   "0..3600000); using 10\n");
    expect_warning("MALLOCX_RETAIN_LIMIT=lots", MX_OPTION_RETAIN_LIMIT, -1,
                   "malloc-x: ignoring MALLOCX_RETAIN_LIMIT=lots (expected bytes with an "
                   "optional K, M or G suffix, or auto); using auto\n");
    expect_warning("MALLOCX_RETAIN_LIMIT=-1", MX_OPTION_RETAIN_LIMIT, -1,
                   "malloc-x: ignoring MALLOCX_RETAIN_LIMIT=-1 (expected bytes with an "
                   "optional K, M or G suffix, or auto); using auto\n");
    expect_warning("MALLOCX_RETAIN_LIMIT=64T", MX_OPTION_RETAIN_LIMIT, -1,
                   "malloc-x: ignoring MALLOCX_RETAIN_LIMIT=64T (expected bytes with an "
                   "optional K, M or G suffix, or auto); using auto\n");
    expect_warning("MALLOCX_RETAIN_LIMIT=64MB", MX_OPTION_RETAIN_LIMIT, -1,
                   "malloc-x: ignoring MALLOCX_RETAIN_LIMIT=64MB (expected bytes with an "
                   "optional K, M or G suffix, or auto); using auto\n");
    expect_warning("MALLOCX_RETAIN_LIMIT=9223372036854775808", MX_OPTION_RETAIN_LIMIT, -1,
                   "malloc-x: ignoring MALLOCX_RETAIN_LIMIT=9223372036854775808 (expected "
                   "bytes with an optional K, M or G suffix, or auto); using auto\n");
    /* The number fits; the number times the suffix does not. */
    expect_warning("MALLOCX_RETAIN_LIMIT=8589934592G", MX_OPTION_RETAIN_LIMIT, -1,
                   "malloc-x: ignoring MALLOCX_RETAIN_LIMIT=8589934592G (expected bytes with an "
                   "optional K, M or G suffix, or auto); using auto\n");
    expect_warning("MALLOCX_BACKGROUND=2", MX_OPTION_BACKGROUND, -1,
                   "malloc-x: ignoring MALLOCX_BACKGROUND=2 (expected 0, 1 or auto); "
                   "using auto\n");
    expect_warning("MALLOCX_SHOW_STATS=yes", MX_OPTION_SHOW_STATS, 0,
                   "malloc-x: ignoring MALLOCX_SHOW_STATS=yes (expected 0 or 1); using 0\n");
    expect_warning("MALLOCX_VERBOSE=true", MX_OPTION_VERBOSE, 0,
                   "malloc-x: ignoring MALLOCX_VERBOSE=true (expected 0 or 1); using 0\n");
    expect_warning("MALLOCX_PROFILE=fast", MX_OPTION_PURGE_DELAY, 10,
                   "malloc-x: ignoring MALLOCX_PROFILE=fast (expected throughput, memory or "
                   "latency); using no profile\n");
    expect_warning("MALLOCX_PROFILE=Memory", MX_OPTION_RETAIN_LIMIT, -1,
                   "malloc-x: ignoring MALLOCX_PROFILE=Memory (expected throughput, memory or "
                   "latency); using no profile\n");
}

/* A bad value falls back to what the preset chose; a long or multi-line value still makes one
 * bounded line; two bad values make two lines. */
static void test_bad_values_edges(void **state)
{
    (void)state;
    child_run_t run;
    const char *under_profile[] = {"MALLOCX_PROFILE=memory", "MALLOCX_PURGE_DELAY=x", NULL};
    run_child(under_profile, &run);
    expect_values(&run, 1, 8 * MIB, -1, 0, 0);
    assert_string_equal(run.err, "malloc-x: ignoring MALLOCX_PURGE_DELAY=x (expected "
                                 "milliseconds 0..3600000); using 1\n");

    const char *long_value[] = {"MALLOCX_PURGE_DELAY=1\n2345678901234567890123456789012345678901"
                                "234567890123456789012345678901234567890",
                                NULL};
    run_child(long_value, &run);
    assert_int_equal(run.value[MX_OPTION_PURGE_DELAY], 10);
    assert_string_equal(run.err,
                        "malloc-x: ignoring MALLOCX_PURGE_DELAY=1?234567890123456789012345678901"
                        "23456789012345678901234567890123... (expected milliseconds "
                        "0..3600000); using 10\n");

    const char *two[] = {"MALLOCX_BACKGROUND=on", "MALLOCX_PURGE_DELAY=soon", NULL};
    run_child(two, &run);
    expect_values(&run, 10, -1, -1, 0, 0);
    assert_string_equal(run.err, "malloc-x: ignoring MALLOCX_PURGE_DELAY=soon (expected "
                                 "milliseconds 0..3600000); using 10\n"
                                 "malloc-x: ignoring MALLOCX_BACKGROUND=on (expected 0, 1 or "
                                 "auto); using auto\n");
}

static void test_glibc_trim_threshold(void **state)
{
    (void)state;
    expect_setting("GLIBC_TUNABLES=glibc.malloc.trim_threshold=1048576", MX_OPTION_RETAIN_LIMIT,
                   MIB);
    expect_setting("GLIBC_TUNABLES=glibc.malloc.trim_threshold=1048576:glibc.malloc.arena_max=2",
                   MX_OPTION_RETAIN_LIMIT, MIB);
    expect_setting("GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2:glibc.malloc.trim_threshold=0x200000",
                   MX_OPTION_RETAIN_LIMIT, 2 * MIB);
    /* strtoul's base 0, as glibc reads tunables: a leading 0 is octal. */
    expect_setting("GLIBC_TUNABLES=glibc.malloc.trim_threshold=010", MX_OPTION_RETAIN_LIMIT, 8);
    expect_setting("MALLOC_TRIM_THRESHOLD_=131072", MX_OPTION_RETAIN_LIMIT, 131072);
    /* "Never trim" stays "keep everything". */
    expect_setting("MALLOC_TRIM_THRESHOLD_=18446744073709551615", MX_OPTION_RETAIN_LIMIT,
                   9223372036854775807LL);
    /* glibc ignores a value it cannot read, and so does malloc-x, without a word. */
    expect_setting("GLIBC_TUNABLES=glibc.malloc.trim_threshold=lots", MX_OPTION_RETAIN_LIMIT, -1);
    expect_setting("MALLOC_TRIM_THRESHOLD_=-1", MX_OPTION_RETAIN_LIMIT, -1);

    child_run_t run;
    const char *both[] = {"GLIBC_TUNABLES=glibc.malloc.trim_threshold=4096",
                          "MALLOC_TRIM_THRESHOLD_=8192", NULL};
    run_child(both, &run);
    assert_int_equal(run.value[MX_OPTION_RETAIN_LIMIT], 4096);
    assert_string_equal(run.err, "");

    const char *explicit[] = {"GLIBC_TUNABLES=glibc.malloc.trim_threshold=4096",
                              "MALLOCX_RETAIN_LIMIT=1M", NULL};
    run_child(explicit, &run);
    assert_int_equal(run.value[MX_OPTION_RETAIN_LIMIT], MIB);
    assert_string_equal(run.err, "");

    const char *profile[] = {"MALLOC_TRIM_THRESHOLD_=4096", "MALLOCX_PROFILE=memory", NULL};
    run_child(profile, &run);
    assert_int_equal(run.value[MX_OPTION_RETAIN_LIMIT], 8 * MIB);

    /* A preset that leaves the retain limit alone leaves glibc's value. */
    const char *throughput[] = {"MALLOC_TRIM_THRESHOLD_=4096", "MALLOCX_PROFILE=throughput", NULL};
    run_child(throughput, &run);
    expect_values(&run, 100, 4096, -1, 0, 0);
}

/* glibc settings without a meaning here change nothing and print nothing. */
static void test_glibc_ignored_silently(void **state)
{
    (void)state;
    const char *env[] = {"MALLOC_ARENA_MAX=2",
                         "MALLOC_ARENA_TEST=1",
                         "MALLOC_MMAP_THRESHOLD_=65536",
                         "MALLOC_MMAP_MAX_=0",
                         "MALLOC_TOP_PAD_=1048576",
                         "MALLOC_PERTURB_=165",
                         "MALLOC_CHECK_=3",
                         "GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.arena_test=1:"
                         "glibc.malloc.mmap_threshold=65536:glibc.malloc.mmap_max=0:"
                         "glibc.malloc.top_pad=0:glibc.malloc.tcache_count=0:"
                         "glibc.malloc.tcache_max=0:glibc.malloc.tcache_unsorted_limit=0:"
                         "glibc.malloc.perturb=165:glibc.malloc.check=3:glibc.malloc.mxfast=0:"
                         "glibc.malloc.hugetlb=1:glibc.malloc.bogus=x:glibc.elision.enable=1:"
                         "glibc.pthread.rseq=0:junk::=",
                         NULL};
    child_run_t run;
    run_child(env, &run);
    expect_values(&run, 10, -1, -1, 0, 0);
    assert_string_equal(run.err, "");
}

/* A value set before the first allocation is not overwritten by the environment afterwards. */
static void test_set_before_first_allocation(void **state)
{
    (void)state;
    const char *env[] = {"MALLOCX_PURGE_DELAY=5", NULL};
    child_run_t run;
    run_child_mode("set-first", env, &run);
    assert_int_equal(run.value[MX_OPTION_PURGE_DELAY], 77);
    assert_string_equal(run.err, "");
}

/* Statistics at exit follow the option, whether it came from the environment or was set at
 * run time. */
static void test_show_stats_at_exit(void **state)
{
    (void)state;
    const char *none[] = {NULL};
    const char *on[] = {"MALLOCX_SHOW_STATS=1", NULL};
    const char *stats = "malloc-x " MX_VERSION_STRING ": ";
    child_run_t run;
    run_child_mode("print-exit", none, &run);
    assert_string_equal(run.err, "");
    run_child_mode("print-exit", on, &run);
    assert_int_equal(strncmp(run.err, stats, strlen(stats)), 0);
    run_child_mode("set-show-stats", none, &run);
    assert_int_equal(run.value[MX_OPTION_SHOW_STATS], 1);
    assert_int_equal(strncmp(run.err, stats, strlen(stats)), 0);
}

static void test_set_get_round_trip(void **state)
{
    (void)state;
    long long saved[OPTION_COUNT];
    for (int i = 0; i < OPTION_COUNT; i++) {
        saved[i] = mx_option_get((mx_option_t)i);
    }
    static const struct {
        mx_option_t option;
        long long value;
    } good[] = {
        {MX_OPTION_PURGE_DELAY, 0},
        {MX_OPTION_PURGE_DELAY, 3600000},
        {MX_OPTION_PURGE_DELAY, 42},
        {MX_OPTION_RETAIN_LIMIT, 0},
        {MX_OPTION_RETAIN_LIMIT, -1},
        {MX_OPTION_RETAIN_LIMIT, 9223372036854775807LL},
        {MX_OPTION_RETAIN_LIMIT, 3 * MIB},
        {MX_OPTION_BACKGROUND, 1},
        {MX_OPTION_BACKGROUND, -1},
        {MX_OPTION_BACKGROUND, 0},
        {MX_OPTION_SHOW_STATS, 1},
        {MX_OPTION_SHOW_STATS, 0},
        {MX_OPTION_VERBOSE, 1},
        {MX_OPTION_VERBOSE, 0},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(mx_option_set(good[i].option, good[i].value), 0);
        assert_int_equal(mx_option_get(good[i].option), good[i].value);
    }

    static const struct {
        mx_option_t option;
        long long value;
    } bad[] = {
        {MX_OPTION_PURGE_DELAY, -1},  {MX_OPTION_PURGE_DELAY, 3600001},
        {MX_OPTION_RETAIN_LIMIT, -2}, {MX_OPTION_RETAIN_LIMIT, -9223372036854775807LL - 1},
        {MX_OPTION_BACKGROUND, 2},    {MX_OPTION_BACKGROUND, -2},
        {MX_OPTION_SHOW_STATS, 2},    {MX_OPTION_VERBOSE, 100},
        {(mx_option_t)5, 0},          {(mx_option_t)-1, 0},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long long before =
            (unsigned)bad[i].option < OPTION_COUNT ? mx_option_get(bad[i].option) : 0;
        assert_int_equal(mx_option_set(bad[i].option, bad[i].value), EINVAL);
        if ((unsigned)bad[i].option < OPTION_COUNT) {
            assert_int_equal(mx_option_get(bad[i].option), before);
        }
    }

    errno = 0;
    assert_int_equal(mx_option_get((mx_option_t)5), -1);
    assert_int_equal(errno, EINVAL);
    errno = 1234;
    assert_int_equal(mx_option_get(MX_OPTION_PURGE_DELAY), 42);
    assert_int_equal(errno, 1234);
    assert_int_equal(mx_option_set(MX_OPTION_PURGE_DELAY, 43), 0);
    assert_int_equal(errno, 1234);

    /* Allocation goes on normally under changed options. */
    assert_int_equal(mx_option_set(MX_OPTION_PURGE_DELAY, 0), 0);
    assert_int_equal(mx_option_set(MX_OPTION_RETAIN_LIMIT, 0), 0);
    for (int round = 0; round < 100; round++) {
        void *p = malloc(100000);
        assert_non_null(p);
        memset(p, round, 100000);
        free(p);
    }

    for (int i = 0; i < OPTION_COUNT; i++) {
        assert_int_equal(mx_option_set((mx_option_t)i, saved[i]), 0);
    }
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--child") == 0) {
        return child_main(argv[2]);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_valid_settings),
        cmocka_unit_test(test_size_suffixes),
        cmocka_unit_test(test_verbose_prints_options),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_variable_overrides_profile),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_bad_values_edges),
        cmocka_unit_test(test_glibc_trim_threshold),
        cmocka_unit_test(test_glibc_ignored_silently),
        cmocka_unit_test(test_set_before_first_allocation),
        cmocka_unit_test(test_show_stats_at_exit),
        cmocka_unit_test(test_set_get_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
