/* Statistics (mx_stats_t in malloc-x.h), computed on demand by walking the segments and heap
 * chunks and asking the kernel which of their pages are resident: no counter is kept on a
 * fast path, so statistics cost nothing until they are asked for. */
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
    size_t carved_count; /* blocks carved out of the pages so far; the rest of the pages is
                            untouched */
} mx_class_stats_t;

/* Fills *stats, and classes[0 .. MX_CLASS_COUNT-1] unless classes is NULL. Never allocates. */
void mxi_stats_collect(mx_stats_t *stats, mx_class_stats_t *classes);
/* Writes the statistics to fd with write(2); never allocates. */
void mxi_stats_print(int fd);

#endif
