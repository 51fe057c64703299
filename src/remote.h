/* Cross-thread frees. A free into another heap's page is one CAS onto the page's lock-free
 * thread_free list; the owner takes the whole list with one atomic on its slow path. A free
 * into a parked (full) page also puts the page on its owner's wake list, so the owner brings
 * it back into use: no memory is stranded behind a full page. */
#ifndef MX_REMOTE_H
#define MX_REMOTE_H

#include <stdint.h>

#include "atomic.h"
#include "types.h"

/* Any thread. block must belong to page and not be free. Marks the page's heap as having
 * remote frees to collect, and every so often runs the caller's share of purging: a thread
 * that only frees what others allocated still keeps memory going back. */
void mxi_remote_free(mx_page_t *page, mx_block_t *block);

/* Set when some heap got a remote-free hint since the last sweep (collect.c clears it). */
extern _Atomic(uint8_t) mxi_remote_hinted;

/* Owner, on a page that is not parked: takes the page's remote frees (NULL if none) and
 * their number, without walking them. */
mx_block_t *mxi_remote_take(mx_page_t *page, uint32_t *count);

/* Owner: sets PARKED if no remote free is pending; false if one is (then do not park). */
bool mxi_remote_try_park(mx_page_t *page);

/* Owner: clears PARKED on a page it unparks itself; false if a remote free cleared it first
 * (the page is then on its way through the wake list). */
bool mxi_remote_unpark(mx_page_t *page);

/* Owner: takes the pages that remote frees woke (NULL if none). */
mx_page_t *mxi_remote_take_woken(struct mx_heap *heap);

#endif
