/* Pages: blocks of one size class in a run of slices, with the three free lists of
 * free-list sharding (free, local_free, thread_free). The block pop and push used by the fast
 * paths are inline here; carving, collecting and initialization are in page.c. */
#ifndef MX_PAGE_H
#define MX_PAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "atomic.h"
#include "compiler.h"
#include "config.h"
#include "types.h"

struct mx_heap;

/* Free-list links live in freed memory, where a use-after-free or an overflow can overwrite
 * them. They are stored XORed with the page's secret key (safe-linking), so a forged link
 * decodes to a random address, which fails the check before every pop (mxi_page_segment_holds:
 * a block lies in its page's own segment, a 2^-38 chance for a random address), and the process
 * stops before the link is followed.
 *
 * The link is the second word of a block of 16 bytes or more, the only word of an 8-byte one.
 * A program's last write before a free is often to a block's first word, and often narrower
 * than a word (a byte, a 32-bit field): free reading that word back as a whole waits for the
 * store to reach the cache (no store-to-load forwarding), which made a loop of malloc, write
 * one byte, free 45% slower.
 * free's fast path does not load link_offset: a page of 8-byte blocks carries MX_OWNER_TINY in
 * the owner word that free compares anyway, so the read of a cold block need not wait for the
 * page descriptor's load (mxi_block_link_at). */
MX_INLINE uintptr_t *mxi_block_link(const mx_page_t *page, const mx_block_t *block)
{
    return (uintptr_t *)((uintptr_t)block + page->link_offset);
}

/* mxi_block_link, for a caller that knows whether the page carries MX_OWNER_TINY. */
MX_INLINE uintptr_t *mxi_block_link_at(mx_block_t *block, bool is_tiny)
{
    return (uintptr_t *)((uintptr_t)block + (is_tiny ? 0 : sizeof(uintptr_t)));
}

MX_INLINE mx_block_t *mxi_block_next(const mx_page_t *page, const mx_block_t *block)
{
    return (mx_block_t *)(*mxi_block_link(page, block) ^ page->key);
}

MX_INLINE void mxi_block_set_next(const mx_page_t *page, mx_block_t *block, mx_block_t *next)
{
    *mxi_block_link(page, block) = (uintptr_t)next ^ page->key;
}

uintptr_t mxi_page_make_key(const mx_page_t *page);

/* Reports a corrupted link and aborts. */
MX_NORETURN MX_COLD void mxi_page_corrupt(const mx_page_t *page, const void *block);

/* True if block lies in the page's own segment, as every block on its lists does; false for
 * NULL too, so malloc's fast path tells an empty list and a forged head apart only once the
 * one test has failed. */
MX_INLINE bool mxi_page_segment_holds(const mx_page_t *page, const mx_block_t *block)
{
    return (((uintptr_t)block ^ (uintptr_t)page) >> MX_SEGMENT_SHIFT) == 0;
}

/* Pops page->free's head, `block`, which mxi_page_segment_holds has accepted. Clearing the link
 * marks the block allocated: 0 decodes to the key itself, which no link is
 * (mxi_page_make_key). */
MX_INLINE mx_block_t *mxi_page_pop_head(mx_page_t *page, mx_block_t *block)
{
    uintptr_t *link = mxi_block_link(page, block);
    mx_block_t *next = (mx_block_t *)(*link ^ page->key);
    page->free = next;
    /* The next malloc of the class reads that block's link: a block freed long ago, in a
     * program that frees in random order, is out of cache by then. Fetching it now hides the
     * miss behind whatever the program does in between (larson 16B-1KiB, 2 threads: 8% less
     * time; none of the 14 workloads compared was slower). Prefetching NULL at a list's end
     * does nothing. */
    __builtin_prefetch(next);
    page->used++;
    *link = 0;
    return block;
}

/* page->free must be non-empty. */
MX_INLINE mx_block_t *mxi_page_pop(mx_page_t *page)
{
    mx_block_t *block = page->free;
    if (MX_UNLIKELY(!mxi_page_segment_holds(page, block))) {
        mxi_page_corrupt(page, block);
    }
    return mxi_page_pop_head(page, block);
}

/* free's filter for a double free: true if the block's link word decodes to NULL or into the
 * page's segment, as the link of every free block does. One AND with the mask of the high
 * bits the segment's address lacks covers both. A live block's word passes only by chance
 * (about 2^-20 for a word decoding to a random value), and then mxi_free_check decides. */
MX_INLINE bool mxi_link_maybe_free(const mx_page_t *page, const uintptr_t *link)
{
    return ((*link ^ page->key) & page->link_mask) == 0;
}

MX_INLINE bool mxi_block_maybe_free(const mx_page_t *page, const mx_block_t *block)
{
    return mxi_link_maybe_free(page, mxi_block_link(page, block));
}

/* The owner's free: no atomics. The caller checks `used` afterwards. The block goes straight
 * back on the list malloc pops from, so the next malloc of its class reuses it while it is
 * still in cache and never needs the swap from local_free. MALLOCX_SECURE builds hold freed
 * blocks back on local_free instead, until the free list runs dry, so a dangling pointer is
 * not handed the very next allocation of its size. */
MX_INLINE void mxi_page_push_local_at(mx_page_t *page, mx_block_t *block, uintptr_t *link)
{
    mx_block_t **list = MX_SECURE ? &page->local_free : &page->free;
    *link = (uintptr_t)*list ^ page->key;
    *list = block;
    page->used--;
}

MX_INLINE void mxi_page_push_local(mx_page_t *page, mx_block_t *block)
{
    mxi_page_push_local_at(page, block, mxi_block_link(page, block));
}

/* Makes a freshly claimed page a small page of `class_index` owned by heap. */
void mxi_page_init_small(mx_page_t *page, struct mx_heap *heap, unsigned class_index);

/* Refills page->free from local_free, thread_free and trimmed units, without touching the
 * untouched tail. Returns true if the page can serve a malloc: page->free is non-empty, or (a
 * lazy page that got all its blocks back and started over) mxi_page_take_fresh has a block to
 * hand out. */
bool mxi_page_refill_freed(mx_page_t *page);

/* Carves up to MX_EXTEND_SIZE bytes of fresh blocks from the untouched tail or, on a lazy page,
 * lets malloc hand out up to MX_FRESH_GRANT_SIZE bytes of them uncarved. False if the page has
 * none left. */
bool mxi_page_refill_fresh(mx_page_t *page);

/* mxi_page_refill_freed, and mxi_page_refill_fresh if that found nothing. */
bool mxi_page_refill(mx_page_t *page);

/* A lazy page hands its fresh blocks out one at a time, uncarved: carving writes a link into
 * every block, and where the memory had never been touched (fresh, purged, or the untouched
 * part of an earlier page) each OS page of it was a page fault inside malloc, a microsecond or
 * more. The program touches the block anyway, and the fault happens there. Whatever the block's
 * link word holds (zero, or a link an earlier page left) does not decode to a link under this
 * page's key (see mxi_page_make_key), so the block counts as allocated. Pages that fault their
 * memory in by the chunk (is_populating) carve instead, as do MALLOCX_SECURE builds, which carve
 * in shuffled order. */
MX_INLINE bool mxi_page_is_lazy(const mx_page_t *page)
{
    return !MX_SECURE && !page->is_populating;
}

/* True if a malloc may take a fresh block now: blocks freed into the page (by other threads, or
 * given back by a trim) are reused first, and past its allowance (fresh_end) so are those
 * freed into the class's other pages. The caller found free and local_free empty. Pages that
 * carve, and pages with trimmed units, keep fresh_end at or below capacity (types.h), so the
 * one comparison turns them away too. */
MX_INLINE bool mxi_page_has_fresh_now(const mx_page_t *page)
{
    return mxi_atomic_load_relaxed(&page->capacity) < page->fresh_end &&
           mxi_atomic_load_relaxed(&page->thread_free) == 0;
}

/* Hands out a lazy page's next fresh block without touching it; the page has one left. */
MX_INLINE mx_block_t *mxi_page_take_fresh(mx_page_t *page)
{
    uint32_t capacity = mxi_atomic_load_relaxed(&page->capacity);
    mxi_atomic_store_relaxed(&page->capacity, capacity + 1);
    page->used++;
    return (mx_block_t *)(page->start + (size_t)capacity * page->block_size);
}

/* The page invariants of types.h, for MX_ASSERT_EXPENSIVE. */
bool mxi_page_check(const mx_page_t *page);

/* Moves remote frees onto local_free; returns how many there were. */
uint32_t mxi_page_collect_remote(mx_page_t *page);

/* The start of the block containing p (p itself unless the page serves aligned requests). */
MX_INLINE mx_block_t *mxi_page_block_of(const mx_page_t *page, const void *p)
{
    size_t offset = (size_t)((const uint8_t *)p - page->start);
    return (mx_block_t *)(page->start + offset - offset % page->block_size);
}

/* True if p is the start of a block that the page has carved (a valid block address). */
MX_INLINE bool mxi_page_is_block_start(const mx_page_t *page, const void *p)
{
    const uint8_t *b = p;
    if (b < page->start) {
        return false;
    }
    size_t offset = (size_t)(b - page->start);
    return offset % page->block_size == 0 &&
           offset / page->block_size < mxi_atomic_load_relaxed(&page->capacity);
}

#endif
