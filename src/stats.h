/* Statistics, computed on demand by walking the segments: no counter is kept on a fast path. */
#ifndef MX_STATS_H
#define MX_STATS_H

#include <stddef.h>

typedef struct mx_stats {
    size_t mapped_bytes;  /* address space in segments and huge mappings */
    size_t in_use_bytes;  /* bytes of allocated blocks (as block sizes) */
    size_t free_bytes;    /* mapped but not in allocated blocks */
    size_t dirty_bytes;   /* free slices not yet returned to the OS */
    size_t segment_count;
    size_t huge_count;
    size_t huge_bytes;
} mx_stats_t;

void mxi_stats_get(mx_stats_t *stats);
/* Writes the statistics to fd with write(2); never allocates. */
void mxi_stats_print(int fd);

#endif
