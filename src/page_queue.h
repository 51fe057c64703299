/* A heap's page queues, one per size class, and its parked list of full pages. The first page
 * of a small class's queue is what the heap's direct table points to, so every change of a
 * queue head goes through here, and each queue counts its class's pages, queued and parked
 * alike, for the slow path's choice of a page (heap.c). All owner-only: no atomics, no locks. */
#ifndef MX_PAGE_QUEUE_H
#define MX_PAGE_QUEUE_H

#include "types.h"

void mxi_page_queue_push_front(mx_heap_t *heap, mx_page_t *page);
void mxi_page_queue_push_back(mx_heap_t *heap, mx_page_t *page);
void mxi_page_queue_remove(mx_heap_t *heap, mx_page_t *page);
void mxi_page_queue_move_to_front(mx_heap_t *heap, mx_page_t *page);

/* Moves a full page from its queue to the parked list, and back to the end of its queue. The
 * PARKED owner flag makes the owner's own free of a block in it take the slow path, which
 * unparks it. */
void mxi_page_queue_park(mx_heap_t *heap, mx_page_t *page);
void mxi_page_queue_unpark(mx_heap_t *heap, mx_page_t *page);

/* The parked list alone, for moving parked pages between heaps (the flags are the caller's). */
void mxi_page_queue_unlink_parked(mx_heap_t *heap, mx_page_t *page);
void mxi_page_queue_link_parked(mx_heap_t *heap, mx_page_t *page);

#endif
