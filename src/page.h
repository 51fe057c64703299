/* Pages: blocks of one size class in a run of slices, with the three free lists of
 * free-list sharding (free, local_free, thread_free). The block pop and push used by the fast
 * paths are inline here; carving, collecting and initialization are in page.c. */
#ifndef MX_PAGE_H
#define MX_PAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler.h"
#include "types.h"

struct mx_heap;

/* page->free must be non-empty. Clearing the key marks the block allocated, so only a block
 * that was really freed carries it. */
MX_INLINE mx_block_t *mxi_page_pop(mx_page_t *page)
{
    mx_block_t *block = page->free;
    page->free = block->next;
    page->used++;
    block->key = 0;
    return block;
}

/* The owner's free: no atomics. The caller checks `used` afterwards. */
MX_INLINE void mxi_page_push_local(mx_page_t *page, mx_block_t *block)
{
    block->next = page->local_free;
    block->key = page->key;
    page->local_free = block;
    page->used--;
}

/* Makes a freshly claimed page a small page of `class_index` owned by heap. */
void mxi_page_init_small(mx_page_t *page, struct mx_heap *heap, unsigned class_index);

/* Refills page->free from local_free and thread_free; then, if it is still empty, carves
 * fresh blocks from the untouched tail. Returns true if page->free is now non-empty. */
bool mxi_page_refill(mx_page_t *page);

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
    return offset % page->block_size == 0 && offset / page->block_size < page->capacity;
}

#endif
