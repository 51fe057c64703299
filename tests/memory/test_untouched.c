/* malloc does not touch fresh memory: blocks handed out from a page's untouched tail become
 * resident when the program writes them, not when malloc returns them. Carving (writing a
 * free-list link into every new block) made each new OS page a page fault inside malloc, the
 * longest calls of bench/latency. Each case allocates 32 MiB of one size without writing it and
 * expects almost none of it resident; then it writes every block and expects it all resident,
 * which shows the measure sees the memory. MALLOCX_SECURE builds carve on purpose (in shuffled
 * order), so the first half does not apply to them. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#ifndef MX_TEST_SECURE
#define MX_TEST_SECURE 0
#endif

#define MIB ((size_t)1 << 20)
#define WORKING_SET (32 * MIB)
/* Page descriptors and page tables. The test's own array of pointers (as large as the working
 * set for 8-byte blocks) is zeroed before the baseline, so its pages are not counted. */
#define SLACK (6 * MIB)

static void check_untouched(size_t size)
{
    size_t count = WORKING_SET / size;
    char **blocks = malloc(count * sizeof(char *));
    assert_non_null(blocks);
    memset(blocks, 0, count * sizeof(char *));
    /* The previous case's blocks are free but may still be resident: give them back, so that
     * this case's memory starts untouched. */
    malloc_trim(0);
    size_t baseline = mx_test_rss_bytes();
    for (size_t i = 0; i < count; i++) {
        blocks[i] = malloc(size);
        assert_non_null(blocks[i]);
    }
    size_t untouched = mx_test_rss_above(baseline);
    for (size_t i = 0; i < count; i++) {
        memset(blocks[i], 0x5a, size);
    }
    size_t written = mx_test_rss_above(baseline);
    print_message("%5zu-byte blocks: %5.1f MiB resident after malloc, %5.1f MiB after writing\n",
                  size, (double)untouched / MIB, (double)written / MIB);
    for (size_t i = 0; i < count; i++) {
        free(blocks[i]);
    }
    free(blocks);
    if (!MX_TEST_SECURE) {
        assert_true(untouched < SLACK);
    }
    assert_true(written > WORKING_SET - WORKING_SET / 8);
}

static void test_tiny_blocks(void **state)
{
    (void)state;
    check_untouched(8);
}

static void test_small_blocks(void **state)
{
    (void)state;
    check_untouched(48);
    check_untouched(256);
    check_untouched(1024);
}

static void test_medium_blocks(void **state)
{
    (void)state;
    check_untouched(8192);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_blocks),
        cmocka_unit_test(test_small_blocks),
        cmocka_unit_test(test_medium_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
