/* Run-time options, read once from MALLOCX_* environment variables at initialization. */
#ifndef MX_OPTIONS_H
#define MX_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

/* The sentinel of retain_limit: no byte budget was asked for, so the purge layer derives one
 * from the process's cgroup memory limit (or keeps none). */
#define MX_RETAIN_LIMIT_AUTO ((int64_t)-1)

typedef struct mx_options {
    int64_t purge_delay_ms; /* MALLOCX_PURGE_DELAY: ms a free page stays resident (0: none) */
    int64_t retain_limit;   /* MALLOCX_RETAIN_LIMIT: bytes of free memory kept resident for
                               reuse beyond which purging does not wait for the delay */
    bool background;        /* MALLOCX_BACKGROUND: a thread purges on schedule */
    bool show_stats;        /* MALLOCX_SHOW_STATS: print statistics to stderr at exit */
    bool verbose;           /* MALLOCX_VERBOSE: report bad option values */
} mx_options_t;

extern mx_options_t mxi_options;

/* Reads the environment without allocating; a bad value keeps the default (and is reported
 * only when MALLOCX_VERBOSE is set, since the library prints nothing unasked). */
void mxi_options_init(void);

#endif
