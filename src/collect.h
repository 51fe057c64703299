/* Collecting the heaps of idle and exited threads. An owner drains the remote frees into its
 * pages only on its own slow path, so a thread that stops allocating (it sleeps, blocks, or
 * only ever produced blocks for others) would strand every block other threads free into its
 * pages. A sweep, run from any thread's purge tick or the background thread, collects such
 * heaps on the owner's behalf: it takes the remote frees into their pages and gives the pages
 * that became empty back to their segments, where they are purged like any other. */
#ifndef MX_COLLECT_H
#define MX_COLLECT_H

#include <stdbool.h>
#include <stdint.h>

#include "lock.h"

/* Collects every heap that remote frees went into and whose owner has not been through its
 * slow path since the previous sweep (with `force`: every heap with pages, idle or not), and
 * every abandoned heap that remote frees went into. At most one sweep runs at a time; a call
 * that finds one running returns at once. Takes no lock of the caller's: call with none held. */
void mxi_collect_sweep(bool force);

/* Fork child handler. */
void mxi_collect_after_fork(void);

/* Held for the length of a sweep; fork handlers take it first. */
extern mx_lock_t mxi_collect_lock;

#endif
