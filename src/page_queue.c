/* Page queues (see page_queue.h). Owner-only. Invariant: for every class c served by a direct
 * table, heap->direct[i] (or direct_medium[i]) == queues[c].first (or &mxi_page_empty when the
 * queue is empty) for each index i whose sizes map to c. */
#include "page_queue.h"

#include "heap.h"
#include "size_class.h"

static void queue_set_direct(mx_heap_t *heap, unsigned class_index)
{
    size_t block = mxi_size_class_block_size(class_index);
    if (block > MX_DIRECT_MEDIUM_MAX) {
        return;
    }
    size_t below = class_index == 1 ? 0 : mxi_size_class_block_size(class_index - 1);
    mx_page_t *first = heap->queues[class_index].first;
    mx_page_t *target = first != NULL ? first : &mxi_page_empty;
    if (block <= MX_SMALL_MAX) {
        for (size_t i = class_index == 1 ? 0 : below / MX_MIN_BLOCK + 1; i <= block / MX_MIN_BLOCK;
             i++) {
            heap->direct[i] = target;
        }
        return;
    }
    for (size_t i = (below >> MX_DIRECT_MEDIUM_SHIFT) + 1; i <= block >> MX_DIRECT_MEDIUM_SHIFT;
         i++) {
        heap->direct_medium[i] = target;
    }
}

void mxi_page_queue_push_front(mx_heap_t *heap, mx_page_t *page)
{
    mx_page_queue_t *q = &heap->queues[page->class_index];
    q->pages++;
    page->prev = NULL;
    page->next = q->first;
    if (q->first != NULL) {
        q->first->prev = page;
    } else {
        q->last = page;
    }
    q->first = page;
    queue_set_direct(heap, page->class_index);
}

void mxi_page_queue_push_back(mx_heap_t *heap, mx_page_t *page)
{
    mx_page_queue_t *q = &heap->queues[page->class_index];
    q->pages++;
    page->next = NULL;
    page->prev = q->last;
    if (q->last != NULL) {
        q->last->next = page;
    } else {
        q->first = page;
        queue_set_direct(heap, page->class_index);
    }
    q->last = page;
}

void mxi_page_queue_remove(mx_heap_t *heap, mx_page_t *page)
{
    if (heap->grow_trim_page == page) {
        heap->grow_trim_page = page->next;
    }
    mx_page_queue_t *q = &heap->queues[page->class_index];
    q->pages--;
    bool was_first = page->prev == NULL;
    if (!was_first) {
        page->prev->next = page->next;
    } else {
        q->first = page->next;
    }
    if (page->next != NULL) {
        page->next->prev = page->prev;
    } else {
        q->last = page->prev;
    }
    page->next = NULL;
    page->prev = NULL;
    if (was_first) {
        queue_set_direct(heap, page->class_index);
    }
}

void mxi_page_queue_move_to_front(mx_heap_t *heap, mx_page_t *page)
{
    mxi_page_queue_remove(heap, page);
    mxi_page_queue_push_front(heap, page);
}

void mxi_page_queue_park(mx_heap_t *heap, mx_page_t *page)
{
    mxi_page_queue_remove(heap, page);
    page->is_parked = true;
    mxi_page_queue_link_parked(heap, page);
    mxi_atomic_store_relaxed(&page->owner, mxi_atomic_load_relaxed(&page->owner) | MX_OWNER_PARKED);
}

void mxi_page_queue_unlink_parked(mx_heap_t *heap, mx_page_t *page)
{
    heap->queues[page->class_index].pages--;
    if (page->prev != NULL) {
        page->prev->next = page->next;
    } else {
        heap->parked = page->next;
    }
    if (page->next != NULL) {
        page->next->prev = page->prev;
    }
    page->next = NULL;
    page->prev = NULL;
}

void mxi_page_queue_link_parked(mx_heap_t *heap, mx_page_t *page)
{
    heap->queues[page->class_index].pages++;
    page->prev = NULL;
    page->next = heap->parked;
    if (heap->parked != NULL) {
        heap->parked->prev = page;
    }
    heap->parked = page;
}

void mxi_page_queue_unpark(mx_heap_t *heap, mx_page_t *page)
{
    mxi_page_queue_unlink_parked(heap, page);
    page->is_parked = false;
    mxi_atomic_store_relaxed(&page->owner,
                             mxi_atomic_load_relaxed(&page->owner) & ~MX_OWNER_PARKED);
    mxi_page_queue_push_back(heap, page);
}
