/* malloc-x: a drop-in replacement for the C allocator.
 *
 * Loading libmalloc-x.so (LD_PRELOAD, or linking -lmalloc-x) replaces malloc, free, calloc,
 * realloc, posix_memalign and the rest of the glibc allocation API for the whole process.
 * The mx_ functions below are the same allocator under its own names, for programs that want
 * to call it explicitly; a pointer from one family may be freed by the other. */
#ifndef MALLOC_X_H
#define MALLOC_X_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MX_VERSION_MAJOR 0
#define MX_VERSION_MINOR 1
#define MX_VERSION_PATCH 0
#define MX_VERSION_STRING "0.1.0"

/* The standard API under its own names; semantics (errno, edge cases) are glibc's. */
void *mx_malloc(size_t size);
void *mx_calloc(size_t count, size_t size);
void *mx_realloc(void *ptr, size_t size);
void *mx_reallocarray(void *ptr, size_t count, size_t size);
void mx_free(void *ptr);
size_t mx_usable_size(const void *ptr);
int mx_posix_memalign(void **out, size_t alignment, size_t size);
void *mx_aligned_alloc(size_t alignment, size_t size);
void *mx_memalign(size_t alignment, size_t size);
void *mx_valloc(size_t size);
void *mx_pvalloc(size_t size);

/* "MAJOR.MINOR.PATCH" of the loaded library. */
const char *mx_version(void);

/* 1 when ptr lies in memory that malloc-x manages (a live or free block, or its metadata);
 * 0 for NULL and for any other address. Never faults. */
int mx_owns(const void *ptr);

/* Returns every free page to the OS now; 1 if any memory was released, else 0.
 * `pad` is accepted for malloc_trim compatibility and ignored. */
int mx_trim(size_t pad);

/* The allocator's memory, measured on demand by mx_stats_get: nothing is counted on the
 * allocation paths. The resident figures are the kernel's (mincore) for malloc-x's own
 * mappings (segments, huge blocks' mappings, the chunks heap objects are carved from); every
 * resident byte is in exactly one of the six parts, so they add up to resident_bytes. Other
 * threads keep running while the figures are taken, so a part may be a moment old.
 *
 * Small blocks live in pages of one size class owned by a thread. In a running thread's page
 * the resident bytes are split three ways: blocks the program holds (block size each), blocks
 * other threads freed that the owner has not collected yet (block size each), and the rest;
 * the first two are capped by the page's resident bytes, in that order, since a block handed
 * out but never written is not resident. */
typedef struct mx_stats {
    size_t resident_bytes;      /* the sum of the six parts below */
    size_t live_bytes;          /* blocks the program holds in running threads' pages, and the
                                   resident bytes of large and huge blocks */
    size_t free_in_pages_bytes; /* free blocks (and touched, not yet carved memory) in running
                                   threads' pages, kept for the next malloc */
    size_t remote_free_bytes;   /* blocks freed by other threads than the page's owner, which
                                   the owner has not collected yet */
    size_t abandoned_bytes;     /* pages of exited threads waiting for a thread to adopt them,
                                   blocks in use and free alike */
    size_t purge_pending_bytes; /* free pages waiting for the purge delay to return them to the
                                   OS (a purged page is not resident, so it counts 0) */
    size_t metadata_bytes;      /* segment headers (page descriptors, slice maps) and heaps */

    size_t mapped_bytes;      /* address space: segment_bytes + huge_bytes + heap objects' chunks */
    size_t segment_count;     /* 64 MiB segments that small and large blocks come from */
    size_t segment_bytes;     /* address space of those segments */
    size_t huge_count;        /* blocks in mappings of their own (above 32 MiB) */
    size_t huge_bytes;        /* address space of those mappings */
    size_t in_use_bytes;      /* blocks the program holds in segments (huge ones excluded), by
                                 block size whether resident or not; exited threads' included */
    size_t purge_calls;       /* madvise calls that returned free pages to the OS */
    size_t purged_bytes;      /* bytes those calls covered */
    size_t segments_unmapped; /* empty segments unmapped */
    size_t heaps_collected;   /* idle or exited threads' heaps collected by other threads */
    size_t pages_collected;   /* empty pages those collections returned */
} mx_stats_t;

/* Fills *stats; never allocates. Costs a walk of every page and a mincore call per 16 MiB
 * mapped, so call it when asked, not in a loop. */
void mx_stats_get(mx_stats_t *stats);

/* Writes mx_stats_get's figures, a table of the size classes in use and the purge counters to
 * stderr with write(2); never allocates. */
void mx_stats_print(void);

/* Run-time options. Each starts from the environment (README.md, "Options"), read once when
 * the allocator initializes; mx_option_set changes one afterwards, for allocator work that
 * follows the call (a page freed earlier keeps the purge time it was given). */
typedef enum mx_option {
    MX_OPTION_PURGE_DELAY,  /* MALLOCX_PURGE_DELAY: milliseconds, 0..3600000 */
    MX_OPTION_RETAIN_LIMIT, /* MALLOCX_RETAIN_LIMIT: bytes, >= 0; -1 for auto (cgroup-derived) */
    MX_OPTION_BACKGROUND,   /* MALLOCX_BACKGROUND: 0, 1, or -1 for auto (the default: once
                               the process has grown to 32 MiB of pages). Set at run time to
                               a value that asks for it now, the purging thread starts within
                               the call; set to 0, it stays but idles */
    MX_OPTION_SHOW_STATS,   /* MALLOCX_SHOW_STATS: 0 or 1, statistics to stderr at exit */
    MX_OPTION_VERBOSE,      /* MALLOCX_VERBOSE: 0 or 1 */
} mx_option_t;

/* The option's current value; for an unknown option, -1 with errno set to EINVAL (check
 * errno to tell that from RETAIN_LIMIT's auto). */
long long mx_option_get(mx_option_t option);

/* Sets the option; 0, or EINVAL (nothing changed) for an unknown option or a value out of
 * the option's range. Safe to call from any thread at any time. */
int mx_option_set(mx_option_t option, long long value);

#ifdef __cplusplus
}
#endif

#endif
