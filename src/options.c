/* The run-time options table (see options.h). Written once during process initialization,
 * before any other thread can be inside the allocator; read-only afterwards. */
#include "options.h"

#include <stddef.h>
#include <stdlib.h>

#include "config.h"
#include "fmt.h"

mx_options_t mxi_options = {
    .purge_delay_ms = MX_PURGE_DELAY_MS,
    .retain_limit = MX_RETAIN_LIMIT_AUTO,
    .background = false,
    .show_stats = false,
    .verbose = false,
};

typedef struct option_spec {
    const char *name;
    int64_t *int_value;
    bool *bool_value;
    int64_t max;
} option_spec_t;

/* getenv does not allocate; strtol would be fine too, but parsing by hand keeps errno and
 * locale out of initialization. */
static bool option_parse(const char *text, int64_t max, int64_t *out)
{
    int64_t v = 0;
    if (*text == '\0') {
        return false;
    }
    for (; *text != '\0'; text++) {
        if (*text < '0' || *text > '9') {
            return false;
        }
        v = v * 10 + (*text - '0');
        if (v > max) {
            return false;
        }
    }
    *out = v;
    return true;
}

static void option_warn(const char *name, const char *value)
{
    char buf[256];
    mx_fmt_t f;
    mxi_fmt_init(&f, buf, sizeof(buf));
    mxi_fmt_str(&f, "malloc-x: ignoring ");
    mxi_fmt_str(&f, name);
    mxi_fmt_str(&f, "=");
    mxi_fmt_str(&f, value);
    mxi_fmt_str(&f, " (not a number in range); using the default\n");
    mxi_fmt_write(&f, 2);
}

void mxi_options_init(void)
{
    const option_spec_t specs[] = {
        {"MALLOCX_PURGE_DELAY", &mxi_options.purge_delay_ms, NULL, 3600 * 1000},
        {"MALLOCX_SHOW_STATS", NULL, &mxi_options.show_stats, 1},
        {"MALLOCX_VERBOSE", NULL, &mxi_options.verbose, 1},
    };
    const char *bad[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        const char *text = getenv(specs[i].name);
        if (text == NULL) {
            continue;
        }
        int64_t v;
        if (!option_parse(text, specs[i].max, &v)) {
            bad[i] = text;
            continue;
        }
        if (specs[i].int_value != NULL) {
            *specs[i].int_value = v;
        } else {
            *specs[i].bool_value = v != 0;
        }
    }
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        if (bad[i] != NULL && mxi_options.verbose) {
            option_warn(specs[i].name, bad[i]);
        }
    }
}
