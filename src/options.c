/* Run-time options (see options.h).
 *
 * Where a value comes from, weakest first: the built-in default; glibc's malloc settings
 * (GLIBC_TUNABLES over the older MALLOC_*_ variables); the MALLOCX_PROFILE preset; the
 * option's own MALLOCX_* variable. glibc's settings rank lowest because they are addressed to
 * glibc's malloc and are often set for a whole system or container image; anything named
 * MALLOCX_ was meant for this allocator.
 *
 * mxi_options_init runs once, on the thread that initializes the process, before any other
 * thread can be inside the allocator, so it writes the fields plainly. Afterwards only
 * mxi_option_set writes them, with relaxed atomic stores. No locks.
 *
 * Nothing here allocates: getenv returns a pointer into the environment, and numbers are
 * parsed by hand so that no libc conversion (with its locale and errno) runs while the
 * allocator is only half initialized. */
#include "options.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "background.h"
#include "config.h"
#include "fmt.h"
#include "init.h"

mx_options_t mxi_options = {
    .purge_delay_ms = MX_PURGE_DELAY_MS,
    .retain_limit = MX_OPTION_AUTO,
    .background = MX_OPTION_AUTO,
    .show_stats = false,
    .verbose = false,
};

/* An hour: a longer delay is indistinguishable from never purging, and the bound keeps
 * delay arithmetic on millisecond clocks far from overflow. */
#define PURGE_DELAY_MAX_MS ((int64_t)3600 * 1000)

typedef enum option_kind {
    KIND_NUMBER, /* decimal, 0..max */
    KIND_BYTES,  /* decimal bytes with an optional K, M or G suffix */
} option_kind_t;

typedef struct option_spec {
    const char *env; /* the variable, also the name in messages */
    option_kind_t kind;
    int64_t max;          /* the minimum is 0 for all */
    bool has_auto;        /* "auto" is a value too (MX_OPTION_AUTO) */
    const char *expected; /* what a bad value should have been, for its warning */
} option_spec_t;

/* Indexed by mx_option_t. */
static const option_spec_t option_specs[] = {
    [MX_OPTION_PURGE_DELAY] = {"MALLOCX_PURGE_DELAY", KIND_NUMBER, PURGE_DELAY_MAX_MS, false,
                               "milliseconds 0..3600000"},
    [MX_OPTION_RETAIN_LIMIT] = {"MALLOCX_RETAIN_LIMIT", KIND_BYTES, INT64_MAX, true,
                                "bytes with an optional K, M or G suffix, or auto"},
    [MX_OPTION_BACKGROUND] = {"MALLOCX_BACKGROUND", KIND_NUMBER, 1, true, "0, 1 or auto"},
    [MX_OPTION_SHOW_STATS] = {"MALLOCX_SHOW_STATS", KIND_NUMBER, 1, false, "0 or 1"},
    [MX_OPTION_VERBOSE] = {"MALLOCX_VERBOSE", KIND_NUMBER, 1, false, "0 or 1"},
};

#define OPTION_COUNT (sizeof(option_specs) / sizeof(option_specs[0]))

/* A preset leaves an option with this value as it was. */
#define PROFILE_KEEP INT64_MIN

typedef struct profile {
    const char *name;
    int64_t value[OPTION_COUNT];
} profile_t;

static const profile_t profiles[] = {
    /* throughput: a free page waits ten times longer before it is purged, so a program whose
     * footprint swings (request bursts, batch phases) reuses resident pages instead of paying
     * madvise and then a page fault per 4 KiB to get them back. */
    {"throughput",
     {
         [MX_OPTION_PURGE_DELAY] = 100,
         [MX_OPTION_RETAIN_LIMIT] = PROFILE_KEEP,
         [MX_OPTION_BACKGROUND] = PROFILE_KEEP,
         [MX_OPTION_SHOW_STATS] = PROFILE_KEEP,
         [MX_OPTION_VERBOSE] = PROFILE_KEEP,
     }},
    /* memory: free pages go back after 1 ms (still reused within a burst of frees and
     * allocations) and at most 8 MiB of free memory waits at all, which bounds what an idle
     * program holds even before it has grown enough to get the background thread. */
    {"memory",
     {
         [MX_OPTION_PURGE_DELAY] = 1,
         [MX_OPTION_RETAIN_LIMIT] = (int64_t)8 << 20,
         [MX_OPTION_BACKGROUND] = PROFILE_KEEP,
         [MX_OPTION_SHOW_STATS] = PROFILE_KEEP,
         [MX_OPTION_VERBOSE] = PROFILE_KEEP,
     }},
    /* latency: purging moves to the background thread, so no allocating thread stalls in
     * madvise; the delay stays the default, since memory use is not what is traded. */
    {"latency",
     {
         [MX_OPTION_PURGE_DELAY] = MX_PURGE_DELAY_MS,
         [MX_OPTION_RETAIN_LIMIT] = PROFILE_KEEP,
         [MX_OPTION_BACKGROUND] = 1,
         [MX_OPTION_SHOW_STATS] = PROFILE_KEEP,
         [MX_OPTION_VERBOSE] = PROFILE_KEEP,
     }},
};

static bool option_in_range(mx_option_t option, long long value)
{
    const option_spec_t *spec = &option_specs[option];
    if (spec->has_auto && value == MX_OPTION_AUTO) {
        return true;
    }
    return value >= 0 && value <= spec->max;
}

static int64_t option_load(mx_option_t option)
{
    switch (option) {
    case MX_OPTION_PURGE_DELAY:
        return __atomic_load_n(&mxi_options.purge_delay_ms, __ATOMIC_RELAXED);
    case MX_OPTION_RETAIN_LIMIT:
        return __atomic_load_n(&mxi_options.retain_limit, __ATOMIC_RELAXED);
    case MX_OPTION_BACKGROUND:
        return __atomic_load_n(&mxi_options.background, __ATOMIC_RELAXED);
    case MX_OPTION_SHOW_STATS:
        return __atomic_load_n(&mxi_options.show_stats, __ATOMIC_RELAXED);
    case MX_OPTION_VERBOSE:
        return __atomic_load_n(&mxi_options.verbose, __ATOMIC_RELAXED);
    }
    return -1;
}

/* The value must be in range. Relaxed stores: other threads read these fields with plain
 * loads, and need only see a whole value, old or new. */
static void option_store(mx_option_t option, int64_t value)
{
    switch (option) {
    case MX_OPTION_PURGE_DELAY:
        __atomic_store_n(&mxi_options.purge_delay_ms, value, __ATOMIC_RELAXED);
        break;
    case MX_OPTION_RETAIN_LIMIT:
        __atomic_store_n(&mxi_options.retain_limit, value, __ATOMIC_RELAXED);
        break;
    case MX_OPTION_BACKGROUND:
        __atomic_store_n(&mxi_options.background, value, __ATOMIC_RELAXED);
        break;
    case MX_OPTION_SHOW_STATS:
        __atomic_store_n(&mxi_options.show_stats, value != 0, __ATOMIC_RELAXED);
        break;
    case MX_OPTION_VERBOSE:
        __atomic_store_n(&mxi_options.verbose, value != 0, __ATOMIC_RELAXED);
        break;
    }
}

static bool text_equals(const char *a, const char *a_end, const char *b)
{
    for (; a < a_end; a++, b++) {
        if (*b == '\0' || *a != *b) {
            return false;
        }
    }
    return *b == '\0';
}

static const char *text_end(const char *s)
{
    while (*s != '\0') {
        s++;
    }
    return s;
}

/* Decimal digits at *p, advancing it past them. False if there are none or the number
 * exceeds max (checked before each step, so nothing wraps). */
static bool parse_decimal(const char **p, int64_t max, int64_t *out)
{
    const char *s = *p;
    int64_t v = 0;
    if (*s < '0' || *s > '9') {
        return false;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        int d = *s - '0';
        if (v > max / 10 || v * 10 > max - d) {
            return false;
        }
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return true;
}

/* A MALLOCX_* value. Strict: no sign, no spaces, nothing after the number but a suffix. */
static bool option_parse(const option_spec_t *spec, const char *text, int64_t *out)
{
    const char *end = text_end(text);
    if (spec->has_auto && text_equals(text, end, "auto")) {
        *out = MX_OPTION_AUTO;
        return true;
    }
    int64_t v;
    if (!parse_decimal(&text, spec->max, &v)) {
        return false;
    }
    if (spec->kind == KIND_BYTES && text + 1 == end) {
        unsigned shift;
        switch (*text) {
        case 'K':
        case 'k':
            shift = 10;
            break;
        case 'M':
        case 'm':
            shift = 20;
            break;
        case 'G':
        case 'g':
            shift = 30;
            break;
        default:
            return false;
        }
        if (v > spec->max >> shift) {
            return false;
        }
        v <<= shift;
        text++;
    }
    if (text != end) {
        return false;
    }
    *out = v;
    return true;
}

/* The value as a variable would spell it: auto, or bytes with the largest exact suffix. */
static void option_fmt_value(mx_fmt_t *f, const option_spec_t *spec, int64_t v)
{
    if (spec->has_auto && v == MX_OPTION_AUTO) {
        mxi_fmt_str(f, "auto");
        return;
    }
    static const char suffixes[] = "GMK";
    unsigned shift = 30;
    for (size_t i = 0; spec->kind == KIND_BYTES && v != 0 && i < 3; i++, shift -= 10) {
        if ((v & (((int64_t)1 << shift) - 1)) == 0) {
            mxi_fmt_u64(f, (uint64_t)v >> shift);
            char suffix[2] = {suffixes[i], '\0'};
            mxi_fmt_str(f, suffix);
            return;
        }
    }
    mxi_fmt_u64(f, (uint64_t)v);
}

/* Echoes at most 64 bytes of what the user wrote, control characters replaced, so the
 * warning stays one line of bounded length whatever the variable holds. */
static void option_fmt_echo(mx_fmt_t *f, const char *text)
{
    char shown[68];
    size_t n = 0;
    for (; *text != '\0' && n < 64; text++) {
        unsigned char c = (unsigned char)*text;
        shown[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (*text != '\0') {
        shown[n++] = '.';
        shown[n++] = '.';
        shown[n++] = '.';
    }
    shown[n] = '\0';
    mxi_fmt_str(f, shown);
}

/* "malloc-x: ignoring NAME=VALUE (expected ...); using ..." on stderr. */
static void option_warn(const char *name, const char *text, const char *expected,
                        const option_spec_t *using_spec, int64_t using_value)
{
    char buf[256];
    mx_fmt_t f;
    mxi_fmt_init(&f, buf, sizeof(buf));
    mxi_fmt_str(&f, "malloc-x: ignoring ");
    mxi_fmt_str(&f, name);
    mxi_fmt_str(&f, "=");
    option_fmt_echo(&f, text);
    mxi_fmt_str(&f, " (expected ");
    mxi_fmt_str(&f, expected);
    mxi_fmt_str(&f, "); using ");
    if (using_spec != NULL) {
        option_fmt_value(&f, using_spec, using_value);
    } else {
        mxi_fmt_str(&f, "no profile");
    }
    mxi_fmt_str(&f, "\n");
    mxi_fmt_write(&f, 2);
}

/* A number as glibc's tunables parser reads one (strtoul with base 0: 0x for hexadecimal, a
 * leading 0 for octal), over [s, end). Values past INT64_MAX saturate: a huge trim threshold
 * is how programs ask glibc never to trim, and a limit no process reaches leaves only the
 * purge delay to return free memory, the nearest thing here. */
static bool glibc_parse_number(const char *s, const char *end, int64_t *out)
{
    unsigned base = 10;
    if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (end - s > 1 && s[0] == '0') {
        base = 8;
        s++;
    }
    if (s == end) {
        return false;
    }
    int64_t v = 0;
    for (; s < end; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9') {
            d = (unsigned)(*s - '0');
        } else if (*s >= 'a' && *s <= 'f') {
            d = (unsigned)(*s - 'a' + 10);
        } else if (*s >= 'A' && *s <= 'F') {
            d = (unsigned)(*s - 'A' + 10);
        } else {
            return false;
        }
        if (d >= base) {
            return false;
        }
        v = v > (INT64_MAX - (int64_t)d) / (int64_t)base ? INT64_MAX : v * (int64_t)base + d;
    }
    *out = v;
    return true;
}

/* glibc's trim threshold is how much free memory its malloc keeps at the top of the heap
 * before giving any back: the nearest thing here is the retain limit. A value glibc would
 * reject is ignored without a word, as glibc ignores it. */
static void glibc_trim_threshold_apply(const char *s, const char *end)
{
    int64_t v;
    if (glibc_parse_number(s, end, &v)) {
        mxi_options.retain_limit = v;
    }
}

/* "name=value:name=value". Only glibc.malloc.trim_threshold means anything here; the other
 * malloc tunables (arena_max, arena_test, mmap_threshold, mmap_max, top_pad, perturb, check,
 * mxfast, hugetlb, tcache_*) describe structures malloc-x does not have, and the rest belong
 * to other parts of glibc. None of them is worth a warning: they were set for glibc. */
static void glibc_tunables_apply(const char *s)
{
    while (*s != '\0') {
        const char *end = s;
        while (*end != '\0' && *end != ':') {
            end++;
        }
        const char *eq = s;
        while (eq < end && *eq != '=') {
            eq++;
        }
        if (eq < end && text_equals(s, eq, "glibc.malloc.trim_threshold")) {
            glibc_trim_threshold_apply(eq + 1, end);
        }
        s = *end == ':' ? end + 1 : end;
    }
}

/* glibc's malloc settings. GLIBC_TUNABLES is read last so that it wins over the older
 * MALLOC_TRIM_THRESHOLD_, the way a newer interface should. */
static void options_from_glibc(void)
{
    const char *text = getenv("MALLOC_TRIM_THRESHOLD_");
    if (text != NULL) {
        glibc_trim_threshold_apply(text, text_end(text));
    }
    text = getenv("GLIBC_TUNABLES");
    if (text != NULL) {
        glibc_tunables_apply(text);
    }
}

static void options_from_profile(void)
{
    const char *text = getenv("MALLOCX_PROFILE");
    if (text == NULL || *text == '\0') {
        return;
    }
    const char *end = text_end(text);
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
        if (text_equals(text, end, profiles[i].name)) {
            for (size_t option = 0; option < OPTION_COUNT; option++) {
                if (profiles[i].value[option] != PROFILE_KEEP) {
                    option_store((mx_option_t)option, profiles[i].value[option]);
                }
            }
            return;
        }
    }
    option_warn("MALLOCX_PROFILE", text, "throughput, memory or latency", NULL, 0);
}

/* An empty variable counts as unset: `MALLOCX_PROFILE=$PROFILE` with no profile is a shell
 * idiom, not a mistake. */
static void options_from_variables(void)
{
    for (size_t option = 0; option < OPTION_COUNT; option++) {
        const option_spec_t *spec = &option_specs[option];
        const char *text = getenv(spec->env);
        if (text == NULL || *text == '\0') {
            continue;
        }
        int64_t v;
        if (option_parse(spec, text, &v)) {
            option_store((mx_option_t)option, v);
        } else {
            option_warn(spec->env, text, spec->expected, spec, option_load((mx_option_t)option));
        }
    }
}

/* One line with every option as a variable would set it, so a user can check what a profile
 * or a glibc setting came to. */
static void options_print(void)
{
    char buf[256];
    mx_fmt_t f;
    mxi_fmt_init(&f, buf, sizeof(buf));
    mxi_fmt_str(&f, "malloc-x:");
    for (size_t option = 0; option < OPTION_COUNT; option++) {
        mxi_fmt_str(&f, " ");
        mxi_fmt_str(&f, option_specs[option].env);
        mxi_fmt_str(&f, "=");
        option_fmt_value(&f, &option_specs[option], option_load((mx_option_t)option));
    }
    mxi_fmt_str(&f, "\n");
    mxi_fmt_write(&f, 2);
}

void mxi_options_init(void)
{
    options_from_glibc();
    options_from_profile();
    options_from_variables();
    if (mxi_options.verbose) {
        options_print();
    }
}

long long mxi_option_get(mx_option_t option)
{
    if ((unsigned)option >= OPTION_COUNT) {
        errno = EINVAL;
        return -1;
    }
    int saved = errno;
    mxi_process_init();
    errno = saved;
    return option_load(option);
}

int mxi_option_set(mx_option_t option, long long value)
{
    if ((unsigned)option >= OPTION_COUNT || !option_in_range(option, value)) {
        return EINVAL;
    }
    int saved = errno;
    mxi_process_init();
    errno = saved;
    option_store(option, value);
    if (option == MX_OPTION_BACKGROUND) {
        /* The caller is outside the allocator: a safe place to create the thread, if the new
         * value asks for it now. */
        mxi_background_start();
    }
    return 0;
}
