/* Page initialization, carving and collection (see page.h). Everything here runs on the
 * owner's slow path; the only atomic is the exchange that takes the remote-free list. */
#include "page.h"

#include "debug.h"
#include "error.h"
#include "heap.h"
#include "os.h"
#include "remote.h"
#include "segment.h"
#include "size_class.h"
#include "trim.h"

static _Atomic uint64_t page_key_serial;

/* Mixed, so that one page's key does not reveal the secret. Bit 63 is set, so a zeroed link
 * decodes to an address no segment has. The serial makes every claim's key new (the
 * multiplication is a bijection), so the links an earlier page left in the same memory decode
 * to noise under it. */
uintptr_t mxi_page_make_key(const mx_page_t *page)
{
    uint64_t serial = atomic_fetch_add_explicit(&page_key_serial, 1, memory_order_relaxed);
    uintptr_t mixed = (uintptr_t)page ^ mxi_secret ^ (uintptr_t)(serial * 0xc2b2ae3d27d4eb4full);
    return (mixed * 0x9e3779b97f4a7c15ull) | ((uintptr_t)1 << 63);
}

void mxi_page_corrupt(const mx_page_t *page, const void *block)
{
    (void)page;
    mxi_fatal("malloc", "corrupted free list: bad link", block,
              " (heap overflow or use after free?)");
}

void mxi_page_init_small(mx_page_t *page, mx_heap_t *heap, unsigned class_index)
{
    size_t block_size = mxi_size_class_block_size(class_index);
    page->free = NULL;
    page->local_free = NULL;
    page->used = 0;
    mxi_atomic_store_relaxed(&page->capacity, 0);
    page->block_size = block_size;
    page->reserved = (uint32_t)((page->slice_count * MX_SLICE_SIZE - MX_GUARD_SIZE) / block_size);
    page->marked = 0;
    page->class_index = (uint16_t)class_index;
    page->key = mxi_page_make_key(page);
    mx_live_bits_t *bits = mxi_page_live_bits(page);
    page->live_bits_base = mxi_live_bits_base(bits, mxi_segment_of(page));
    mxi_live_bits_reset(bits,
                        (uint8_t *)mxi_segment_of(page) + (size_t)page->slice_index * MX_SLICE_SIZE,
                        (size_t)page->slice_count * MX_SLICE_SIZE);
    page->is_parked = false;
    page->is_populating = false;
    page->is_wake_pending = false;
    mxi_atomic_store_relaxed(&page->trimmed, 0);
    page->trim_used = UINT16_MAX;
    page->next = NULL;
    page->prev = NULL;
    mxi_atomic_store_relaxed(&page->thread_free, 0);
    mxi_atomic_store_release(&page->owner, (uintptr_t)heap);
}

/* MALLOCX_SECURE: the new blocks go on the free list in a random order (a Fisher-Yates shuffle
 * seeded from the page's secret key and its carve position), so neighbouring allocations are
 * not neighbours in memory and an overflow cannot count on what it lands in. */
static mx_block_t *page_extend_shuffled(mx_page_t *page, uint8_t *first, size_t count,
                                        mx_block_t *next)
{
    uint16_t order[MX_EXTEND_SIZE / MX_MIN_BLOCK];
    for (size_t i = 0; i < count; i++) {
        order[i] = (uint16_t)i;
    }
    uint64_t x = page->key ^ ((uint64_t)(uintptr_t)first * 0x9e3779b97f4a7c15ull);
    for (size_t i = count; i > 1; i--) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t j = (size_t)(x % i);
        uint16_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < count; i++) {
        mx_block_t *block = (mx_block_t *)(first + (size_t)order[i] * page->block_size);
        mxi_block_set_next(page, block, next);
        next = block;
    }
    return next;
}

/* Carving 4 KiB of blocks of 1 to 4 KiB writes into a fresh OS page nearly every time: a page
 * fault, a microsecond or more, inside malloc. A populating page carves 64 KiB at once and
 * faults that in with one system call. Every OS page of the chunk holds the start of a block,
 * so nothing is made resident that carving would not have touched, and a workload filling
 * such blocks (bench/phases) took 5 to 7% less time with 32 KiB chunks, and 2% less again
 * with 64 KiB (a run of bench/phases with 1 thread made 7,900 such calls instead of 20,000). */
static void page_populate(const mx_page_t *page, uint8_t *from, size_t size)
{
    uintptr_t os_page = mxi_os_page_size();
    uintptr_t lo = (uintptr_t)from & ~(os_page - 1);
    uintptr_t hi = ((uintptr_t)from + size + os_page - 1) & ~(os_page - 1);
    uintptr_t end = (uintptr_t)mxi_segment_of(page) +
                    ((uintptr_t)page->slice_index + page->slice_count) * MX_SLICE_SIZE -
                    MX_GUARD_SIZE;
    mxi_os_populate((void *)lo, (hi < end ? hi : end) - lo);
}

/* Carves at most MX_EXTEND_SIZE bytes (MX_EXTEND_POPULATE_SIZE on a populating page; at least
 * one block) from the untouched tail, so a page's memory is faulted in only as it is used.
 * Carved blocks are linked from the start, so a free() of a carved-but-never-allocated block
 * is caught as a double free. */
static void page_extend(mx_page_t *page)
{
    size_t chunk = page->is_populating ? MX_EXTEND_POPULATE_SIZE : MX_EXTEND_SIZE;
    size_t count = chunk / page->block_size;
    if (count == 0) {
        count = 1;
    }
    uint32_t capacity = mxi_atomic_load_relaxed(&page->capacity);
    if (count > page->reserved - capacity) {
        count = page->reserved - capacity;
    }
    uint8_t *first = page->start + (size_t)capacity * page->block_size;
    if (page->is_populating) {
        page_populate(page, first, count * page->block_size);
    }
    mx_block_t *next = page->free;
    if (MX_SECURE) {
        next = page_extend_shuffled(page, first, count, next);
    } else {
        for (size_t i = count; i > 0; i--) {
            mx_block_t *block = (mx_block_t *)(first + (i - 1) * page->block_size);
            mxi_block_set_next(page, block, next);
            next = block;
        }
    }
    page->free = next;
    mxi_atomic_store_relaxed(&page->capacity, capacity + (uint32_t)count);
}

/* A lazy page sets the live bits of its fresh blocks ahead, a chunk at a time, so that
 * handing one out is no bit operation: a bts at every fresh block made each malloc of a loop
 * wait for the last one's store to the same bitmap word (bench/sizes sweep, 1 thread: 1.34x
 * the time). A block of the chunk not handed out yet looks live, so a free() of it is not
 * caught: a wild pointer into a page's untouched tail, which the check before the bitmap (a
 * test of the block's link) did not catch either. At least LAZY_MARK_BLOCKS at a time, so that
 * pages of large blocks do not come here for every block. */
#define LAZY_MARK_BLOCKS 16

static void page_mark_fresh(mx_page_t *page)
{
    uint32_t capacity = mxi_atomic_load_relaxed(&page->capacity);
    size_t count = MX_EXTEND_SIZE / page->block_size;
    if (count < LAZY_MARK_BLOCKS) {
        count = LAZY_MARK_BLOCKS;
    }
    if (count > page->reserved - capacity) {
        count = page->reserved - capacity;
    }
    /* A word's bits are gathered in a register and stored once. */
    mx_live_bits_t *bits = mxi_page_live_bits(page);
    size_t bit = mxi_live_bit_of(page->start + (size_t)capacity * page->block_size);
    size_t step = page->block_size / MX_MIN_BLOCK;
    uint64_t gathered = 0;
    for (size_t i = 0; i < count; i++, bit += step) {
        gathered |= (uint64_t)1 << (bit % 64);
        if (i + 1 == count || (bit + step) / 64 != bit / 64) {
            mxi_live_bits_or(bits, bit / 64, gathered);
            gathered = 0;
        }
    }
    page->marked = capacity + (uint32_t)count;
}

/* Remote frees join whichever owner list is empty, so no list is walked; only when both are
 * in use (rare: collection is called when `free` ran out, or to find empty pages) is the shorter
 * of the two walked, bounded by capacity. */
uint32_t mxi_page_collect_remote(mx_page_t *page)
{
    uint32_t count;
    mx_block_t *list = mxi_remote_take(page, &count);
    if (list == NULL) {
        return 0;
    }
    page->used -= count;
    if (page->free == NULL) {
        page->free = list;
    } else if (page->local_free == NULL) {
        page->local_free = list;
    } else {
        mx_block_t *tail = list;
        for (uint32_t n = 1; mxi_block_next(page, tail) != NULL; n++) {
            if (n > count) {
                mxi_page_corrupt(page, tail);
                break;
            }
            tail = mxi_block_next(page, tail);
        }
        mxi_block_set_next(page, tail, page->local_free);
        page->local_free = list;
    }
    return count;
}

/* Owner only: used + |free| + |local_free| + blocks over trimmed units == capacity (remote
 * frees not yet collected are still counted in used), and every link lies on the block grid.
 * A link off the grid is the program's doing (a write after free), not ours, and is reported
 * as malloc would report it. */
static bool page_list_check(const mx_page_t *page, const mx_block_t *list, uint32_t *count)
{
    for (; list != NULL; list = mxi_block_next(page, list)) {
        if (!mxi_page_is_block_start(page, list)) {
            mxi_page_corrupt(page, list);
        }
        if (++*count > mxi_atomic_load_relaxed(&page->capacity)) {
            return false;
        }
    }
    return true;
}

bool mxi_page_check(const mx_page_t *page)
{
    uint32_t count = mxi_page_trimmed_blocks(page);
    uint32_t capacity = mxi_atomic_load_relaxed(&page->capacity);
    return page->kind == MX_PAGE_SMALL && capacity <= page->reserved &&
           page_list_check(page, page->free, &count) &&
           page_list_check(page, page->local_free, &count) && count + page->used == capacity;
}

bool mxi_page_refill(mx_page_t *page)
{
    MX_ASSERT_INTERNAL(page->free == NULL);
    MX_ASSERT_EXPENSIVE(mxi_page_check(page));
    if (page->local_free != NULL) {
        page->free = page->local_free;
        page->local_free = NULL;
        mxi_page_collect_remote(page);
        return true;
    }
    if (mxi_page_collect_remote(page) != 0) {
        return true;
    }
    /* Memory already carved comes back before fresh memory is carved. */
    if (mxi_page_untrim(page)) {
        return true;
    }
    if (mxi_atomic_load_relaxed(&page->capacity) < page->reserved) {
        if (!mxi_page_is_lazy(page)) {
            page_extend(page);
        } else if (mxi_atomic_load_relaxed(&page->capacity) == page->marked) {
            page_mark_fresh(page);
        }
        return true;
    }
    return false;
}
