/* Run-time options: read once from the environment at initialization (MALLOCX_* variables,
 * the MALLOCX_PROFILE presets and glibc's malloc settings), changed later only through
 * mx_option_set. */
#ifndef MX_OPTIONS_H
#define MX_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "malloc-x.h"

/* The value `auto` of an option that has one: for retain_limit, no byte budget was asked for,
 * so the purge layer derives one from the process's cgroup memory limit (or keeps none); for
 * background, the thread starts once the process has grown (background.h). */
#define MX_OPTION_AUTO ((int64_t)-1)

/* Fields are plain so the allocator reads them with ordinary loads. After initialization only
 * mxi_option_set writes them, with relaxed atomic stores of whole fields: a reader on another
 * thread sees the old value or the new one, never a torn mix, and no ordering with other
 * memory is promised (none is needed: each option is a hint read on its own). */
typedef struct mx_options {
    int64_t purge_delay_ms; /* MALLOCX_PURGE_DELAY: ms a free page stays resident (0: none) */
    int64_t retain_limit;   /* MALLOCX_RETAIN_LIMIT: bytes of free memory kept resident for
                               reuse beyond which purging does not wait for the delay */
    int64_t background;     /* MALLOCX_BACKGROUND: a thread purges on schedule: 1 from the
                               start, MX_OPTION_AUTO once the process has grown, 0 never */
    bool show_stats;        /* MALLOCX_SHOW_STATS: print statistics to stderr at exit */
    bool verbose;           /* MALLOCX_VERBOSE: print the options in effect at start */
} mx_options_t;

extern mx_options_t mxi_options;

/* Reads the environment once, without allocating. A bad MALLOCX_* value keeps the previous
 * value and prints one warning line to stderr: the user set the variable, so the option asked
 * for it. glibc's settings that mean nothing here are accepted silently. */
void mxi_options_init(void);

/* mx_option_get / mx_option_set (malloc-x.h); both initialize the process first, so a value
 * set before the first allocation is not overwritten by the environment afterwards. */
long long mxi_option_get(mx_option_t option);
int mxi_option_set(mx_option_t option, long long value);

#endif
