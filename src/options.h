/* Run-time options, read once from MALLOCX_* environment variables at initialization. */
#ifndef MX_OPTIONS_H
#define MX_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct mx_options {
    int64_t purge_delay_ms; /* MALLOCX_PURGE_DELAY: ms a free page stays resident (0: none) */
    bool show_stats;        /* MALLOCX_SHOW_STATS: print statistics to stderr at exit */
    bool verbose;           /* MALLOCX_VERBOSE: report bad option values */
} mx_options_t;

extern mx_options_t mxi_options;

/* Reads the environment without allocating; a bad value keeps the default (and is reported
 * only when MALLOCX_VERBOSE is set, since the library prints nothing unasked). */
void mxi_options_init(void);

#endif
