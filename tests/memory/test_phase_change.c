/* A program that frees most of a working set and goes on to allocate other sizes does not hold
 * both at its peak: when its heap grows into fresh memory, pages of the classes it stopped
 * allocating from give back the units that only free blocks cover (heap.c, trim.h).
 *
 * Phase 1 writes 96 MiB of 256-byte blocks; phase 2 frees all but one block in 128, so every
 * page keeps two live blocks and no page can go back whole; phase 3 writes 96 MiB of 3,000-byte
 * blocks, a class phase 1 never used. Without the trimming, resident memory ends 192 MiB above
 * where it began; with it, phase 1's pages keep an eighth of their memory. MALLOCX_SECURE builds
 * do not trim (trim.h), so there the test only checks the blocks. */
#include <stdlib.h>
#include <string.h>

#include "malloc-x.h"
#include "support.h"

#ifndef MX_TEST_SECURE
#define MX_TEST_SECURE 0
#endif

#define MIB ((size_t)1 << 20)
#define PHASE_BYTES (96 * MIB)
#define OLD_SIZE 256
#define NEW_SIZE 3000
#define KEEP_EVERY 128

/* Phases 1 and 2: write old_count blocks of OLD_SIZE, then free all but one in KEEP_EVERY. */
static void fill_and_thin(char **old_blocks, size_t old_count)
{
    for (size_t i = 0; i < old_count; i++) {
        old_blocks[i] = malloc(OLD_SIZE);
        assert_non_null(old_blocks[i]);
        memset(old_blocks[i], (int)(i % 251), OLD_SIZE);
    }
    for (size_t i = 0; i < old_count; i++) {
        if (i % KEEP_EVERY != 0) {
            free(old_blocks[i]);
            old_blocks[i] = NULL;
        }
    }
}

static void test_freed_classes_give_back_when_the_heap_grows(void **state)
{
    (void)state;
    size_t old_count = PHASE_BYTES / OLD_SIZE;
    size_t new_count = PHASE_BYTES / NEW_SIZE;
    char **old_blocks = malloc(old_count * sizeof(char *));
    char **new_blocks = malloc(new_count * sizeof(char *));
    assert_non_null(old_blocks);
    assert_non_null(new_blocks);
    memset(old_blocks, 0, old_count * sizeof(char *));
    memset(new_blocks, 0, new_count * sizeof(char *));
    /* The pointer arrays are written before the baseline, so only the blocks count. */
    size_t baseline = mx_test_rss_bytes();

    fill_and_thin(old_blocks, old_count);
    for (size_t i = 0; i < new_count; i++) {
        new_blocks[i] = malloc(NEW_SIZE);
        assert_non_null(new_blocks[i]);
        memset(new_blocks[i], (int)(i % 241), NEW_SIZE);
    }
    size_t grown = mx_test_rss_above(baseline);
    print_message("resident after phase 3: %.1f MiB above the start (phases: 2 x %zu MiB)\n",
                  (double)grown / MIB, PHASE_BYTES / MIB);

    /* The survivors kept their contents through the trimming of their pages. */
    for (size_t i = 0; i < old_count; i += KEEP_EVERY) {
        for (size_t j = 0; j < OLD_SIZE; j++) {
            assert_int_equal((unsigned char)old_blocks[i][j], i % 251);
        }
        free(old_blocks[i]);
    }
    for (size_t i = 0; i < new_count; i++) {
        assert_int_equal((unsigned char)new_blocks[i][NEW_SIZE - 1], i % 241);
        free(new_blocks[i]);
    }
    free(old_blocks);
    free(new_blocks);
    if (!MX_TEST_SECURE) {
        assert_true(grown < PHASE_BYTES + PHASE_BYTES / 2);
    }
}

/* The growth trim walks a few pages per claim and goes on from a page it remembers; a page that
 * leaves its queue meanwhile (here: emptied by frees and given back) must hand that place on,
 * not be walked from. This repeats the phases above, and at 47% of phase 3 frees every survivor
 * of phase 1, so the walked class's pages go back between two steps of a walk. In this sequence
 * the walk of phase 1's class is under way from about 46 to 50% of phase 3, and when it runs
 * depends a little on the purge clock: freeing at 47%, the remembered page moved on over
 * released pages (191 to 799 times) in 4 of 5 Release runs and 2 of 4 Debug runs, and not at
 * all in the others. Debug builds check every page the walk visits (heap.c); every build checks
 * the blocks. */
static void test_pages_leave_their_queue_while_the_growth_trim_walks(void **state)
{
    (void)state;
    size_t old_count = PHASE_BYTES / OLD_SIZE;
    size_t new_count = PHASE_BYTES / NEW_SIZE;
    char **old_blocks = calloc(old_count, sizeof(char *));
    char **new_blocks = calloc(new_count, sizeof(char *));
    assert_non_null(old_blocks);
    assert_non_null(new_blocks);
    fill_and_thin(old_blocks, old_count);
    for (size_t i = 0; i < new_count; i++) {
        new_blocks[i] = malloc(NEW_SIZE);
        assert_non_null(new_blocks[i]);
        memset(new_blocks[i], (int)(i % 241), NEW_SIZE);
        if (i == new_count * 47 / 100) {
            for (size_t k = 0; k < old_count; k += KEEP_EVERY) {
                assert_int_equal((unsigned char)old_blocks[k][OLD_SIZE - 1], k % 251);
                free(old_blocks[k]);
            }
        }
    }
    for (size_t i = 0; i < new_count; i++) {
        assert_int_equal((unsigned char)new_blocks[i][0], i % 241);
        assert_int_equal((unsigned char)new_blocks[i][NEW_SIZE - 1], i % 241);
        free(new_blocks[i]);
    }
    free(old_blocks);
    free(new_blocks);
}

int main(void)
{
    /* Only the growth trim gives memory back here: the background thread's collections would
     * make what it finds to do depend on timing. */
    assert_int_equal(mx_option_set(MX_OPTION_BACKGROUND, 0), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_freed_classes_give_back_when_the_heap_grows),
        cmocka_unit_test(test_pages_leave_their_queue_while_the_growth_trim_walks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
