/* Thread-local heaps: one per thread, reached through one initial-exec TLS pointer. A thread
 * that has not allocated yet points at the static empty heap, whose direct table leads every
 * request to the slow path, where the real heap is made: the fast path never tests for
 * initialization. */
#ifndef MX_HEAP_H
#define MX_HEAP_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler.h"
#include "types.h"

extern MX_TLS mx_heap_t *mxi_heap_tls;

/* The heap of threads that have none yet (or whose heap was abandoned at exit). */
extern mx_heap_t mxi_heap_empty;
/* A page with no free block: where direct entries of classes without pages point. */
extern mx_page_t mxi_page_empty;

/* Slow path of malloc for small and medium classes: returns a page of `class_index` at the
 * front of its queue with a non-empty free list, or NULL (out of memory). */
mx_page_t *mxi_heap_page_for_class(mx_heap_t *heap, unsigned class_index);

/* The owner's free of a block whose page carries owner flags (parked or aligned). */
void mxi_heap_free_flagged(mx_heap_t *heap, mx_page_t *page, mx_block_t *block);

/* The owner's free left a page with no block in use. */
MX_NOINLINE void mxi_heap_page_emptied(mx_heap_t *heap, mx_page_t *page);

/* Gives every empty page of the heap back to its segment; true if there was any. */
bool mxi_heap_release_empty_pages(mx_heap_t *heap);

/* Makes (or adopts) the calling thread's heap; NULL if the OS refuses memory. */
mx_heap_t *mxi_heap_init_thread(void);

/* A heap object for a new thread: a spare one or a new one. NULL if out of memory. */
mx_heap_t *mxi_heap_alloc(void);
/* Resets a heap to hold no page, for reuse as a spare. */
void mxi_heap_reset(mx_heap_t *heap);

/* Every heap ever made (they are recycled, never unmapped), for fork and statistics. */
extern mx_lock_t mxi_heap_registry_lock;
mx_heap_t *mxi_heap_registry_first(void);
/* Address space and resident bytes of the chunks heap objects are carved from (statistics). */
void mxi_heap_chunk_totals(size_t *mapped_bytes, size_t *resident_bytes);

#endif
