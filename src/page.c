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

/* Mixed, so that one page's key does not reveal the secret. Bit 63 is set, so the 0 malloc
 * leaves in a block decodes to an address no segment has and the block never looks free. The
 * serial makes every claim's key new (the multiplication is a bijection), so the links an
 * earlier page left in the same memory decode to noise under it: lazy pages rely on that. */
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
    page->fresh_end = 0;
    page->block_size = block_size;
    page->reserved = (uint32_t)((page->slice_count * MX_SLICE_SIZE - MX_GUARD_SIZE) / block_size);
    page->class_index = (uint16_t)class_index;
    page->key = mxi_page_make_key(page);
    page->link_mask = ~(uintptr_t)mxi_segment_of(page) & ~(uintptr_t)(MX_SEGMENT_SIZE - 1);
    page->link_offset = block_size > sizeof(uintptr_t) ? sizeof(uintptr_t) : 0;
    page->is_parked = false;
    page->is_populating = false;
    page->is_wake_pending = false;
    page->was_dry = false;
    mxi_atomic_store_relaxed(&page->trimmed, 0);
    page->trim_used = UINT16_MAX;
    page->next = NULL;
    page->prev = NULL;
    mxi_atomic_store_relaxed(&page->thread_free, 0);
    mxi_atomic_store_release(&page->owner,
                             (uintptr_t)heap | (page->link_offset == 0 ? MX_OWNER_TINY : 0));
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
    bool is_tiny = (mxi_atomic_load_relaxed(&page->owner) & MX_OWNER_TINY) != 0;
    return page->kind == MX_PAGE_SMALL && capacity <= page->reserved &&
           page->fresh_end <= page->reserved &&
           (mxi_page_is_lazy(page) || page->fresh_end == 0) &&
           (mxi_atomic_load_relaxed(&page->trimmed) == 0 || page->fresh_end <= capacity) &&
           is_tiny == (page->link_offset == 0) &&
           page_list_check(page, page->free, &count) &&
           page_list_check(page, page->local_free, &count) && count + page->used == capacity;
}

/* A lazy page hands out fresh blocks in allowances of MX_FRESH_GRANT_SIZE bytes (at least one
 * block): when one runs out, the slow path first takes blocks freed into the class's other
 * pages (heap.c). With no limit, the page at the head of the queue handed out its whole tail
 * while the owner's frees into the pages behind it piled up there, so that a class whose live
 * blocks fill a page and a half came to have two pages carved to the end: in larson with 1
 * thread, classes of 640 B to 1 KiB had 2.3 to 2.7 times their live blocks carved. */
static void page_grant_fresh(mx_page_t *page)
{
    uint32_t count = (uint32_t)(MX_FRESH_GRANT_SIZE / page->block_size);
    uint32_t capacity = mxi_atomic_load_relaxed(&page->capacity);
    count = count == 0 ? 1 : count;
    page->fresh_end = count < page->reserved - capacity ? capacity + count : page->reserved;
}

/* A lazy page all of whose blocks have come back starts over as a fresh one: it hands its blocks
 * out from the first, in address order, instead of in the order other threads freed them. That
 * order was the one the blocks were used in, so it scattered each new run of allocations over
 * the page, and a program that walks what it allocated in turn missed the cache more: in
 * producer/consumer with 8 threads and batches of 1,000 (a copy that counts, on one core), a
 * batch's blocks lay in 79 to 91 different 4 KiB pages and lie in 53 now (mimalloc: 49 and 50;
 * the wake order in heap.c does its part). The new key makes the old links decode to nothing,
 * as in a page claimed anew. As for a page that went back and was claimed again, the owner's
 * free no longer recognizes a second free of one of the old blocks (another thread's free of
 * one still aborts, until the page hands that block out again). */
static void page_restart_if_empty(mx_page_t *page)
{
    if (page->used != 0 || !mxi_page_is_lazy(page)) {
        return;
    }
    page->free = NULL;
    page->local_free = NULL;
    mxi_atomic_store_relaxed(&page->capacity, 0);
    mxi_atomic_store_relaxed(&page->trimmed, 0);
    page->trim_used = UINT16_MAX;
    page->key = mxi_page_make_key(page);
    page_grant_fresh(page);
}

bool mxi_page_refill_freed(mx_page_t *page)
{
    MX_ASSERT_INTERNAL(page->free == NULL);
    MX_ASSERT_EXPENSIVE(mxi_page_check(page));
    if (page->local_free != NULL) {
        page->free = page->local_free;
        page->local_free = NULL;
        mxi_page_collect_remote(page);
        page_restart_if_empty(page);
        return true;
    }
    if (mxi_page_collect_remote(page) != 0) {
        page_restart_if_empty(page);
        return true;
    }
    /* Memory already carved comes back before fresh memory is carved. */
    return mxi_page_untrim(page);
}

bool mxi_page_refill_fresh(mx_page_t *page)
{
    if (mxi_atomic_load_relaxed(&page->capacity) >= page->reserved) {
        return false;
    }
    if (mxi_page_is_lazy(page)) {
        page_grant_fresh(page);
    } else {
        page_extend(page);
    }
    return true;
}

bool mxi_page_refill(mx_page_t *page)
{
    return mxi_page_refill_freed(page) || mxi_page_refill_fresh(page);
}
