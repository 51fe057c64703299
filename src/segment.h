/* Segments: MX_SEGMENT_SIZE regions aligned to their size, carved into slices that heaps claim
 * as pages, plus huge segments that hold one block each. Masking a block address finds its
 * segment; one load from page_of finds its page. */
#ifndef MX_SEGMENT_H
#define MX_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "lock.h"
#include "types.h"

/* The descriptor of every slice that holds no page: kind NONE, owner 0, so every check on it
 * fails and free() reports the pointer. */
extern mx_page_t mxi_page_none;

/* Guards the segment list, the slice maps of every segment and the segment map. */
extern mx_lock_t mxi_segment_lock;
/* Held by the purge tick that is running, across its madvise calls; taken before the segment
 * lock. */
extern mx_lock_t mxi_segment_purge_lock;

/* A random value fixed at initialization; mixed into page keys and segment cookies. */
extern uintptr_t mxi_secret;

MX_INLINE mx_segment_t *mxi_segment_of(const void *p)
{
    return (mx_segment_t *)((uintptr_t)p & ~(uintptr_t)(MX_SEGMENT_SIZE - 1));
}

MX_INLINE mx_page_t *mxi_segment_page_of(const void *p)
{
    return mxi_segment_of(p)->page_of[((uintptr_t)p >> MX_SLICE_SHIFT) & (MX_SLICE_COUNT - 1)];
}

/* Claims a run of `slices` free slices (reusing a free run, or mapping a new segment) and
 * returns the descriptor of its first slice with slice_index, slice_count, start and is_zero
 * set and kind MX_PAGE_SMALL; the caller sets the rest. NULL with errno ENOMEM if the OS
 * refuses. Before it maps a segment it waits for a purge tick that holds free slices reserved,
 * so it must not be called with the purge lock held. */
mx_page_t *mxi_segment_claim(uint32_t slices);

/* Returns a page's slices to its segment. They stay resident until the purge delay passes;
 * an empty segment beyond the small cache is unmapped at once. */
void mxi_segment_release(mx_page_t *page);

/* Grows or shrinks a large page to `slices` slices in place; false if the slices after it are
 * taken (the page is unchanged). */
bool mxi_segment_resize_large(mx_page_t *page, uint32_t slices);

/* A huge block of `size` bytes aligned to `alignment`, in a mapping of its own. */
mx_page_t *mxi_segment_huge_alloc(size_t size, size_t alignment);
void mxi_segment_huge_free(mx_page_t *page);
/* Resizes a huge block's mapping in place or by moving its pages (never by copying); returns
 * the block's descriptor, which moves with the mapping, or NULL (block unchanged). */
mx_page_t *mxi_segment_huge_resize(mx_page_t *page, size_t new_size);

/* Purges free slices whose delay has passed (all of them if `force`), and with `force` unmaps
 * every empty segment. Returns true if any memory went back to the OS. */
bool mxi_segment_purge(int64_t now_ms, bool force);

/* A forced purge that does not wait: when another purge holds the lock, that one makes the
 * forced pass once it is done (while a fork holds it, the next purge does). For threads on
 * their way out, which need not see it done: eight threads of bench/larson ending together
 * called sched_yield 13,500 times while one of them gave back 80 MiB. */
void mxi_segment_purge_request(void);

/* Bytes of free slices not purged yet. */
size_t mxi_segment_retained_bytes(void);

/* Bytes of slices in small and large pages, from any thread without a lock. */
size_t mxi_segment_page_bytes(void);

/* What a range of a segment holds, for statistics. */
typedef enum mx_range_kind {
    MX_RANGE_METADATA, /* a segment header: page descriptors and slice maps */
    MX_RANGE_PAGE,     /* the slices of a small or large page */
    MX_RANGE_FREE,     /* free slices, purged or not */
    MX_RANGE_HUGE,     /* a huge block, from its first OS page to the end of its mapping */
} mx_range_kind_t;

/* `page` is the range's descriptor (NULL for headers and free slices). Called under the
 * segment lock: it must not allocate or take a lock. */
typedef void mx_segment_visit_fn(void *arg, const mx_segment_t *seg, mx_range_kind_t kind,
                                 const mx_page_t *page, const uint8_t *start, size_t size);

/* Calls fn once for each range of every segment and huge mapping: together the ranges cover
 * every byte mapped for segments, each byte once. */
void mxi_segment_visit(mx_segment_visit_fn *fn, void *arg);

/* True if p is inside memory malloc-x manages. Never faults. */
bool mxi_segment_owns(const void *p);

#endif
