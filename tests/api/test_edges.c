/* Edge cases of the public allocation API, pinned to glibc 2.36's observable behaviour.
 *
 * This program links -lmalloc-x, so malloc, free, calloc, ... below are malloc-x's. Every
 * expectation was first measured against plain glibc 2.36 (Debian 12), the reference semantics;
 * that is why a few odd cases are pinned as they are: memalign(3, 10) succeeds, realloc(p, 0)
 * frees and returns NULL, posix_memalign reports through its return value only.
 *
 * Absurd sizes go through volatile variables: the calls stay real, and -Walloc-size-larger-than
 * cannot see the constant and warn. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "malloc-x.h"
#include "support.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
/* An errno value no allocator path produces, so any write to errno shows. */
#define ERRNO_SENTINEL 12345

/* The calls that must fail and leave their block valid go through these: gcc's -Wuse-after-free
 * assumes a realloc succeeded and would flag the deliberate reuse of the old pointer. */
static void *(*volatile realloc_fn)(void *, size_t) = realloc;
static void *(*volatile mx_realloc_fn)(void *, size_t) = mx_realloc;
static void *(*volatile reallocarray_fn)(void *, size_t, size_t) = reallocarray;
static void *(*volatile mx_reallocarray_fn)(void *, size_t, size_t) = mx_reallocarray;

static const size_t huge_sizes[] = {
    SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4096, PTRDIFF_MAX, (size_t)PTRDIFF_MAX + 1,
};

static int is_aligned(const void *p, size_t alignment)
{
    return ((uintptr_t)p & (alignment - 1)) == 0;
}

/* All `size` bytes equal `byte`; memcmp against itself shifted by one keeps this fast even in
 * the unoptimised Debug build. */
static int all_bytes(const void *p, size_t size, unsigned char byte)
{
    const unsigned char *b = p;
    return size == 0 || (b[0] == byte && memcmp(b, b + 1, size - 1) == 0);
}

/* A failing call must return NULL with errno == want. A non-NULL result is freed so the report
 * is the only side effect. */
static void check_null_errno(void *r, int err, int want, const char *call, size_t n, int line)
{
    if (r != NULL || err != want) {
        print_error("%s with n=%#zx returned %p, errno %d; expected NULL, errno %d\n", call, n, r,
                    err, want);
        free(r);
        _fail(__FILE__, line);
    }
}

#define EXPECT_NULL_ERRNO(call, want, n)                                                          \
    do {                                                                                          \
        errno = 0;                                                                                \
        void *r_ = (call);                                                                        \
        int e_ = errno;                                                                           \
        check_null_errno(r_, e_, (want), #call, (size_t)(n), __LINE__);                           \
    } while (0)

/* posix_memalign reports through its return value; errno is not part of its contract. */
#define EXPECT_PM_RESULT(call, want, n)                                                           \
    do {                                                                                          \
        int rc_ = (call);                                                                         \
        if (rc_ != (want)) {                                                                      \
            print_error("%s with n=%#zx returned %d; expected %d\n", #call, (size_t)(n), rc_,     \
                        (want));                                                                  \
            fail();                                                                               \
        }                                                                                         \
    } while (0)

/* ---- malloc(0) and free(NULL) ---- */

static void test_malloc_zero_unique(void **state)
{
    (void)state;
    enum { COUNT = 64 };
    void *p[COUNT];
    for (int i = 0; i < COUNT; i++) {
        p[i] = (i % 2) ? malloc(0) : mx_malloc(0);
        assert_non_null(p[i]);
        for (int j = 0; j < i; j++) {
            assert_ptr_not_equal(p[i], p[j]);
        }
    }
    for (int i = 0; i < COUNT; i++) {
        free(p[i]);
    }
}

static void test_free_null_noop(void **state)
{
    (void)state;
    errno = ERRNO_SENTINEL;
    free(NULL);
    mx_free(NULL);
    assert_int_equal(errno, ERRNO_SENTINEL);
    void *p = malloc(32);
    assert_non_null(p);
    free(p);
}

/* ---- overflow and absurd sizes ---- */

static void test_calloc_overflow(void **state)
{
    (void)state;
    volatile size_t max = SIZE_MAX;
    volatile size_t half = SIZE_MAX / 2 + 1;
    volatile size_t two = 2;
    volatile size_t four_g = (size_t)1 << 32;
    EXPECT_NULL_ERRNO(calloc(max, two), ENOMEM, max);
    EXPECT_NULL_ERRNO(calloc(two, half), ENOMEM, half);
    EXPECT_NULL_ERRNO(calloc(half, two), ENOMEM, half);
    EXPECT_NULL_ERRNO(calloc(four_g, four_g), ENOMEM, four_g);
    EXPECT_NULL_ERRNO(mx_calloc(max, two), ENOMEM, max);
    EXPECT_NULL_ERRNO(mx_calloc(two, half), ENOMEM, half);
    EXPECT_NULL_ERRNO(mx_calloc(four_g, four_g), ENOMEM, four_g);
}

static void test_reallocarray_overflow(void **state)
{
    (void)state;
    volatile size_t max = SIZE_MAX;
    volatile size_t half = SIZE_MAX / 2 + 1;
    volatile size_t two = 2;
    EXPECT_NULL_ERRNO(reallocarray(NULL, max, two), ENOMEM, max);
    EXPECT_NULL_ERRNO(mx_reallocarray(NULL, max, two), ENOMEM, max);

    /* A failed reallocarray must leave the old block allocated and untouched. */
    unsigned char *p = malloc(100);
    assert_non_null(p);
    mx_test_fill(p, 100, 1);
    EXPECT_NULL_ERRNO(reallocarray_fn(p, two, half), ENOMEM, half);
    EXPECT_NULL_ERRNO(mx_reallocarray_fn(p, max, two), ENOMEM, max);
    assert_true(mx_test_check(p, 100, 1));
    assert_true(malloc_usable_size(p) >= 100);
    free(p);
}

static void test_reallocarray_valid(void **state)
{
    (void)state;
    unsigned char *p = malloc(100);
    assert_non_null(p);
    mx_test_fill(p, 100, 1);
    /* volatile: gcc's -Wuse-after-free counts later arithmetic on the old address as a use. */
    volatile uintptr_t old = (uintptr_t)p;
    unsigned char *q = reallocarray(p, 50, 4);
    assert_non_null(q);
    assert_true(mx_test_check(q, 100, 1 ^ old ^ (uintptr_t)q));
    memset(q, 0, 200);
    free(q);
}

static void test_huge_sizes_fail(void **state)
{
    (void)state;
    unsigned char *p = malloc(64);
    assert_non_null(p);
    mx_test_fill(p, 64, 2);
    for (size_t i = 0; i < sizeof(huge_sizes) / sizeof(huge_sizes[0]); i++) {
        volatile size_t n = huge_sizes[i];
        volatile size_t one = 1;
        void *out = NULL;
        EXPECT_NULL_ERRNO(malloc(n), ENOMEM, n);
        EXPECT_NULL_ERRNO(calloc(one, n), ENOMEM, n);
        EXPECT_NULL_ERRNO(calloc(n, one), ENOMEM, n);
        EXPECT_NULL_ERRNO(realloc(NULL, n), ENOMEM, n);
        EXPECT_NULL_ERRNO(realloc_fn(p, n), ENOMEM, n);
        EXPECT_PM_RESULT(posix_memalign(&out, 64, n), ENOMEM, n);
        EXPECT_NULL_ERRNO(aligned_alloc(64, n), ENOMEM, n);
        EXPECT_NULL_ERRNO(aligned_alloc(4096, n), ENOMEM, n);
        EXPECT_NULL_ERRNO(memalign(64, n), ENOMEM, n);
        EXPECT_NULL_ERRNO(valloc(n), ENOMEM, n);
        EXPECT_NULL_ERRNO(pvalloc(n), ENOMEM, n);

        EXPECT_NULL_ERRNO(mx_malloc(n), ENOMEM, n);
        EXPECT_NULL_ERRNO(mx_calloc(one, n), ENOMEM, n);
        EXPECT_NULL_ERRNO(mx_realloc(NULL, n), ENOMEM, n);
        EXPECT_NULL_ERRNO(mx_realloc_fn(p, n), ENOMEM, n);
        EXPECT_PM_RESULT(mx_posix_memalign(&out, 64, n), ENOMEM, n);
        EXPECT_NULL_ERRNO(mx_aligned_alloc(64, n), ENOMEM, n);
        EXPECT_NULL_ERRNO(mx_memalign(64, n), ENOMEM, n);
        EXPECT_NULL_ERRNO(mx_valloc(n), ENOMEM, n);
        EXPECT_NULL_ERRNO(mx_pvalloc(n), ENOMEM, n);
    }
    /* Every failed realloc left p where it was, with its contents. */
    assert_true(mx_test_check(p, 64, 2));
    assert_true(malloc_usable_size(p) >= 64);
    free(p);
}

/* ---- alignment ---- */

typedef void *(*aligned_fn)(size_t alignment, size_t size);

static void *via_posix_memalign(size_t alignment, size_t size)
{
    void *p = NULL;
    return posix_memalign(&p, alignment, size) == 0 ? p : NULL;
}

static void *via_mx_posix_memalign(size_t alignment, size_t size)
{
    void *p = NULL;
    return mx_posix_memalign(&p, alignment, size) == 0 ? p : NULL;
}

static void *via_aligned_alloc(size_t alignment, size_t size)
{
    return aligned_alloc(alignment, size);
}

static void *via_memalign(size_t alignment, size_t size)
{
    return memalign(alignment, size);
}

static const struct {
    const char *name;
    aligned_fn fn;
    size_t min_alignment; /* posix_memalign rejects alignments below sizeof(void *) */
} aligned_fns[] = {
    {"posix_memalign", via_posix_memalign, sizeof(void *)},
    {"mx_posix_memalign", via_mx_posix_memalign, sizeof(void *)},
    {"aligned_alloc", via_aligned_alloc, 1},
    {"mx_aligned_alloc", mx_aligned_alloc, 1},
    {"memalign", via_memalign, 1},
    {"mx_memalign", mx_memalign, 1},
};

static void test_alignment_matrix(void **state)
{
    (void)state;
    static const size_t sizes[] = {0,    1,    7,     8,      15,      16,       17,      31,
                                   100,  1000, 4096,  4097,   65536,   100000,   1 << 20, 3 << 20};
    for (size_t f = 0; f < sizeof(aligned_fns) / sizeof(aligned_fns[0]); f++) {
        for (size_t alignment = aligned_fns[f].min_alignment; alignment <= MIB; alignment *= 2) {
            for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                size_t size = sizes[s];
                unsigned char *p = aligned_fns[f].fn(alignment, size);
                if (p == NULL || !is_aligned(p, alignment)) {
                    fail_msg("%s(%zu, %zu) returned %p", aligned_fns[f].name, alignment, size,
                             (void *)p);
                }
                memset(p, 0x5a, size);
                size_t usable = malloc_usable_size(p);
                if (usable < size) {
                    free(p);
                    fail_msg("%s(%zu, %zu): usable size %zu", aligned_fns[f].name, alignment,
                             size, usable);
                }
                memset(p, 0xa5, usable);
                free(p);
            }
        }
    }
}

static void test_valloc_pvalloc(void **state)
{
    (void)state;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    static const size_t sizes[] = {0, 1, 100, 4095, 4096, 4097, 100000, 5 << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t size = sizes[i];
        void *v[2] = {valloc(size), mx_valloc(size)};
        /* pvalloc rounds the size itself up to whole pages, as glibc documents. */
        void *pv[2] = {pvalloc(size), mx_pvalloc(size)};
        size_t rounded = (size + page - 1) / page * page;
        for (int k = 0; k < 2; k++) {
            assert_non_null(v[k]);
            assert_true(is_aligned(v[k], page));
            assert_true(malloc_usable_size(v[k]) >= size);
            memset(v[k], 1, malloc_usable_size(v[k]));
            assert_non_null(pv[k]);
            assert_true(is_aligned(pv[k], page));
            assert_true(malloc_usable_size(pv[k]) >= rounded);
            memset(pv[k], 2, malloc_usable_size(pv[k]));
        }
        for (int k = 0; k < 2; k++) {
            free(v[k]);
            free(pv[k]);
        }
    }
}

/* posix_memalign's contract for a failure: return the code, leave errno alone, and leave *out
 * unmodified (glibc) or NULL (the other choice POSIX allows). */
static void expect_pm_einval(int (*pm)(void **, size_t, size_t), size_t alignment)
{
    void *marker = (void *)&marker;
    void *out = marker;
    errno = ERRNO_SENTINEL;
    int rc = pm(&out, alignment, 10);
    int err = errno;
    if (rc == 0) {
        free(out);
    }
    if (rc != EINVAL || err != ERRNO_SENTINEL || (out != marker && out != NULL)) {
        fail_msg("posix_memalign(alignment %zu) returned %d, errno %d, out %p; expected %d, "
                 "errno unchanged, out unchanged",
                 alignment, rc, err, out, EINVAL);
    }
}

static void test_bad_alignments(void **state)
{
    (void)state;
    static const size_t bad[] = {0, 1, 2, 3, 4, 12, 24, 40, 48, 100, 4095, 4097};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_pm_einval(posix_memalign, bad[i]);
        expect_pm_einval(mx_posix_memalign, bad[i]);
    }
    expect_pm_einval(posix_memalign, SIZE_MAX / 2 + 2);
    expect_pm_einval(posix_memalign, SIZE_MAX);

    volatile size_t max = SIZE_MAX;
    void *out = NULL;
    EXPECT_PM_RESULT(posix_memalign(&out, 8, max), ENOMEM, max);
    EXPECT_PM_RESULT(mx_posix_memalign(&out, 8, max), ENOMEM, max);

    /* glibc 2.36 memalign/aligned_alloc round a non-power-of-two alignment up to the next power
     * of two, and treat 0 as "no constraint". */
    static const struct {
        size_t alignment, expect_aligned;
    } rounded[] = {{0, 1}, {3, 4}, {24, 32}, {100, 128}, {3000, 4096}, {65537, 131072}};
    for (size_t i = 0; i < sizeof(rounded) / sizeof(rounded[0]); i++) {
        for (size_t f = 2; f < sizeof(aligned_fns) / sizeof(aligned_fns[0]); f++) {
            errno = 0;
            unsigned char *p = aligned_fns[f].fn(rounded[i].alignment, 10);
            int err = errno;
            if (p == NULL || !is_aligned(p, rounded[i].expect_aligned) || err != 0) {
                fail_msg("%s(%zu, 10) returned %p errno %d; expected success aligned to %zu",
                         aligned_fns[f].name, rounded[i].alignment, (void *)p, err,
                         rounded[i].expect_aligned);
            }
            assert_true(malloc_usable_size(p) >= 10);
            memset(p, 0x11, 10);
            free(p);
        }
    }

    /* Past SIZE_MAX/2+1 no power of two is left to round up to: EINVAL. Exactly SIZE_MAX/2+1 is
     * a valid alignment that cannot be satisfied: ENOMEM. */
    volatile size_t too_big = SIZE_MAX / 2 + 2;
    volatile size_t top_bit = SIZE_MAX / 2 + 1;
    EXPECT_NULL_ERRNO(memalign(too_big, 10), EINVAL, too_big);
    EXPECT_NULL_ERRNO(mx_memalign(too_big, 10), EINVAL, too_big);
    EXPECT_NULL_ERRNO(aligned_alloc(too_big, 10), EINVAL, too_big);
    EXPECT_NULL_ERRNO(mx_aligned_alloc(too_big, 10), EINVAL, too_big);
    EXPECT_NULL_ERRNO(memalign(top_bit, 10), ENOMEM, top_bit);
    EXPECT_NULL_ERRNO(mx_memalign(top_bit, 10), ENOMEM, top_bit);
    EXPECT_NULL_ERRNO(aligned_alloc(top_bit, 10), ENOMEM, top_bit);
    EXPECT_NULL_ERRNO(mx_aligned_alloc(top_bit, 10), ENOMEM, top_bit);
}

/* ---- malloc_usable_size ---- */

/* Allocates `count` blocks of `size`, fills each one's whole usable size with its own byte, then
 * checks every block still holds its byte: an overstated usable size shows as an overlap. */
static void check_usable(size_t size, int count)
{
    unsigned char *p[4];
    size_t usable[4];
    for (int i = 0; i < count; i++) {
        p[i] = malloc(size);
        if (p[i] == NULL) {
            fail_msg("malloc(%zu) failed", size);
        }
        usable[i] = malloc_usable_size(p[i]);
        if (usable[i] < size) {
            fail_msg("malloc_usable_size(malloc(%zu)) = %zu", size, usable[i]);
        }
        memset(p[i], 0x40 + i, usable[i]);
    }
    for (int i = 0; i < count; i++) {
        if (!all_bytes(p[i], usable[i], (unsigned char)(0x40 + i))) {
            fail_msg("blocks of size %zu overlap within their usable sizes", size);
        }
        assert_int_equal(mx_usable_size(p[i]), usable[i]);
    }
    for (int i = 0; i < count; i++) {
        free(p[i]);
    }
}

static void test_usable_size(void **state)
{
    (void)state;
    assert_int_equal(malloc_usable_size(NULL), 0);
    assert_int_equal(mx_usable_size(NULL), 0);
    for (size_t size = 0; size <= 17 * KIB; size++) {
        check_usable(size, 4);
    }
    for (size_t size = 17 * KIB + 1; size <= 64 * MIB; size = size * 3 / 2 + 1) {
        check_usable(size, 2);
    }
    for (size_t size = 8 * KIB; size <= 64 * MIB; size *= 2) {
        check_usable(size - 1, 2);
        check_usable(size, 2);
        check_usable(size + 1, 2);
    }
}

/* Every size up to past the direct tables (small and medium) gets the smallest block that holds
 * it: a size whose predecessor's block would hold it shares that block size. An index into the
 * wrong entry of a direct table shows as a smaller block (check_usable) or a larger one (here).
 * The second pass runs with a live block in every class, so every entry points at a page. */
#define TIGHT_MAX (17 * KIB)
#define TIGHT_CLASSES_MAX 256

static void test_usable_size_is_tight(void **state)
{
    (void)state;
    void *kept[TIGHT_CLASSES_MAX];
    size_t kept_count = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t previous = 0;
        for (size_t size = 1; size <= TIGHT_MAX; size++) {
            void *p = malloc(size);
            assert_non_null(p);
            size_t usable = malloc_usable_size(p);
            if (previous >= size && usable != previous) {
                fail_msg("pass %d: malloc(%zu) has %zu usable bytes, malloc(%zu) %zu", pass, size,
                         usable, size - 1, previous);
            }
            if (pass == 0 && usable != previous && kept_count < TIGHT_CLASSES_MAX) {
                kept[kept_count++] = p;
            } else {
                free(p);
            }
            previous = usable;
        }
    }
    for (size_t i = 0; i < kept_count; i++) {
        free(kept[i]);
    }
}

/* A power of two from 1 KiB to 64 KiB plus a small header (sqlite3 asks for 1,032 and 4,104
 * bytes) gets a block at most a sixteenth over the power of two, not the class 12.5% up. */
static void test_usable_size_power_of_two_plus_header(void **state)
{
    (void)state;
    static const size_t headers[] = {1, 8, 16, 40, 64};
    for (size_t power = KIB; power <= 64 * KIB; power *= 2) {
        for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
            size_t size = power + headers[i];
            void *p = malloc(size);
            assert_non_null(p);
            size_t usable = malloc_usable_size(p);
            free(p);
            if (usable < size || usable > power + power / 16) {
                fail_msg("malloc(%zu) has %zu usable bytes", size, usable);
            }
        }
    }
}

/* ---- realloc ---- */

/* Reallocs *p (holding `old` bytes filled with tag *tag) to `size`, checks the common prefix
 * survived, and refills the whole new block. mx_test_fill mixes the address into the pattern, so
 * after a move the same bytes read back under tag ^ old_address ^ new_address. */
static void realloc_step(unsigned char **p, size_t old, size_t size, uint64_t *tag)
{
    uintptr_t old_addr = (uintptr_t)*p;
    unsigned char *q = realloc(*p, size);
    if (q == NULL) {
        fail_msg("realloc(%zu -> %zu) failed", old, size);
    }
    *p = q;
    size_t keep = old < size ? old : size;
    if (!mx_test_check(q, keep, *tag ^ old_addr ^ (uintptr_t)q)) {
        fail_msg("realloc(%zu -> %zu) lost contents (moved %s)", old, size,
                 old_addr == (uintptr_t)q ? "no" : "yes");
    }
    assert_true(malloc_usable_size(q) >= size);
    *tag += 1;
    mx_test_fill(q, size, *tag);
}

static void test_realloc_keeps_contents(void **state)
{
    (void)state;
    uint64_t tag = 100;
    unsigned char *p = malloc(1);
    assert_non_null(p);
    mx_test_fill(p, 1, tag);
    size_t size = 1;
    /* One byte at a time through every small size class boundary, and back. */
    for (size_t n = 2; n <= 2048; n++) {
        realloc_step(&p, size, n, &tag);
        size = n;
    }
    for (size_t n = 2047; n >= 1; n--) {
        realloc_step(&p, size, n, &tag);
        size = n;
    }
    static const size_t ladder[] = {
        1,        24,       100,      1000,     4096,     8192,      32768,     65536,
        100000,   262144,   MIB - 1,  MIB + 1,  2 * MIB,  4 * MIB,   16 * MIB,  32 * MIB,
        64 * MIB, 100 * MIB, 64 * MIB, 16 * MIB, 2 * MIB, 65536,     4096,      100,
        1,        100 * MIB, 1,
    };
    for (size_t i = 0; i < sizeof(ladder) / sizeof(ladder[0]); i++) {
        realloc_step(&p, size, ladder[i], &tag);
        size = ladder[i];
    }
    free(p);
}

static void test_realloc_null_is_malloc(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 16, 100, 4096, 100000, 2 * MIB, 40 * MIB};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *p = realloc(NULL, sizes[i]);
        unsigned char *q = mx_realloc(NULL, sizes[i]);
        assert_non_null(p);
        assert_non_null(q);
        assert_int_equal(mx_owns(p), 1);
        assert_int_equal(mx_owns(q), 1);
        assert_true(malloc_usable_size(p) >= sizes[i]);
        memset(p, 3, sizes[i]);
        memset(q, 4, sizes[i]);
        free(p);
        free(q);
    }
}

static void test_realloc_zero_frees(void **state)
{
    (void)state;
    /* glibc: realloc(p, 0) with p != NULL frees p and returns NULL, errno untouched. */
    void *p = malloc(100);
    assert_non_null(p);
    errno = ERRNO_SENTINEL;
    assert_null(realloc(p, 0));
    assert_int_equal(errno, ERRNO_SENTINEL);
    p = mx_malloc(100);
    assert_non_null(p);
    assert_null(mx_realloc(p, 0));
    assert_int_equal(errno, ERRNO_SENTINEL);

    /* "Frees" is observable only as absence of growth: 100 MB of written 1000-byte blocks, or
     * 400 MiB of 8 MiB blocks, would show in the resident size if realloc leaked them. */
    size_t rss_before = mx_test_rss_bytes();
    for (int i = 0; i < 100000; i++) {
        p = malloc(1000);
        assert_non_null(p);
        memset(p, 5, 1000);
        assert_null(realloc(p, 0));
    }
    for (int i = 0; i < 50; i++) {
        p = malloc(8 * MIB);
        assert_non_null(p);
        memset(p, 5, 8 * MIB);
        assert_null(realloc(p, 0));
    }
    size_t rss_after = mx_test_rss_bytes();
    size_t growth = rss_after > rss_before ? rss_after - rss_before : 0;
    if (growth >= 48 * MIB) {
        fail_msg("resident size grew by %zu MiB over realloc(p, 0) loops", growth / MIB);
    }
}

static void test_realloc_null_zero(void **state)
{
    (void)state;
    void *a = realloc(NULL, 0);
    void *b = realloc(NULL, 0);
    void *c = mx_realloc(NULL, 0);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_ptr_not_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_ptr_not_equal(b, c);
    free(a);
    free(b);
    free(c);
}

/* ---- calloc ---- */

/* Dirties `count` blocks of `size`, frees them, and checks calloc hands back zeroed memory
 * (most likely the very blocks just dirtied). */
static void check_calloc_after_dirty(size_t size, int count)
{
    void *p[16];
    for (int i = 0; i < count; i++) {
        p[i] = malloc(size);
        assert_non_null(p[i]);
        memset(p[i], 0xaa, malloc_usable_size(p[i]));
    }
    for (int i = 0; i < count; i++) {
        free(p[i]);
    }
    for (int i = 0; i < count; i++) {
        p[i] = (i % 2) ? calloc(1, size) : mx_calloc(size, 1);
        assert_non_null(p[i]);
        if (!all_bytes(p[i], size, 0)) {
            fail_msg("calloc(1, %zu) returned non-zero memory (block %d)", size, i);
        }
        memset(p[i], 0xaa, size);
    }
    for (int i = 0; i < count; i++) {
        free(p[i]);
    }
}

static void test_calloc_zeroed(void **state)
{
    (void)state;
    for (size_t size = 1; size <= 1024; size++) {
        check_calloc_after_dirty(size, 16);
    }
    for (size_t size = 1025; size <= MIB; size = size * 5 / 4 + 3) {
        check_calloc_after_dirty(size, size < 64 * KIB ? 16 : 4);
    }
    check_calloc_after_dirty(MIB, 4);
    for (int round = 0; round < 3; round++) {
        check_calloc_after_dirty(40 * MIB, 2);
    }
}

static void test_calloc_zero_count(void **state)
{
    (void)state;
    void *p[6] = {calloc(0, 100), calloc(100, 0), calloc(0, 0),
                  mx_calloc(0, 100), mx_calloc(100, 0), mx_calloc(0, 0)};
    for (int i = 0; i < 6; i++) {
        assert_non_null(p[i]);
    }
    for (int i = 0; i < 6; i++) {
        free(p[i]);
    }
}

/* ---- errno preservation ---- */

static const size_t errno_sizes[] = {16, 4000, 30000, 2 * MIB, 100 * MIB};
#define ERRNO_SIZE_COUNT (sizeof(errno_sizes) / sizeof(errno_sizes[0]))

static void free_and_check_errno(void *p, const char *what)
{
    errno = ERRNO_SENTINEL;
    free(p);
    if (errno != ERRNO_SENTINEL) {
        fail_msg("free (%s) changed errno to %d", what, errno);
    }
}

static void test_free_keeps_errno(void **state)
{
    (void)state;
    for (size_t i = 0; i < ERRNO_SIZE_COUNT; i++) {
        void *p = malloc(errno_sizes[i]);
        assert_non_null(p);
        memset(p, 1, errno_sizes[i]);
        free_and_check_errno(p, "local");
        p = mx_malloc(errno_sizes[i]);
        assert_non_null(p);
        errno = ERRNO_SENTINEL;
        mx_free(p);
        assert_int_equal(errno, ERRNO_SENTINEL);
    }
    errno = ERRNO_SENTINEL;
    int trimmed = malloc_trim(0);
    assert_true(trimmed == 0 || trimmed == 1);
    assert_int_equal(errno, ERRNO_SENTINEL);
    for (size_t i = 0; i < ERRNO_SIZE_COUNT; i++) {
        void *p = malloc(errno_sizes[i]);
        assert_non_null(p);
        free_and_check_errno(p, "after malloc_trim");
    }
}

/* A thread that owns blocks, stays alive while main frees half of them (remote free to a live
 * owner), then exits so main frees the rest (owner gone). It also frees blocks main allocated,
 * checking its own errno (errno is per thread). */
struct remote_ctx {
    void *mine[2][ERRNO_SIZE_COUNT];
    void *from_main[ERRNO_SIZE_COUNT];
    pthread_barrier_t allocated;
    pthread_barrier_t freed;
    int errno_bad;
};

static void *remote_owner(void *arg)
{
    struct remote_ctx *ctx = arg;
    for (size_t i = 0; i < ERRNO_SIZE_COUNT; i++) {
        for (int k = 0; k < 2; k++) {
            ctx->mine[k][i] = malloc(errno_sizes[i]);
            if (ctx->mine[k][i] != NULL) {
                memset(ctx->mine[k][i], 2, errno_sizes[i]);
            }
        }
    }
    for (size_t i = 0; i < ERRNO_SIZE_COUNT; i++) {
        errno = ERRNO_SENTINEL;
        free(ctx->from_main[i]);
        if (errno != ERRNO_SENTINEL) {
            ctx->errno_bad = errno;
        }
    }
    pthread_barrier_wait(&ctx->allocated);
    pthread_barrier_wait(&ctx->freed);
    return NULL;
}

static void test_remote_free_keeps_errno(void **state)
{
    (void)state;
    struct remote_ctx ctx = {0};
    for (size_t i = 0; i < ERRNO_SIZE_COUNT; i++) {
        ctx.from_main[i] = malloc(errno_sizes[i]);
        assert_non_null(ctx.from_main[i]);
    }
    pthread_barrier_init(&ctx.allocated, NULL, 2);
    pthread_barrier_init(&ctx.freed, NULL, 2);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, remote_owner, &ctx), 0);
    pthread_barrier_wait(&ctx.allocated);
    for (size_t i = 0; i < ERRNO_SIZE_COUNT; i++) {
        assert_non_null(ctx.mine[0][i]);
        free_and_check_errno(ctx.mine[0][i], "remote, owner alive");
    }
    pthread_barrier_wait(&ctx.freed);
    pthread_join(t, NULL);
    for (size_t i = 0; i < ERRNO_SIZE_COUNT; i++) {
        assert_non_null(ctx.mine[1][i]);
        free_and_check_errno(ctx.mine[1][i], "remote, owner exited");
    }
    pthread_barrier_destroy(&ctx.allocated);
    pthread_barrier_destroy(&ctx.freed);
    assert_int_equal(ctx.errno_bad, 0);
}

static void test_success_keeps_errno(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 24, 1000, 4096, 70000, 2 * MIB, 100 * MIB};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        errno = ERRNO_SENTINEL;
        void *a = malloc(n);
        void *b = calloc(1, n);
        void *c = realloc(NULL, n);
        void *d = NULL;
        int rc = posix_memalign(&d, 4096, n);
        void *e = aligned_alloc(64, n);
        void *f = memalign(256, n);
        assert_int_equal(errno, ERRNO_SENTINEL);
        assert_true(a && b && c && d && e && f);
        assert_int_equal(rc, 0);
        c = realloc(c, n * 2 + 1);
        assert_non_null(c);
        c = realloc(c, n / 2 + 1);
        assert_non_null(c);
        assert_int_equal(errno, ERRNO_SENTINEL);
        free(a);
        free(b);
        free(c);
        free(d);
        free(e);
        free(f);
        assert_int_equal(errno, ERRNO_SENTINEL);
    }
}

/* Blocks larger than an OS page are handed out without being written into, so they keep
 * whatever an earlier page on the same memory left there, the key words of its free blocks
 * included. A first free of such a block must not be taken for a double free. The blocks are
 * never written, so the old words stay in place; each round's empty pages go back to their
 * segment and the next round claims the same memory for the same classes. */
static void test_first_free_on_reused_medium_memory(void **state)
{
    (void)state;
    enum { ROUNDS = 4, COUNT = 96 };
    static const size_t sizes[] = {4200, 6000, 9000, 20000};
    void *blocks[COUNT];
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            for (int i = 0; i < COUNT; i++) {
                blocks[i] = malloc(sizes[s]);
                assert_non_null(blocks[i]);
            }
            for (int i = COUNT - 1; i >= 0; i--) {
                free(blocks[i]);
            }
        }
    }
}

/* Requests of up to 8 bytes get 8-byte blocks, 8-byte aligned; every larger request is 16-byte
 * aligned, as glibc's are, and so is an aligned request for 16 of up to 8 bytes. */
static void test_tiny_blocks_and_alignment(void **state)
{
    (void)state;
    enum { COUNT = 64 };
    void *p[COUNT];
    for (size_t size = 0; size <= 8; size++) {
        for (int i = 0; i < COUNT; i++) {
            p[i] = malloc(size);
            assert_non_null(p[i]);
            assert_true(is_aligned(p[i], 8));
            assert_int_equal(malloc_usable_size(p[i]), 8);
            memset(p[i], (int)i, 8);
        }
        for (int i = 0; i < COUNT; i++) {
            for (int j = 0; j < 8; j++) {
                assert_int_equal(((unsigned char *)p[i])[j], i);
            }
            free(p[i]);
        }
        void *a = aligned_alloc(16, size);
        assert_non_null(a);
        assert_true(is_aligned(a, 16));
        free(a);
    }
    for (size_t size = 9; size <= 4 * KIB; size++) {
        void *q = malloc(size);
        assert_non_null(q);
        assert_true(is_aligned(q, 16));
        free(q);
    }
}

/* A live block's link word can hold exactly what a free block's link holds: here a copy of
 * the words a freed neighbour holds (read from freed memory, which only a test should do).
 * free by the owner must still take it for the live block it is, and the page must stay
 * sound. */
static void test_live_block_holding_a_free_link(void **state)
{
    (void)state;
    enum { COUNT = 64 };
    static const size_t sizes[] = {8, 32, 1000, 5000};
    void *live[COUNT];
    void *freed[COUNT];
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (int i = 0; i < COUNT; i++) {
            live[i] = malloc(sizes[s]);
            freed[i] = malloc(sizes[s]);
            assert_non_null(live[i]);
            assert_non_null(freed[i]);
        }
        for (int i = 0; i < COUNT; i++) {
            /* Through a volatile integer: the compiler rightly warns of a freed pointer's use. */
            volatile uintptr_t address = (uintptr_t)freed[i];
            free(freed[i]);
            /* The link is the block's second word, or its only one in 8-byte blocks. */
            memcpy(live[i], (const void *)address, sizes[s] < 16 ? sizes[s] : 16);
        }
        for (int i = 0; i < COUNT; i++) {
            free(live[i]);
        }
        for (int i = 0; i < 2 * COUNT; i++) {
            live[i % COUNT] = malloc(sizes[s]);
            assert_non_null(live[i % COUNT]);
            memset(live[i % COUNT], 0x5a, sizes[s]);
            free(live[i % COUNT]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malloc_zero_unique),
        cmocka_unit_test(test_free_null_noop),
        cmocka_unit_test(test_calloc_overflow),
        cmocka_unit_test(test_reallocarray_overflow),
        cmocka_unit_test(test_reallocarray_valid),
        cmocka_unit_test(test_huge_sizes_fail),
        cmocka_unit_test(test_alignment_matrix),
        cmocka_unit_test(test_valloc_pvalloc),
        cmocka_unit_test(test_bad_alignments),
        cmocka_unit_test(test_usable_size),
        cmocka_unit_test(test_usable_size_is_tight),
        cmocka_unit_test(test_usable_size_power_of_two_plus_header),
        cmocka_unit_test(test_realloc_keeps_contents),
        cmocka_unit_test(test_realloc_null_is_malloc),
        cmocka_unit_test(test_realloc_zero_frees),
        cmocka_unit_test(test_realloc_null_zero),
        cmocka_unit_test(test_calloc_zeroed),
        cmocka_unit_test(test_calloc_zero_count),
        cmocka_unit_test(test_free_keeps_errno),
        cmocka_unit_test(test_remote_free_keeps_errno),
        cmocka_unit_test(test_success_keeps_errno),
        cmocka_unit_test(test_first_free_on_reused_medium_memory),
        cmocka_unit_test(test_tiny_blocks_and_alignment),
        cmocka_unit_test(test_live_block_holding_a_free_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
