/* Trimming the free blocks of pages in use (see trim.h). The owner (or a collector holding it
 * out) is the only writer of a page's lists and of `trimmed`; other threads read `trimmed`
 * when they free into the page. A live block never overlaps a trimmed unit: a unit is trimmed
 * only when every block over it is free, and its blocks come back onto a free list (untrim)
 * before any of them can be handed out again. */
#include "trim.h"

#include <string.h>

#include "atomic.h"
#include "debug.h"
#include "os.h"
#include "page.h"
#include "purge.h"

#define TRIM_UNITS 32

/* Blocks per page at most: the smallest class in one slice. Larger pages have larger blocks. */
#define TRIM_MAX_BLOCKS (MX_SLICE_SIZE / MX_MIN_BLOCK)
static_assert(TRIM_MAX_BLOCKS < UINT16_MAX, "trim_used holds any count of blocks in use");

static size_t trim_unit_size(const mx_page_t *page)
{
    size_t span = (size_t)page->slice_count * MX_SLICE_SIZE;
    size_t unit = mxi_os_page_size();
    while (unit * TRIM_UNITS < span) {
        unit *= 2;
    }
    return unit;
}

static size_t trim_block_index(const mx_page_t *page, const mx_block_t *block)
{
    return (size_t)((const uint8_t *)block - page->start) / page->block_size;
}

/* The units block `index` overlaps, as a mask. */
static uint32_t trim_units_of(const mx_page_t *page, size_t unit, size_t index)
{
    size_t lo = index * page->block_size / unit;
    size_t hi = ((index + 1) * page->block_size - 1) / unit;
    return (uint32_t)(((uint64_t)2 << hi) - ((uint64_t)1 << lo));
}

bool mxi_page_block_is_trimmed(const mx_page_t *page, const mx_block_t *block)
{
    uint32_t trimmed = mxi_atomic_load_relaxed(&page->trimmed);
    if (trimmed == 0) {
        return false;
    }
    size_t index = trim_block_index(page, block);
    return (trim_units_of(page, trim_unit_size(page), index) & trimmed) != 0;
}

uint32_t mxi_page_trimmed_blocks(const mx_page_t *page)
{
    uint32_t trimmed = mxi_atomic_load_relaxed(&page->trimmed);
    uint32_t count = 0;
    if (trimmed != 0) {
        size_t unit = trim_unit_size(page);
        uint32_t capacity = mxi_atomic_load_relaxed(&page->capacity);
        for (size_t i = 0; i < capacity; i++) {
            count += (trim_units_of(page, unit, i) & trimmed) != 0;
        }
    }
    return count;
}

static void trim_set_flag(mx_page_t *page, bool on)
{
    uintptr_t owner = mxi_atomic_load_relaxed(&page->owner);
    owner = on ? owner | MX_OWNER_TRIMMED : owner & ~MX_OWNER_TRIMMED;
    mxi_atomic_store_relaxed(&page->owner, owner);
}

/* Marks the blocks of one list in `map`; a link off the block grid, or a list longer than the
 * page, is a write after free, reported as malloc would report it. */
static void trim_mark_list(const mx_page_t *page, const mx_block_t *list, uint64_t *map)
{
    uint32_t capacity = mxi_atomic_load_relaxed(&page->capacity);
    for (uint32_t n = 0; list != NULL; n++) {
        if (n >= capacity || !mxi_page_is_block_start(page, list)) {
            mxi_page_corrupt(page, list);
        }
        size_t index = trim_block_index(page, list);
        map[index / 64] |= (uint64_t)1 << (index % 64);
        list = mxi_block_next(page, list);
    }
}

static void trim_purge_units(mx_page_t *page, size_t unit, uint32_t units)
{
    while (units != 0) {
        unsigned first = (unsigned)__builtin_ctz(units);
        unsigned end = first;
        while (end < TRIM_UNITS && ((units >> end) & 1)) {
            end++;
        }
        size_t bytes = (size_t)(end - first) * unit;
        mxi_os_purge(page->start + (size_t)first * unit, bytes);
        mxi_atomic_fetch_add_relaxed(&mxi_purge_counters.purge_calls, 1);
        mxi_atomic_fetch_add_relaxed(&mxi_purge_counters.purged_bytes, bytes);
        units &= ~(uint32_t)(((uint64_t)1 << end) - ((uint64_t)1 << first));
    }
}

size_t mxi_page_trim(mx_page_t *page, unsigned max_used)
{
    if (MX_SECURE || page->kind != MX_PAGE_SMALL) {
        return 0;
    }
    mxi_page_collect_remote(page);
    /* A page with as many blocks in use as when a trim last looked at it has, as a rule,
     * nothing new to give, and collections look at every page again and again: skipping it
     * costs no walk of its lists. */
    bool selective = max_used < MX_TRIM_ALL;
    if (selective && page->used == page->trim_used) {
        return 0;
    }
    page->trim_used = (uint16_t)page->used;
    size_t unit = trim_unit_size(page);
    size_t block_size = page->block_size;
    uint32_t capacity = mxi_atomic_load_relaxed(&page->capacity);
    /* Only whole units below the carved end: blocks past it are not on any list yet, and the
     * memory there was never touched or went back when the page was claimed. */
    size_t units = (size_t)capacity * block_size / unit;
    if (units == 0 || (size_t)(capacity - page->used) * block_size < unit ||
        (selective && (size_t)page->used * MX_TRIM_ALL > (size_t)capacity * max_used)) {
        return 0;
    }
    MX_ASSERT_INTERNAL(capacity <= TRIM_MAX_BLOCKS && units <= TRIM_UNITS);
    uint64_t map[TRIM_MAX_BLOCKS / 64];
    memset(map, 0, (capacity + 63) / 64 * sizeof(uint64_t));
    trim_mark_list(page, page->free, map);
    trim_mark_list(page, page->local_free, map);
    uint32_t old = mxi_atomic_load_relaxed(&page->trimmed);
    for (size_t i = 0; old != 0 && i < capacity; i++) {
        if (trim_units_of(page, unit, i) & old) {
            map[i / 64] |= (uint64_t)1 << (i % 64);
        }
    }
    uint32_t fresh = 0;
    for (size_t u = 0; u < units; u++) {
        if ((old >> u) & 1) {
            continue;
        }
        size_t lo = u * unit / block_size;
        size_t hi = ((u + 1) * unit - 1) / block_size;
        bool all_free = true;
        for (size_t i = lo; i <= hi && all_free; i++) {
            all_free = (map[i / 64] >> (i % 64)) & 1;
        }
        fresh |= all_free ? (uint32_t)1 << u : 0;
    }
    if (fresh == 0) {
        return 0;
    }
    /* The list comes back in address order, without the blocks over trimmed units; nothing in
     * those units is read or written from here on, so the purge can come first. */
    trim_purge_units(page, unit, fresh);
    uint32_t trimmed = old | fresh;
    mx_block_t *list = NULL;
    for (size_t i = capacity; i-- > 0;) {
        if (((map[i / 64] >> (i % 64)) & 1) && !(trim_units_of(page, unit, i) & trimmed)) {
            mx_block_t *block = (mx_block_t *)(page->start + i * block_size);
            mxi_block_set_next(page, block, list);
            list = block;
        }
    }
    page->free = list;
    page->local_free = NULL;
    /* The blocks over trimmed units come back (untrim) before the page hands out fresh ones:
     * malloc's fast path learns that from fresh_end alone (page.h). */
    if (page->fresh_end > capacity) {
        page->fresh_end = capacity;
    }
    mxi_atomic_store_relaxed(&page->trimmed, trimmed);
    trim_set_flag(page, true);
    return (size_t)__builtin_popcount(fresh) * unit;
}

bool mxi_page_untrim(mx_page_t *page)
{
    uint32_t trimmed = mxi_atomic_load_relaxed(&page->trimmed);
    if (trimmed == 0) {
        return false;
    }
    MX_ASSERT_INTERNAL(page->free == NULL && page->local_free == NULL);
    size_t unit = trim_unit_size(page);
    uint32_t capacity = mxi_atomic_load_relaxed(&page->capacity);
    mx_block_t *list = NULL;
    for (size_t i = capacity; i-- > 0;) {
        if (trim_units_of(page, unit, i) & trimmed) {
            mx_block_t *block = (mx_block_t *)(page->start + i * page->block_size);
            mxi_block_set_next(page, block, list);
            list = block;
        }
    }
    page->free = list;
    mxi_atomic_store_relaxed(&page->trimmed, 0);
    trim_set_flag(page, false);
    return true;
}
