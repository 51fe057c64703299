/* Statistics (mx_stats_t in malloc-x.h), computed on demand by walking the segments and heap
 * chunks and asking the kernel which of their pages are resident: no counter is kept on a
 * fast path, so statistics cost nothing until they are asked for.
 *
 * The resident bytes of each range go to exactly one part, so the parts sum to the resident
 * bytes of malloc-x's mappings:
 *   segment header, heap chunk          metadata_bytes
 *   free slices                         purge_pending_bytes (0 once purged: not resident)
 *   large page, huge block              live_bytes
 *   small page of an exited thread      abandoned_bytes, whole
 *   small page of a running thread      live_bytes: blocks held x block size, then
 *                                       remote_free_bytes: uncollected remote frees x block
 *                                       size, each capped by what the page has left resident;
 *                                       free_in_pages_bytes: the rest
 * "Held" is the page's `used` minus its thread_free count, since remote frees stay in `used`
 * until the owner collects them. */
#ifndef MX_STATS_H
#define MX_STATS_H

#include <stddef.h>

#include "malloc-x.h"
#include "types.h"

/* One size class, over every small page, exited threads' included. */
typedef struct mx_class_stats {
    size_t page_count;
    size_t used_count;   /* blocks the program holds */
    size_t remote_count; /* blocks freed by other threads, not collected by the owner yet */
    size_t carved_count; /* blocks the pages have handed out fresh or carved so far; malloc has
                            not touched the rest of the pages */
} mx_class_stats_t;

/* Fills *stats, and classes[0 .. MX_CLASS_COUNT-1] unless classes is NULL. Never allocates. */
void mxi_stats_collect(mx_stats_t *stats, mx_class_stats_t *classes);
/* Writes the statistics to fd with write(2); never allocates. */
void mxi_stats_print(int fd);

#endif
