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

/* Writes a summary of the allocator's memory to stderr with write(2); never allocates. */
void mx_stats_print(void);

/* Run-time options. Each starts from the environment (README.md, "Options"), read once when
 * the allocator initializes; mx_option_set changes one afterwards, for allocator work that
 * follows the call (a page freed earlier keeps the purge time it was given). */
typedef enum mx_option {
    MX_OPTION_PURGE_DELAY,  /* MALLOCX_PURGE_DELAY: milliseconds, 0..3600000 */
    MX_OPTION_RETAIN_LIMIT, /* MALLOCX_RETAIN_LIMIT: bytes, >= 0; -1 for auto (cgroup-derived) */
    MX_OPTION_BACKGROUND,   /* MALLOCX_BACKGROUND: 0 or 1. Set to 1 at run time, the purging
                               thread starts within the call; set to 0, it stays but idles */
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
