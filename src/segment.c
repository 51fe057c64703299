/* Segments (see segment.h).
 *
 * Lock order: the purge lock (held by the one purge tick that runs at a time), then
 * mxi_segment_lock, a leaf: nothing else is locked while it is held, and the OS layer (which
 * takes no locks) and the statistics visitor (which takes none either) are the only things
 * called under it.
 *
 * Invariants, under the lock: a slice's used_map bit is set iff page_of[slice] points to a
 * descriptor other than mxi_page_none, or a purge tick is returning the slice to the OS with
 * the lock released (it is reserved: used, but with no page); a dirty_map bit is only set on
 * a free slice; used_slices counts the used_map bits and segment_reserved_slices the reserved
 * ones; a segment is in the segment map iff it is mapped.
 *
 * Purging in two generations: a freed slice is `dirty`; at each purge tick of its segment the
 * `aged` slices are purged and the dirty ones become aged. So a slice is returned to the OS
 * between one and two purge delays after it was freed, never moments after, and a program that
 * frees and reallocates within the delay does not fault its memory in again. */
#include "segment.h"

#include <errno.h>

#include "debug.h"
#include "error.h"
#include "options.h"
#include "os.h"
#include "purge.h"
#include "segment_map.h"

static_assert(MX_SEGMENT_HEADER_SLICES * MX_SLICE_SIZE - sizeof(mx_segment_t) >= MX_GUARD_SIZE,
              "the header region has room for its guard page");

mx_page_t mxi_page_none;
mx_lock_t mxi_segment_lock = MX_LOCK_INIT;
uintptr_t mxi_secret;

static mx_segment_t *segment_list;
static mx_segment_t *huge_list;
static size_t segment_empty_count;
/* Bytes of free slices not purged yet (their dirty or aged bits): what the retain limit caps. */
static size_t segment_retained_bytes;
/* Bytes of slices in pages: written under the lock, read without it. */
static _Atomic(size_t) segment_page_bytes;
/* Free slices that a purge tick holds reserved while it returns them to the OS. */
static size_t segment_reserved_slices;

/* Runs of free slices that a purge tick reserved under the lock, to madvise without it: a
 * purge takes a system call per run, and other threads claiming and releasing pages waited
 * for it (with two threads, bench/latency's lock waits fell from 201 to 9 yields). */
#define PURGE_BATCH_RUNS 64

typedef struct purge_batch {
    size_t count;
    bool is_full;
    struct {
        mx_segment_t *seg;
        uint32_t first;
        uint32_t slices;
    } runs[PURGE_BATCH_RUNS];
} purge_batch_t;

/* One purge tick at a time; taken before the segment lock, and by the fork handlers, so no
 * reservation is left behind in a child. */
mx_lock_t mxi_segment_purge_lock = MX_LOCK_INIT;

static bool segment_purge_map_locked(mx_segment_t *seg, uint64_t *map, purge_batch_t *batch);

/* Under the lock: only the readers are outside it. Wraps around for a decrease. */
static void segment_page_bytes_add(size_t delta)
{
    mxi_atomic_store_relaxed(&segment_page_bytes,
                             mxi_atomic_load_relaxed(&segment_page_bytes) + delta);
}

static bool slice_is_used(const mx_segment_t *seg, size_t i)
{
    return (seg->used_map[i / 64] >> (i % 64)) & 1;
}

static void slices_mark(mx_segment_t *seg, size_t first, size_t count, mx_page_t *page)
{
    for (size_t i = first; i < first + count; i++) {
        uint64_t bit = (uint64_t)1 << (i % 64);
        if (page != &mxi_page_none) {
            if ((seg->dirty_map[i / 64] | seg->aged_map[i / 64]) & bit) {
                segment_retained_bytes -= MX_SLICE_SIZE;
            }
            seg->used_map[i / 64] |= bit;
            seg->dirty_map[i / 64] &= ~bit;
            seg->aged_map[i / 64] &= ~bit;
        } else {
            seg->used_map[i / 64] &= ~bit;
            seg->dirty_map[i / 64] |= bit;
            segment_retained_bytes += MX_SLICE_SIZE;
        }
        seg->page_of[i] = page;
    }
}

static bool slices_any_dirty(const mx_segment_t *seg, size_t first, size_t count)
{
    for (size_t i = first; i < first + count; i++) {
        if (((seg->dirty_map[i / 64] | seg->aged_map[i / 64]) >> (i % 64)) & 1) {
            return true;
        }
    }
    return false;
}

static void segment_list_remove(mx_segment_t **list, mx_segment_t *seg)
{
    if (seg->prev != NULL) {
        seg->prev->next = seg->next;
    } else {
        *list = seg->next;
    }
    if (seg->next != NULL) {
        seg->next->prev = seg->prev;
    }
}

static void segment_list_push(mx_segment_t **list, mx_segment_t *seg)
{
    seg->prev = NULL;
    seg->next = *list;
    if (*list != NULL) {
        (*list)->prev = seg;
    }
    *list = seg;
}

/* The header is written before the segment is published in the map, so a racing free() of a
 * wild pointer never sees a half-built header. */
static void segment_init_header(mx_segment_t *seg, size_t size, mx_segment_kind_t kind,
                                mx_page_t *fill)
{
    seg->cookie = (uintptr_t)seg ^ mxi_secret;
    seg->size = size;
    seg->kind = (uint8_t)kind;
    for (size_t i = 0; i < MX_SLICE_COUNT; i++) {
        seg->page_of[i] = fill;
    }
}

/* Over the retain limit, free slices go back now instead of after the delay: the aged ones of
 * every segment first (freed longest ago), then the dirty ones, until the total fits. */
static void segment_enforce_budget_locked(void)
{
    size_t limit = mxi_purge_retain_limit();
    for (int pass = 0; pass < 2 && segment_retained_bytes > limit; pass++) {
        for (mx_segment_t *seg = segment_list; seg != NULL && segment_retained_bytes > limit;
             seg = seg->next) {
            segment_purge_map_locked(seg, pass == 0 ? seg->aged_map : seg->dirty_map, NULL);
        }
    }
}

static void segment_note_free_locked(mx_segment_t *seg)
{
    segment_enforce_budget_locked();
    int64_t due = mxi_purge_schedule();
    seg->freed_at_ms = due - mxi_options.purge_delay_ms;
    if (seg->purge_at_ms == 0) {
        seg->purge_at_ms = due;
    }
}

static mx_segment_t *segment_new_locked(void)
{
    mx_segment_t *seg = mxi_os_map_aligned(MX_SEGMENT_SIZE, MX_SEGMENT_SIZE);
    if (seg == NULL) {
        return NULL;
    }
    /* MALLOCX_SECURE: the end of the header region becomes a guard, so an overflow from the
     * header's side and an underflow from the first page's side both fault. */
    uint8_t *header_guard =
        (uint8_t *)seg + MX_SEGMENT_HEADER_SLICES * MX_SLICE_SIZE - MX_GUARD_SIZE;
    if (MX_SECURE && !mxi_os_protect(header_guard, MX_GUARD_SIZE, /*is_guard=*/true)) {
        mxi_os_unmap(seg, MX_SEGMENT_SIZE);
        errno = ENOMEM;
        return NULL;
    }
    segment_init_header(seg, MX_SEGMENT_SIZE, MX_SEGMENT_NORMAL, &mxi_page_none);
    for (size_t i = 0; i < MX_SEGMENT_HEADER_SLICES; i++) {
        seg->used_map[i / 64] |= (uint64_t)1 << (i % 64);
    }
    seg->used_slices = MX_SEGMENT_HEADER_SLICES;
    segment_list_push(&segment_list, seg);
    segment_empty_count++;
    mxi_segment_map_set((uintptr_t)seg);
    return seg;
}

/* Near the kernel's map-count limit, unmapping a segment that the kernel merged with its
 * neighbours into one mapping is refused (it would split it). Purging is then coarser: the
 * segment stays mapped and empty, its free slices go back with madvise, which never splits a
 * mapping, and it is reused before any new mapping is asked for. */
static bool segment_unmap_locked(mx_segment_t *seg)
{
    size_t retained = 0;
    for (size_t w = 0; w < MX_SLICE_COUNT / 64; w++) {
        retained +=
            (size_t)__builtin_popcountll(seg->dirty_map[w] | seg->aged_map[w]) * MX_SLICE_SIZE;
    }
    mxi_segment_map_clear((uintptr_t)seg);
    segment_list_remove(&segment_list, seg);
    if (!mxi_os_unmap(seg, MX_SEGMENT_SIZE)) {
        segment_list_push(&segment_list, seg);
        mxi_segment_map_set((uintptr_t)seg);
        segment_purge_map_locked(seg, seg->aged_map, NULL);
        segment_purge_map_locked(seg, seg->dirty_map, NULL);
        seg->purge_at_ms = 0;
        return false;
    }
    segment_retained_bytes -= retained;
    segment_empty_count--;
    mxi_atomic_fetch_add_relaxed(&mxi_purge_counters.segments_unmapped, 1);
    return true;
}

/* The first slice at or after `from` whose used bit equals `used` (MX_SLICE_COUNT if none),
 * a word at a time. */
static size_t segment_next_slice(const mx_segment_t *seg, size_t from, bool used)
{
    for (size_t w = from / 64; w < MX_SLICE_COUNT / 64; w++) {
        uint64_t bits = used ? seg->used_map[w] : ~seg->used_map[w];
        if (w == from / 64) {
            bits &= ~(uint64_t)0 << (from % 64);
        }
        if (bits != 0) {
            return w * 64 + (size_t)__builtin_ctzll(bits);
        }
    }
    return MX_SLICE_COUNT;
}

/* First fit: jump from free run to free run with word scans, not slice by slice. */
static size_t segment_find_run(const mx_segment_t *seg, size_t count)
{
    size_t i = MX_SEGMENT_HEADER_SLICES;
    while (i + count <= MX_SLICE_COUNT) {
        size_t first = segment_next_slice(seg, i, /*used=*/false);
        if (first + count > MX_SLICE_COUNT) {
            break;
        }
        size_t end = segment_next_slice(seg, first, /*used=*/true);
        if (end - first >= count) {
            return first;
        }
        i = end;
    }
    return MX_SLICE_COUNT;
}

/* The first run of `count` free slices that are all still resident (freed, not purged yet:
 * their dirty or aged bit), or MX_SLICE_COUNT. Steps from run to run with bit scans: a claim
 * holds the segment lock, and a scan slice by slice raised bench/latency's malloc p99.9 with 1
 * thread from 230-250 to 280-300 ns (5 runs each). */
static size_t segment_find_resident_run(const mx_segment_t *seg, size_t count)
{
    size_t run = 0; /* resident slices ending where the scan is */
    for (size_t w = 0; w < MX_SLICE_COUNT / 64; w++) {
        uint64_t resident = (seg->dirty_map[w] | seg->aged_map[w]) & ~seg->used_map[w];
        size_t b = 0;
        while (b < 64) {
            uint64_t rest = resident >> b;
            if (rest == 0) {
                run = 0;
                break;
            }
            size_t zeros = (size_t)__builtin_ctzll(rest);
            if (zeros > 0) {
                run = 0;
                b += zeros;
                rest >>= zeros;
            }
            size_t ones = ~rest == 0 ? 64 - b : (size_t)__builtin_ctzll(~rest);
            run += ones;
            b += ones;
            if (run >= count) {
                return w * 64 + b - run;
            }
        }
    }
    return MX_SLICE_COUNT;
}

/* MALLOCX_SECURE: the last OS page of every page's slices is a guard. */
static uint8_t *page_guard(const mx_page_t *page)
{
    uint8_t *span = (uint8_t *)mxi_segment_of(page) + (size_t)page->slice_index * MX_SLICE_SIZE;
    return span + (size_t)page->slice_count * MX_SLICE_SIZE - MX_GUARD_SIZE;
}

static void segment_release_unguarded(mx_page_t *page);

/* The segment and first slice of a free run of `slices`, or NULL. Memory freed and not purged
 * yet comes first: taking it costs no page fault, and leaves nothing resident behind for the
 * purge. First fit alone took the lowest free run, often purged or never touched, while
 * resident runs above it waited out the delay. */
static mx_segment_t *segment_find_locked(uint32_t slices, size_t *first)
{
    if (segment_retained_bytes >= slices * MX_SLICE_SIZE) {
        for (mx_segment_t *seg = segment_list; seg != NULL; seg = seg->next) {
            *first = segment_find_resident_run(seg, slices);
            if (*first != MX_SLICE_COUNT) {
                return seg;
            }
        }
    }
    for (mx_segment_t *seg = segment_list; seg != NULL; seg = seg->next) {
        if (MX_SLICE_COUNT - seg->used_slices >= slices) {
            *first = segment_find_run(seg, slices);
            if (*first != MX_SLICE_COUNT) {
                return seg;
            }
        }
    }
    return NULL;
}

mx_page_t *mxi_segment_claim(uint32_t slices)
{
    MX_ASSERT(slices >= 1 && slices <= MX_SLICE_COUNT - MX_SEGMENT_HEADER_SLICES);
    mxi_lock(&mxi_segment_lock);
    size_t first = MX_SLICE_COUNT;
    mx_segment_t *seg = segment_find_locked(slices, &first);
    /* Slow: waits for another thread's purge tick. Slices it holds reserved are free all the
     * same, and mapping a segment instead costs 64 MiB of address space, which RLIMIT_AS
     * counts: at the limit, malloc returned NULL with enough memory free (the background
     * thread preempted inside its batch of madvise calls, under load). The purge lock is
     * released only after the batch's slices are. Every tick takes only resident slices and
     * leaves them purged, so the reservations run out. */
    while (seg == NULL && segment_reserved_slices != 0) {
        mxi_unlock(&mxi_segment_lock);
        mxi_lock(&mxi_segment_purge_lock);
        mxi_unlock(&mxi_segment_purge_lock);
        mxi_lock(&mxi_segment_lock);
        seg = segment_find_locked(slices, &first);
    }
    if (seg == NULL) {
        seg = segment_new_locked();
        if (seg == NULL) {
            mxi_unlock(&mxi_segment_lock);
            return NULL;
        }
        first = MX_SEGMENT_HEADER_SLICES;
    }
    if (seg->used_slices == MX_SEGMENT_HEADER_SLICES) {
        segment_empty_count--;
    }
    mx_page_t *page = &seg->pages[first];
    page->is_zero = !slices_any_dirty(seg, first, slices);
    slices_mark(seg, first, slices, page);
    seg->used_slices += slices;
    page->slice_index = (uint16_t)first;
    page->slice_count = slices;
    page->kind = MX_PAGE_SMALL;
    page->start = (uint8_t *)seg + first * MX_SLICE_SIZE;
    segment_page_bytes_add((size_t)slices * MX_SLICE_SIZE);
    mxi_unlock(&mxi_segment_lock);
    if (MX_SECURE && !mxi_os_protect(page_guard(page), MX_GUARD_SIZE, /*is_guard=*/true)) {
        segment_release_unguarded(page);
        errno = ENOMEM;
        return NULL;
    }
    return page;
}

void mxi_segment_release(mx_page_t *page)
{
    if (MX_SECURE && !mxi_os_protect(page_guard(page), MX_GUARD_SIZE, /*is_guard=*/false)) {
        mxi_fatal("mprotect", "failed to lift the guard of page", page, "");
    }
    segment_release_unguarded(page);
}

static void segment_release_unguarded(mx_page_t *page)
{
    mx_segment_t *seg = mxi_segment_of(page);
    mxi_lock(&mxi_segment_lock);
    MX_ASSERT_INTERNAL(page->kind != MX_PAGE_NONE && page->kind != MX_PAGE_HUGE);
    page->kind = MX_PAGE_NONE;
    mxi_atomic_store_relaxed(&page->owner, 0);
    slices_mark(seg, page->slice_index, page->slice_count, &mxi_page_none);
    seg->used_slices -= page->slice_count;
    segment_page_bytes_add(-(size_t)page->slice_count * MX_SLICE_SIZE);
    segment_note_free_locked(seg);
    if (seg->used_slices == MX_SEGMENT_HEADER_SLICES) {
        segment_empty_count++;
        if (segment_empty_count > MX_SEGMENT_CACHE) {
            segment_unmap_locked(seg);
        }
    }
    mxi_unlock(&mxi_segment_lock);
}

bool mxi_segment_resize_large(mx_page_t *page, uint32_t slices)
{
    mx_segment_t *seg = mxi_segment_of(page);
    size_t first = page->slice_index;
    size_t count = page->slice_count;
    if (first + slices > MX_SLICE_COUNT) {
        return false;
    }
    mxi_lock(&mxi_segment_lock);
    if (slices > count) {
        for (size_t i = first + count; i < first + slices; i++) {
            if (slice_is_used(seg, i)) {
                mxi_unlock(&mxi_segment_lock);
                return false;
            }
        }
        slices_mark(seg, first + count, slices - count, page);
        seg->used_slices += slices - (uint32_t)count;
        segment_page_bytes_add((slices - count) * MX_SLICE_SIZE);
    } else if (slices < count) {
        slices_mark(seg, first + slices, count - slices, &mxi_page_none);
        seg->used_slices -= (uint32_t)count - slices;
        segment_page_bytes_add(-(count - slices) * MX_SLICE_SIZE);
        segment_note_free_locked(seg);
    }
    page->slice_count = slices;
    mxi_unlock(&mxi_segment_lock);
    return true;
}

/* Huge blocks start after the header, at the requested alignment, in a mapping aligned to
 * MX_SEGMENT_SIZE (or more), so the header is found by masking like any other. */
static size_t huge_block_offset(size_t alignment)
{
    size_t header = MX_SEGMENT_HEADER_SLICES * MX_SLICE_SIZE;
    return (header + alignment - 1) & ~(alignment - 1);
}

static bool huge_mapping_size(size_t offset, size_t size, size_t *out)
{
    size_t page = mxi_os_page_size();
    size_t total;
    if (__builtin_add_overflow(offset, size, &total) ||
        __builtin_add_overflow(total, page - 1, &total)) {
        return false;
    }
    *out = total & ~(page - 1);
    return true;
}

static void huge_init_page(mx_segment_t *seg, size_t offset)
{
    mx_page_t *page = &seg->pages[0];
    page->kind = MX_PAGE_HUGE;
    page->start = (uint8_t *)seg + offset;
    page->block_size = seg->size - offset - MX_GUARD_SIZE;
    page->is_zero = true;
    page->slice_count = 1;
    page->reserved = 1;
    page->used = 1;
}

mx_page_t *mxi_segment_huge_alloc(size_t size, size_t alignment)
{
    size_t offset = huge_block_offset(alignment);
    size_t total;
    if (!huge_mapping_size(offset, size + MX_GUARD_SIZE, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t map_align = alignment > MX_SEGMENT_SIZE ? alignment : MX_SEGMENT_SIZE;
    mx_segment_t *seg = mxi_os_map_aligned(total, map_align);
    if (seg == NULL) {
        return NULL;
    }
    if (MX_SECURE && !mxi_os_protect((uint8_t *)seg + total - MX_GUARD_SIZE, MX_GUARD_SIZE,
                                     /*is_guard=*/true)) {
        mxi_os_unmap(seg, total);
        errno = ENOMEM;
        return NULL;
    }
    mx_page_t *page = &seg->pages[0];
    segment_init_header(seg, total, MX_SEGMENT_HUGE, page);
    huge_init_page(seg, offset);
    mxi_lock(&mxi_segment_lock);
    segment_list_push(&huge_list, seg);
    mxi_segment_map_set((uintptr_t)seg);
    mxi_unlock(&mxi_segment_lock);
    return page;
}

/* A huge mapping whose unmapping the kernel refused at the map-count limit is purged whole
 * (madvise splits nothing) and waits here, out of the segment map, for a later purge pass. */
static mx_segment_t *huge_retired_list;

void mxi_segment_huge_free(mx_page_t *page)
{
    mx_segment_t *seg = mxi_segment_of(page);
    mxi_lock(&mxi_segment_lock);
    mxi_segment_map_clear((uintptr_t)seg);
    segment_list_remove(&huge_list, seg);
    mxi_unlock(&mxi_segment_lock);
    size_t size = seg->size;
    if (mxi_os_unmap(seg, size)) {
        return;
    }
    mxi_os_purge(seg, size);
    mxi_lock(&mxi_segment_lock);
    seg->size = size;
    segment_list_push(&huge_retired_list, seg);
    mxi_purge_schedule();
    mxi_unlock(&mxi_segment_lock);
}

/* Under the segment lock: retries the unmapping of retired huge mappings; true while some
 * remain. Their header stays readable (it is purged, not unmapped), so size is still there. */
static bool segment_retry_retired_locked(void)
{
    mx_segment_t *next;
    for (mx_segment_t *seg = huge_retired_list; seg != NULL; seg = next) {
        next = seg->next;
        size_t size = seg->size;
        mx_segment_t *prev = seg->prev;
        if (mxi_os_unmap(seg, size)) {
            if (prev != NULL) {
                prev->next = next;
            } else {
                huge_retired_list = next;
            }
            if (next != NULL) {
                next->prev = prev;
            }
        }
    }
    return huge_retired_list != NULL;
}

mx_page_t *mxi_segment_huge_resize(mx_page_t *page, size_t new_size)
{
    if (MX_SECURE) {
        return NULL; /* the guard page at its end would have to move: realloc copies */
    }
    mx_segment_t *seg = mxi_segment_of(page);
    size_t offset = (size_t)(page->start - (uint8_t *)seg);
    size_t total;
    if (!huge_mapping_size(offset, new_size, &total)) {
        return NULL;
    }
    if (total == seg->size) {
        return page;
    }
    if (mxi_os_resize_in_place(seg, seg->size, total)) {
        seg->size = total;
        page->block_size = total - offset;
        return page;
    }
    /* Reserve an aligned range, then move the pages there: the kernel remaps them, so even a
     * gigabyte block moves without a copy. */
    mx_segment_t *to = mxi_os_map_aligned(total, MX_SEGMENT_SIZE);
    if (to == NULL) {
        return NULL;
    }
    mxi_lock(&mxi_segment_lock);
    mxi_segment_map_clear((uintptr_t)seg);
    segment_list_remove(&huge_list, seg);
    if (!mxi_os_move(seg, seg->size, to, total)) {
        segment_list_push(&huge_list, seg);
        mxi_segment_map_set((uintptr_t)seg);
        mxi_unlock(&mxi_segment_lock);
        mxi_os_unmap(to, total);
        return NULL;
    }
    to->size = total;
    to->cookie = (uintptr_t)to ^ mxi_secret;
    mx_page_t *moved = &to->pages[0];
    for (size_t i = 0; i < MX_SLICE_COUNT; i++) {
        to->page_of[i] = moved;
    }
    moved->start = (uint8_t *)to + offset;
    moved->block_size = total - offset;
    segment_list_push(&huge_list, to);
    mxi_segment_map_set((uintptr_t)to);
    mxi_unlock(&mxi_segment_lock);
    return moved;
}

/* Clears the given slices' bits and purges each maximal run in one madvise, or, with a batch,
 * reserves the run for the caller to purge once the lock is released (runs that do not fit
 * keep their bits, and the batch is marked full). */
static bool segment_purge_map_locked(mx_segment_t *seg, uint64_t *map, purge_batch_t *batch)
{
    bool released = false;
    size_t i = MX_SEGMENT_HEADER_SLICES;
    while (i < MX_SLICE_COUNT) {
        if (!((map[i / 64] >> (i % 64)) & 1)) {
            i++;
            continue;
        }
        if (batch != NULL && batch->count == PURGE_BATCH_RUNS) {
            batch->is_full = true;
            break;
        }
        size_t first = i;
        while (i < MX_SLICE_COUNT && ((map[i / 64] >> (i % 64)) & 1)) {
            map[i / 64] &= ~((uint64_t)1 << (i % 64));
            i++;
        }
        size_t count = i - first;
        segment_retained_bytes -= count * MX_SLICE_SIZE;
        released = true;
        if (batch == NULL) {
            mxi_os_purge((uint8_t *)seg + first * MX_SLICE_SIZE, count * MX_SLICE_SIZE);
            mxi_atomic_fetch_add_relaxed(&mxi_purge_counters.purge_calls, 1);
            mxi_atomic_fetch_add_relaxed(&mxi_purge_counters.purged_bytes, count * MX_SLICE_SIZE);
            continue;
        }
        for (size_t k = first; k < i; k++) {
            seg->used_map[k / 64] |= (uint64_t)1 << (k % 64);
        }
        if (seg->used_slices == MX_SEGMENT_HEADER_SLICES) {
            segment_empty_count--;
        }
        seg->used_slices += (uint32_t)count;
        segment_reserved_slices += count;
        batch->runs[batch->count].seg = seg;
        batch->runs[batch->count].first = (uint32_t)first;
        batch->runs[batch->count].slices = (uint32_t)count;
        batch->count++;
    }
    return released;
}

/* Purges the reserved runs with no lock held, then frees their slices (clean now) for claims.
 * A segment this leaves empty is unmapped beyond the cache, as a release would. */
static void segment_purge_batch(purge_batch_t *batch)
{
    for (size_t r = 0; r < batch->count; r++) {
        size_t bytes = (size_t)batch->runs[r].slices * MX_SLICE_SIZE;
        mxi_os_purge((uint8_t *)batch->runs[r].seg + (size_t)batch->runs[r].first * MX_SLICE_SIZE,
                     bytes);
        mxi_atomic_fetch_add_relaxed(&mxi_purge_counters.purge_calls, 1);
        mxi_atomic_fetch_add_relaxed(&mxi_purge_counters.purged_bytes, bytes);
    }
    mxi_lock(&mxi_segment_lock);
    for (size_t r = 0; r < batch->count; r++) {
        mx_segment_t *seg = batch->runs[r].seg;
        size_t first = batch->runs[r].first;
        for (size_t k = first; k < first + batch->runs[r].slices; k++) {
            seg->used_map[k / 64] &= ~((uint64_t)1 << (k % 64));
        }
        seg->used_slices -= batch->runs[r].slices;
        segment_reserved_slices -= batch->runs[r].slices;
        if (seg->used_slices == MX_SEGMENT_HEADER_SLICES) {
            segment_empty_count++;
            if (segment_empty_count > MX_SEGMENT_CACHE) {
                segment_unmap_locked(seg);
            }
        }
    }
    mxi_unlock(&mxi_segment_lock);
}

/* One purge tick of a segment: aged slices go back to the OS, dirty ones age. Dirty ones go
 * back too when even the latest of them was freed a whole delay ago (the tick came late, the
 * program having been quiet), or with `force`. Returns whether anything went back;
 * reschedules the segment if slices remain, unless the batch filled up first. */
static bool segment_purge_tick_locked(mx_segment_t *seg, int64_t now_ms, bool force,
                                      purge_batch_t *batch)
{
    bool released = segment_purge_map_locked(seg, seg->aged_map, batch);
    if (force || now_ms - seg->freed_at_ms >= mxi_options.purge_delay_ms) {
        released |= segment_purge_map_locked(seg, seg->dirty_map, batch);
    }
    if (batch->is_full) {
        return released; /* still due: the next pass takes the rest */
    }
    bool any_left = false;
    for (size_t w = 0; w < MX_SLICE_COUNT / 64; w++) {
        seg->aged_map[w] |= seg->dirty_map[w];
        seg->dirty_map[w] = 0;
        any_left |= seg->aged_map[w] != 0;
    }
    seg->purge_at_ms = any_left ? mxi_purge_schedule() : 0;
    return released;
}

/* One pass over the segments: empty ones past the delay are unmapped, due ones tick. It stops
 * where the batch fills up, leaving the segments after it due. */
static bool segment_purge_pass_locked(int64_t now_ms, bool force, purge_batch_t *batch)
{
    bool released = false;
    int64_t next_due = 0;
    mx_segment_t *next;
    for (mx_segment_t *seg = segment_list; seg != NULL; seg = next) {
        next = seg->next;
        /* The cache of empty segments serves reuse within the purge delay; past it an empty
         * segment is unmapped, since its 64 MiB of address space counts against RLIMIT_AS. */
        if (seg->used_slices == MX_SEGMENT_HEADER_SLICES &&
            (force || (seg->purge_at_ms != 0 && seg->purge_at_ms <= now_ms))) {
            /* Refused or not, the segment's free memory went back. */
            segment_unmap_locked(seg);
            released = true;
            continue;
        }
        if (seg->purge_at_ms != 0 && (force || seg->purge_at_ms <= now_ms)) {
            released |= segment_purge_tick_locked(seg, now_ms, force, batch);
            if (batch->is_full) {
                return released;
            }
        }
        if (seg->purge_at_ms != 0 && (next_due == 0 || seg->purge_at_ms < next_due)) {
            next_due = seg->purge_at_ms;
        }
    }
    if (huge_retired_list != NULL && segment_retry_retired_locked() && next_due == 0) {
        next_due = mxi_purge_schedule();
    }
    mxi_purge_set_next_due(next_due);
    return released;
}

/* Under the purge lock. */
static bool segment_purge_locked(int64_t now_ms, bool force)
{
    bool released = false;
    for (;;) {
        purge_batch_t batch;
        batch.count = 0;
        batch.is_full = false;
        mxi_lock(&mxi_segment_lock);
        released |= segment_purge_pass_locked(now_ms, force, &batch);
        mxi_unlock(&mxi_segment_lock);
        segment_purge_batch(&batch);
        /* Passes go on while the batch fills up; a forced purge also makes one more, for the
         * segments its batch left empty. */
        if (!batch.is_full && (!force || batch.count == 0)) {
            return released;
        }
    }
}

/* A forced purge asked for while the purge lock was taken (mxi_segment_purge_request). */
static _Atomic(bool) purge_forced_pending;

/* Makes the forced purges asked for while the lock was held. The asker sets the flag and then
 * tries the lock; a holder lets go of the lock and then reads the flag. With a full fence
 * between each one's store and its load, at least one of them sees the other's store, so no
 * request is left behind. */
static bool segment_purge_run_pending(void)
{
    bool released = false;
    for (;;) {
        atomic_thread_fence(memory_order_seq_cst);
        if (!mxi_atomic_load_relaxed(&purge_forced_pending) ||
            !mxi_lock_try(&mxi_segment_purge_lock)) {
            return released;
        }
        mxi_atomic_store_relaxed(&purge_forced_pending, false);
        released |= segment_purge_locked(mxi_now_ms(), true);
        mxi_unlock(&mxi_segment_purge_lock);
    }
}

bool mxi_segment_purge(int64_t now_ms, bool force)
{
    /* A tick that finds another one running leaves the work to it. */
    if (force) {
        mxi_lock(&mxi_segment_purge_lock);
    } else if (!mxi_lock_try(&mxi_segment_purge_lock)) {
        return false;
    }
    bool released = segment_purge_locked(now_ms, force);
    mxi_unlock(&mxi_segment_purge_lock);
    return segment_purge_run_pending() || released;
}

void mxi_segment_purge_request(void)
{
    mxi_atomic_store_relaxed(&purge_forced_pending, true);
    segment_purge_run_pending();
}

size_t mxi_segment_page_bytes(void)
{
    return mxi_atomic_load_relaxed(&segment_page_bytes);
}

size_t mxi_segment_retained_bytes(void)
{
    mxi_lock(&mxi_segment_lock);
    size_t retained = segment_retained_bytes;
    mxi_unlock(&mxi_segment_lock);
    return retained;
}

/* A normal segment is its header, then page runs and free runs in address order; slice maps
 * are stable under the lock, page fields other than slice_index and slice_count are not. */
static void segment_visit_normal(mx_segment_t *seg, mx_segment_visit_fn *fn, void *arg)
{
    uint8_t *base = (uint8_t *)seg;
    fn(arg, seg, MX_RANGE_METADATA, NULL, base, MX_SEGMENT_HEADER_SLICES * MX_SLICE_SIZE);
    size_t i = MX_SEGMENT_HEADER_SLICES;
    while (i < MX_SLICE_COUNT) {
        if (!slice_is_used(seg, i)) {
            size_t end = segment_next_slice(seg, i, /*used=*/true);
            fn(arg, seg, MX_RANGE_FREE, NULL, base + i * MX_SLICE_SIZE, (end - i) * MX_SLICE_SIZE);
            i = end;
            continue;
        }
        mx_page_t *page = seg->page_of[i];
        if (page == &mxi_page_none) {
            /* Reserved by a purge tick: free slices on their way back to the OS. */
            size_t end = i + 1;
            while (end < MX_SLICE_COUNT && slice_is_used(seg, end) &&
                   seg->page_of[end] == &mxi_page_none) {
                end++;
            }
            fn(arg, seg, MX_RANGE_FREE, NULL, base + i * MX_SLICE_SIZE, (end - i) * MX_SLICE_SIZE);
            i = end;
            continue;
        }
        MX_ASSERT_INTERNAL(page == &seg->pages[i] && page->slice_count >= 1);
        size_t count = page->slice_count;
        fn(arg, seg, MX_RANGE_PAGE, page, base + i * MX_SLICE_SIZE, count * MX_SLICE_SIZE);
        i += count;
    }
}

void mxi_segment_visit(mx_segment_visit_fn *fn, void *arg)
{
    mxi_lock(&mxi_segment_lock);
    for (mx_segment_t *seg = segment_list; seg != NULL; seg = seg->next) {
        segment_visit_normal(seg, fn, arg);
    }
    for (mx_segment_t *seg = huge_list; seg != NULL; seg = seg->next) {
        mx_page_t *page = &seg->pages[0];
        uint8_t *block = (uint8_t *)((uintptr_t)page->start & ~(uintptr_t)(mxi_os_page_size() - 1));
        size_t header = (size_t)(block - (uint8_t *)seg);
        fn(arg, seg, MX_RANGE_METADATA, NULL, (uint8_t *)seg, header);
        fn(arg, seg, MX_RANGE_HUGE, page, block, seg->size - header);
    }
    mxi_unlock(&mxi_segment_lock);
}

/* The segment map marks only the first 64 MiB of a huge mapping (see segment_map.h), so an
 * address past it is looked up in the list of huge segments. */
bool mxi_segment_owns(const void *p)
{
    if (mxi_segment_map_contains((uintptr_t)p)) {
        mx_segment_t *seg = mxi_segment_of(p);
        return (uintptr_t)p - (uintptr_t)seg < seg->size;
    }
    bool owned = false;
    mxi_lock(&mxi_segment_lock);
    for (mx_segment_t *seg = huge_list; seg != NULL && !owned; seg = seg->next) {
        owned = (uintptr_t)p - (uintptr_t)seg < seg->size;
    }
    mxi_unlock(&mxi_segment_lock);
    return owned;
}
