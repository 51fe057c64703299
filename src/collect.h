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

/* Collects every live heap whose thread made no allocator call since the previous sweep, if
 * remote frees went into it or it was not collected since it went idle (with `force`: every
 * live heap whose thread is outside the allocator), and the pool of exited threads' pages if
 * remote frees went into it (always with `force`). At most one sweep runs at a time: a call
 * that finds one running returns at once, a forced one waits for it. A collection also trims
 * a heap whose thread has been idle long enough, and with `force` every heap it collects and
 * the pool (trim.h). Returns true if trimming gave memory back. Call with no lock held.
 * If `busy` is not NULL, *busy is set false only when every heap's thread was found idle with
 * nothing left to collect or trim for it, and nothing to collect in the pool: until a thread
 * calls the allocator again, further sweeps would find nothing to do. */
bool mxi_collect_sweep(bool force, bool *busy);

/* Chooses the barrier a sweep uses and registers for it; called once at load time. */
void mxi_collect_init(void);

/* Fork child handler. */
void mxi_collect_after_fork(void);

/* Held for the length of a sweep; fork handlers take it first. */
extern mx_lock_t mxi_collect_lock;

#endif
