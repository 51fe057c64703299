/* Trimming: giving back the memory of free blocks inside pages that are still in use.
 *
 * A page that kept a few live blocks after most of its blocks were freed holds all of its
 * memory, and no purge of free slices reaches it. Trimming divides the page into at most 32
 * units (an OS page each, more for pages over 128 KiB) and gives back every unit that only
 * free blocks overlap. The blocks overlapping a trimmed unit leave the free lists, since their
 * links would read back as zero; they return when the page has no other free block left
 * (mxi_page_untrim), so memory comes back into use only when it is needed.
 *
 * Free blocks in a trimmed unit are on no list, so free's test of a block's link cannot tell
 * them from live ones. A trimmed page carries MX_OWNER_TRIMMED in its owner word instead:
 * every free into it misses the fast path, and the slow path reports a free of a block in a
 * trimmed unit as a double free (mxi_page_block_is_trimmed).
 *
 * Trimming costs a walk of the page's free lists and a system call per run of units, so it
 * runs where giving memory back is the point: malloc_trim, and the collection of heaps whose
 * threads have gone quiet (collect.c). MALLOCX_SECURE builds do not trim: rebuilding a page's
 * free list would undo its shuffled order. */
#ifndef MX_TRIM_H
#define MX_TRIM_H

#include <stdbool.h>
#include <stddef.h>

#include "types.h"

/* Owner only (or a collector holding the owner out), on a small page in a queue: collects its
 * remote frees, gives back the units only free blocks overlap, and returns their bytes. Below
 * MX_TRIM_ALL, a page with more than `max_used` eighths of its carved blocks in use, or with as
 * many in use as at the last look, is left alone without walking its lists. */
#define MX_TRIM_ALL 8
size_t mxi_page_trim(mx_page_t *page, unsigned max_used);

/* Owner only, when the page's free lists are empty: puts the blocks of its trimmed units back
 * on the free list, clears the page's trim state and returns true; false if nothing was
 * trimmed. */
bool mxi_page_untrim(mx_page_t *page);

/* Any thread: true if `block` (a block start below the page's capacity) overlaps a trimmed
 * unit, which makes it a free block that is on no list. */
bool mxi_page_block_is_trimmed(const mx_page_t *page, const mx_block_t *block);

/* Owner only: how many blocks overlap trimmed units (for the page invariant). */
uint32_t mxi_page_trimmed_blocks(const mx_page_t *page);

#endif
