/* The malloc-x-specific API (mx_version, mx_owns, mixing mx_ and standard names), glibc's
 * introspection calls (malloc_trim, mallinfo, mallinfo2, mallopt, malloc_stats) and glibc's
 * __libc_ entry points.
 *
 * This program links -lmalloc-x, so the standard names below are malloc-x's. Expectations were
 * measured against plain glibc 2.36 where glibc has the call; the mx_ ones follow
 * include/malloc-x.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "malloc-x.h"
#include "support.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

/* glibc's own entry points; a replacement must provide them too, or code that calls them (some
 * language runtimes do) gets glibc's heap and later hands those pointers to our free. */
extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static int is_aligned(const void *p, size_t alignment)
{
    return ((uintptr_t)p & (alignment - 1)) == 0;
}

/* ---- mx_ API ---- */

static void test_mx_version(void **state)
{
    (void)state;
    char expected[32];
    snprintf(expected, sizeof(expected), "%d.%d.%d", MX_VERSION_MAJOR, MX_VERSION_MINOR,
             MX_VERSION_PATCH);
    assert_string_equal(expected, "0.1.0");
    assert_non_null(mx_version());
    assert_string_equal(mx_version(), expected);
}

static int static_variable;

static void test_mx_owns(void **state)
{
    (void)state;
    int stack_variable = 0;
    unsigned char *p = malloc(10);
    unsigned char *big = malloc(100 * MIB);
    assert_non_null(p);
    assert_non_null(big);
    assert_int_equal(mx_owns(p), 1);
    assert_int_equal(mx_owns(p + 5), 1);
    assert_int_equal(mx_owns(big), 1);
    assert_int_equal(mx_owns(big + 50 * MIB), 1);
    assert_int_equal(mx_owns(NULL), 0);
    assert_int_equal(mx_owns(&stack_variable), 0);
    assert_int_equal(mx_owns(&static_variable), 0);
    assert_int_equal(mx_owns((void *)test_mx_owns), 0);
    /* "Never faults": addresses nobody mapped. */
    assert_int_equal(mx_owns((void *)(uintptr_t)1), 0);
    assert_int_equal(mx_owns((void *)UINTPTR_MAX), 0);
    void *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(map != MAP_FAILED);
    assert_int_equal(mx_owns(map), 0);
    munmap(map, 4096);
    free(p);
    free(big);
}

static void test_mx_free_interop(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 100, 5000, 300000, 8 * MIB};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *a = mx_malloc(sizes[i]);
        unsigned char *b = malloc(sizes[i]);
        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(mx_usable_size(a), malloc_usable_size(a));
        assert_int_equal(mx_usable_size(b), malloc_usable_size(b));
        memset(a, 1, sizes[i]);
        memset(b, 2, sizes[i]);
        free(a);
        mx_free(b);
        a = mx_realloc(malloc(sizes[i]), sizes[i] * 2);
        assert_non_null(a);
        b = realloc(mx_malloc(sizes[i]), sizes[i] * 2);
        assert_non_null(b);
        mx_free(a);
        free(b);
    }
}

/* ---- introspection: malloc_trim, mallinfo, mallopt, malloc_stats ---- */

static void test_malloc_trim(void **state)
{
    (void)state;
    void *p[64];
    for (int i = 0; i < 64; i++) {
        p[i] = malloc(64 * KIB);
        assert_non_null(p[i]);
        memset(p[i], 1, 64 * KIB);
    }
    for (int i = 0; i < 64; i++) {
        free(p[i]);
    }
    int r = malloc_trim(0);
    assert_true(r == 0 || r == 1);
    r = malloc_trim(0);
    assert_true(r == 0 || r == 1);
    r = mx_trim(0);
    assert_true(r == 0 || r == 1);
}

static void test_mallinfo(void **state)
{
    (void)state;
    enum { COUNT = 10 * 1024 };
    void **blocks = malloc(COUNT * sizeof(void *));
    assert_non_null(blocks);
    for (int i = 0; i < COUNT; i++) {
        blocks[i] = malloc(KIB);
        assert_non_null(blocks[i]);
        memset(blocks[i], 1, KIB);
    }
    struct mallinfo2 a = mallinfo2();
/* mallinfo is deprecated for its int fields; it is still part of the API we must serve. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct mallinfo old = mallinfo();
#pragma GCC diagnostic pop
    struct mallinfo2 b = mallinfo2();
    print_message("mallinfo2: arena %zu uordblks %zu fordblks %zu hblkhd %zu\n", a.arena,
                  a.uordblks, a.fordblks, a.hblkhd);
    assert_true(a.uordblks >= 10 * MIB);
    assert_true(a.arena >= a.uordblks);
    /* Nothing allocates between the three calls, so the int view must be the same figures (or
     * at most the larger of the two size_t snapshots), and never garbage. */
#define CHECK_FIELD(f)                                                                            \
    do {                                                                                          \
        if (old.f < 0 || (size_t)old.f > (a.f > b.f ? a.f : b.f)) {                               \
            fail_msg("mallinfo()." #f " = %d but mallinfo2()." #f " = %zu / %zu", old.f, a.f,     \
                     b.f);                                                                        \
        }                                                                                         \
    } while (0)
    CHECK_FIELD(arena);
    CHECK_FIELD(ordblks);
    CHECK_FIELD(smblks);
    CHECK_FIELD(hblks);
    CHECK_FIELD(hblkhd);
    CHECK_FIELD(usmblks);
    CHECK_FIELD(fsmblks);
    CHECK_FIELD(uordblks);
    CHECK_FIELD(fordblks);
    CHECK_FIELD(keepcost);
#undef CHECK_FIELD
    for (int i = 0; i < COUNT; i++) {
        free(blocks[i]);
    }
    free(blocks);
}

static void test_mallopt(void **state)
{
    (void)state;
    assert_int_equal(mallopt(M_ARENA_MAX, 2), 1);
}

/* Runs fn with stderr (fd 2) redirected to an unlinked temporary file; returns the bytes
 * written. */
static long stderr_bytes_of(void (*fn)(void))
{
    char path[] = "/tmp/mx-api-stats-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        return -1;
    }
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long size = (long)lseek(fd, 0, SEEK_END);
    close(fd);
    return size;
}

static void test_malloc_stats(void **state)
{
    (void)state;
    void *p = malloc(1000);
    assert_non_null(p);
    long n = stderr_bytes_of(malloc_stats);
    print_message("malloc_stats wrote %ld bytes\n", n);
    assert_true(n > 0);
    n = stderr_bytes_of(mx_stats_print);
    assert_true(n > 0);
    free(p);
}

/* ---- glibc's __libc_ entry points ---- */

static void test_libc_entry_points(void **state)
{
    (void)state;
    void *p[5] = {
        __libc_malloc(100), __libc_calloc(10, 10), __libc_realloc(NULL, 100),
        __libc_memalign(256, 100), __libc_malloc(300000),
    };
    for (int i = 0; i < 5; i++) {
        assert_non_null(p[i]);
        /* Failing here leaks the block on purpose: handing a glibc pointer to our free would
         * abort the whole program instead of reporting this test. */
        if (mx_owns(p[i]) != 1) {
            fail_msg("__libc_ entry point %d returned %p, not malloc-x memory", i, p[i]);
        }
    }
    assert_true(is_aligned(p[3], 256));
    p[2] = __libc_realloc(p[2], 100000);
    assert_non_null(p[2]);
    assert_int_equal(mx_owns(p[2]), 1);
    __libc_free(p[0]);
    free(p[1]);
    __libc_free(p[2]);
    free(p[3]);
    __libc_free(p[4]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mx_version),
        cmocka_unit_test(test_mx_owns),
        cmocka_unit_test(test_mx_free_interop),
        cmocka_unit_test(test_malloc_trim),
        cmocka_unit_test(test_mallinfo),
        cmocka_unit_test(test_mallopt),
        cmocka_unit_test(test_malloc_stats),
        cmocka_unit_test(test_libc_entry_points),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
