/* Unit tests of malloc-x internals that have exact answers: the size-class table, the segment
 * map, the hand-over of a purge that finds the purge lock taken, a claim that meets a purge in
 * flight, and the allocation-free formatter. Linked against the core objects without the
 * standard-name overrides, so malloc here is glibc's. */
#include "support.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fmt.h"
#include "init.h"
#include "purge.h"
#include "segment.h"
#include "segment_map.h"
#include "size_class.h"

static int setup_classes(void **state)
{
    (void)state;
    mxi_size_class_init();
    return 0;
}

/* Every size maps to a class whose block holds it, the class below would not, and no class
 * wastes more than 12.5% of a block beyond the linear range. */
static void test_size_class_fits_and_is_tight(void **state)
{
    (void)state;
    for (size_t size = 0; size <= MX_MEDIUM_MAX; size++) {
        unsigned c = mxi_size_class_of(size);
        assert_true(c >= 1 && c < MX_CLASS_COUNT);
        size_t block = mxi_size_class_block_size(c);
        assert_true(block >= size);
        assert_true(block >= MX_MIN_BLOCK);
        if (c > 1) {
            assert_true(mxi_size_class_block_size(c - 1) < size);
        }
        if (size > MX_LINEAR_MAX) {
            assert_true((block - size) * 8 <= block);
        }
    }
}

static void test_size_class_table_is_monotonic_and_aligned(void **state)
{
    (void)state;
    for (unsigned c = 1; c < MX_CLASS_COUNT; c++) {
        size_t block = mxi_size_class_block_size(c);
        /* Only the smallest class is less aligned than MX_ALIGNMENT. */
        assert_int_equal(block % (c == 1 ? MX_MIN_BLOCK : MX_ALIGNMENT), 0);
        if (c > 1) {
            size_t prev = mxi_size_class_block_size(c - 1);
            assert_true(block > prev);
            /* Neighbouring classes are at most 12.5% apart past the linear range. */
            if (prev >= MX_LINEAR_MAX) {
                assert_true((block - prev) * 8 <= prev);
            }
        }
        /* A page holds at least eight blocks and is a whole number of slices. */
        size_t page = (size_t)mxi_size_class_page_slices(c) * MX_SLICE_SIZE;
        assert_true(page / block >= 8);
    }
    assert_int_equal(mxi_size_class_block_size(MX_CLASS_COUNT - 1), MX_MEDIUM_MAX);
}

/* A kilobyte plus a size prefix of up to 16 bytes gets the slack class, not the split class. */
static void test_size_class_slack_above_a_kilobyte(void **state)
{
    (void)state;
    for (size_t size = MX_SPLIT_MIN + 1; size <= MX_SLACK_CLASS; size++) {
        assert_int_equal(mxi_size_class_block_size(mxi_size_class_of(size)), MX_SLACK_CLASS);
    }
    assert_int_equal(mxi_size_class_block_size(mxi_size_class_of(MX_SLACK_CLASS + 1)),
                     MX_SPLIT_MIN + MX_SPLIT_MIN / 16);
}

static void test_segment_map_set_and_clear(void **state)
{
    (void)state;
    uintptr_t seg = (uintptr_t)7 << 40;
    assert_false(mxi_segment_map_contains(seg));
    mxi_segment_map_set(seg);
    assert_true(mxi_segment_map_contains(seg));
    assert_true(mxi_segment_map_contains(seg + MX_SEGMENT_SIZE - 1));
    assert_false(mxi_segment_map_contains(seg + MX_SEGMENT_SIZE));
    assert_false(mxi_segment_map_contains(seg - 1));
    mxi_segment_map_clear(seg);
    assert_false(mxi_segment_map_contains(seg));
}

static void test_segment_map_rejects_wild_addresses(void **state)
{
    (void)state;
    /* volatile: with constants GCC's -O0 overflow warning misses the bounds check. */
    static volatile uintptr_t wild[] = {0, (uintptr_t)1 << 47, UINTPTR_MAX,
                                        (uintptr_t)0xffff800000000000ull};
    for (size_t i = 0; i < sizeof(wild) / sizeof(wild[0]); i++) {
        assert_false(mxi_segment_map_contains(wild[i]));
    }
}

/* A thread on its way out asks for a purge without waiting for the one that holds the lock
 * (mxi_segment_purge_request); that one must make the forced pass before it returns, even if
 * it was only a tick with nothing due. */
static void test_purge_request_is_handed_to_the_holder(void **state)
{
    (void)state;
    assert_true(mxi_process_init());
    mx_page_t *page = mxi_segment_claim(4);
    assert_non_null(page);
    mxi_segment_release(page);
    assert_int_equal(mxi_segment_retained_bytes(), 4 * MX_SLICE_SIZE);

    mxi_lock(&mxi_segment_purge_lock);
    mxi_segment_purge_request();
    assert_int_equal(mxi_segment_retained_bytes(), 4 * MX_SLICE_SIZE);
    mxi_unlock(&mxi_segment_purge_lock);

    /* A tick long before the delay is up: alone it would purge nothing. */
    mxi_segment_purge(mxi_now_ms() - 1000, false);
    assert_int_equal(mxi_segment_retained_bytes(), 0);
}

/* madvise, as the core objects linked into this test call it: one call can be held up, as if
 * the thread making it were preempted, until a claim has had time to start waiting. */
static _Atomic(int) madvise_hold_armed;
static _Atomic(int) madvise_holding;
static _Atomic(int) claim_started;

int madvise(void *addr, size_t len, int advice)
{
    int armed = 1;
    if (advice == MADV_DONTNEED &&
        atomic_compare_exchange_strong(&madvise_hold_armed, &armed, 0)) {
        atomic_store(&madvise_holding, 1);
        while (!atomic_load(&claim_started)) {
            sched_yield();
        }
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
        atomic_store(&madvise_holding, 0);
    }
    return (int)syscall(SYS_madvise, addr, len, advice);
}

static void *purge_far_ahead(void *arg)
{
    (void)arg;
    mxi_segment_purge(mxi_now_ms() + 1000 * 1000, false);
    return NULL;
}

/* A purge tick holds the free slices it returns to the OS reserved while its madvise runs
 * with no lock held. A claim that finds no other room must wait for them rather than map a new
 * segment: at an address-space limit, that mapping fails and malloc returned NULL with the
 * memory free. The claim must get the slices of the segment the purge holds. */
static void test_claim_waits_for_a_purge_in_flight(void **state)
{
    (void)state;
    assert_true(mxi_process_init());
    mxi_segment_purge(mxi_now_ms(), true);
    assert_int_equal(mxi_segment_page_bytes(), 0);
    const uint32_t all = (uint32_t)(MX_SLICE_COUNT - MX_SEGMENT_HEADER_SLICES);
    mx_page_t *page = mxi_segment_claim(all);
    assert_non_null(page);
    mx_segment_t *seg = mxi_segment_of(page->start);
    /* The segment stays in use by one slice; the rest is free and due for the purge. */
    assert_true(mxi_segment_resize_large(page, 1));

    atomic_store(&madvise_hold_armed, 1);
    pthread_t purger;
    assert_int_equal(pthread_create(&purger, NULL, purge_far_ahead, NULL), 0);
    while (!atomic_load(&madvise_holding)) {
        sched_yield();
    }
    atomic_store(&claim_started, 1);
    mx_page_t *rest = mxi_segment_claim(all - 1);
    assert_int_equal(pthread_join(purger, NULL), 0);
    assert_non_null(rest);
    assert_ptr_equal(mxi_segment_of(rest->start), seg);
    assert_true(rest->is_zero);

    mxi_segment_release(rest);
    mxi_segment_release(page);
    mxi_segment_purge(mxi_now_ms(), true);
    assert_int_equal(mxi_segment_page_bytes(), 0);
}

static void test_fmt_formats_and_truncates(void **state)
{
    (void)state;
    char buf[64];
    mx_fmt_t f;
    mxi_fmt_init(&f, buf, sizeof(buf));
    mxi_fmt_str(&f, "n=");
    mxi_fmt_u64(&f, 0);
    mxi_fmt_str(&f, ",");
    mxi_fmt_u64(&f, 18446744073709551615ull);
    mxi_fmt_str(&f, ",");
    mxi_fmt_ptr(&f, (void *)0xdeadbeef0ull);
    mxi_fmt_str(&f, ",");
    mxi_fmt_ptr(&f, NULL);
    mxi_fmt_str(&f, ",");
    mxi_fmt_u64_padded(&f, 42, 5);
    assert_int_equal(f.len, strlen("n=0,18446744073709551615,0xdeadbeef0,(nil),   42"));
    assert_memory_equal(buf, "n=0,18446744073709551615,0xdeadbeef0,(nil),   42", f.len);

    char small[4];
    mxi_fmt_init(&f, small, sizeof(small));
    mxi_fmt_str(&f, "abcdefgh");
    assert_int_equal(f.len, 8);
    assert_memory_equal(small, "abcd", 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_size_class_fits_and_is_tight, setup_classes),
        cmocka_unit_test_setup(test_size_class_table_is_monotonic_and_aligned, setup_classes),
        cmocka_unit_test_setup(test_size_class_slack_above_a_kilobyte, setup_classes),
        cmocka_unit_test(test_segment_map_set_and_clear),
        cmocka_unit_test(test_segment_map_rejects_wild_addresses),
        cmocka_unit_test(test_purge_request_is_handed_to_the_holder),
        cmocka_unit_test(test_claim_waits_for_a_purge_in_flight),
        cmocka_unit_test(test_fmt_formats_and_truncates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
