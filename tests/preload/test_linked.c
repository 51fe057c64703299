/* A program linked against malloc-x (-lmalloc-x, or the static libmalloc-x.a) must get
 * malloc-x's malloc everywhere: for its own calls and for the allocations glibc makes inside
 * strdup, getline, open_memstream, asprintf and the like.  mx_owns() tells which blocks are
 * malloc-x's.  The same source is built twice (api_linked against libmalloc-x.so,
 * api_linked_static against libmalloc-x.a). */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "malloc-x.h"
#include "support.h"

/* Keeps the compiler from pairing or eliding malloc/free calls. */
static void *volatile sink;

static int global_object;

static void test_not_vacuous(void **state)
{
    (void)state;
    int local = 0;
    static const char literal[] = "literal";
    assert_int_equal(mx_owns(NULL), 0);
    assert_int_equal(mx_owns(&local), 0);
    assert_int_equal(mx_owns(&global_object), 0);
    assert_int_equal(mx_owns(literal), 0);
    assert_int_equal(mx_owns((void *)test_not_vacuous), 0);
}

static void test_malloc_calloc_realloc(void **state)
{
    (void)state;
    char *p = malloc(24);
    assert_non_null(p);
    assert_int_equal(mx_owns(p), 1);
    memset(p, 'a', 24);

    int *z = calloc(100, sizeof(int));
    assert_non_null(z);
    assert_int_equal(mx_owns(z), 1);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(z[i], 0);
    }

    /* Grow through small, medium and large sizes; contents must move along. */
    size_t sizes[] = {48, 1000, 70000, 3u << 20, 100};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        p = realloc(p, sizes[i]);
        assert_non_null(p);
        assert_int_equal(mx_owns(p), 1);
        for (int j = 0; j < 24; j++) {
            assert_int_equal(p[j], 'a');
        }
    }

    void *big = malloc(8u << 20);
    assert_non_null(big);
    assert_int_equal(mx_owns(big), 1);
    assert_true(malloc_usable_size(big) >= (8u << 20));

    void *al = NULL;
    assert_int_equal(posix_memalign(&al, 256, 1000), 0);
    assert_int_equal(mx_owns(al), 1);
    assert_int_equal((size_t)al % 256, 0);
    void *al2 = aligned_alloc(4096, 8192);
    assert_non_null(al2);
    assert_int_equal(mx_owns(al2), 1);

    /* A block from malloc may be freed with mx_free and vice versa. */
    void *m = mx_malloc(40);
    assert_int_equal(mx_owns(m), 1);
    free(m);
    m = malloc(40);
    mx_free(m);

    free(al2);
    free(al);
    free(big);
    free(z);
    free(p);
}

static void test_many_blocks(void **state)
{
    (void)state;
    enum { N = 5000 };
    static void *blocks[N];
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, 42);
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(mx_test_rng_range(&rng, 1, 2048));
        assert_non_null(blocks[i]);
        assert_int_equal(mx_owns(blocks[i]), 1);
    }
    for (int i = 0; i < N; i++) {
        free(blocks[i]);
    }
}

/* Allocations made inside glibc reach malloc-x. */
static void test_strdup(void **state)
{
    (void)state;
    char *s = strdup("malloc-x owns the blocks that glibc allocates");
    assert_non_null(s);
    assert_int_equal(mx_owns(s), 1);
    assert_string_equal(s, "malloc-x owns the blocks that glibc allocates");
    char *t = strndup(s, 8);
    assert_non_null(t);
    assert_int_equal(mx_owns(t), 1);
    assert_string_equal(t, "malloc-x");
    free(t);
    free(s);
}

static void test_getline(void **state)
{
    (void)state;
    static char text[] = "first line\nsecond, longer line: "
                         "0123456789012345678901234567890123456789012345678901234567890123456789"
                         "0123456789012345678901234567890123456789012345678901234567890123456789\n";
    FILE *f = fmemopen(text, strlen(text), "r");
    assert_non_null(f);

    /* getline allocates the buffer itself... */
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    assert_int_equal(n, 11);
    assert_non_null(line);
    assert_int_equal(mx_owns(line), 1);
    assert_string_equal(line, "first line\n");

    /* ...and grows it with realloc. */
    n = getline(&line, &cap, f);
    assert_true(n > 100);
    assert_int_equal(mx_owns(line), 1);
    free(line);
    fclose(f);

    /* A buffer that the program allocated itself, grown by getline. */
    f = fmemopen(text, strlen(text), "r");
    assert_non_null(f);
    cap = 4;
    line = malloc(cap);
    assert_int_equal(mx_owns(line), 1);
    assert_true(getline(&line, &cap, f) == 11);
    assert_true(getline(&line, &cap, f) > 100);
    assert_int_equal(mx_owns(line), 1);
    free(line);
    fclose(f);
}

static void test_other_libc_allocations(void **state)
{
    (void)state;
    char *a = NULL;
    assert_true(asprintf(&a, "%s-%d", "asprintf", 12345) > 0);
    assert_int_equal(mx_owns(a), 1);
    assert_string_equal(a, "asprintf-12345");
    free(a);

    char *buf = NULL;
    size_t len = 0;
    FILE *ms = open_memstream(&buf, &len);
    assert_non_null(ms);
    for (int i = 0; i < 1000; i++) {
        fprintf(ms, "line %d\n", i);
    }
    fclose(ms);
    assert_non_null(buf);
    assert_int_equal(mx_owns(buf), 1);
    assert_true(len > 5000);
    free(buf);

    char *cwd = getcwd(NULL, 0);
    assert_non_null(cwd);
    assert_int_equal(mx_owns(cwd), 1);
    free(cwd);

    /* The FILE object and its stdio buffer come from malloc too; fclose frees them. */
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    assert_int_equal(mx_owns(f), 1);
    char tmp[64];
    assert_non_null(fgets(tmp, sizeof tmp, f));
    fclose(f);
}

static void test_errno_and_failure(void **state)
{
    (void)state;
    errno = 0;
    sink = malloc((size_t)-1 / 2);
    assert_null(sink);
    assert_int_equal(errno, ENOMEM);
    free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_vacuous),
        cmocka_unit_test(test_malloc_calloc_realloc),
        cmocka_unit_test(test_many_blocks),
        cmocka_unit_test(test_strdup),
        cmocka_unit_test(test_getline),
        cmocka_unit_test(test_other_libc_allocations),
        cmocka_unit_test(test_errno_and_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
