/* libFuzzer harness for the mx_ API: the input bytes are a program of allocation calls, run
 * against a shadow model of up to MAX_LIVE live blocks, with every promise of the API checked
 * after every step. Not a benchmark and not a random test: the fuzzer steers the sequence
 * towards new branches of the allocator, whose sources are compiled into this binary with
 * coverage, AddressSanitizer and UndefinedBehaviorSanitizer (on the allocator's own code; the
 * blocks come from mmap, which ASan does not track, so the model does the checking there).
 *
 * Input format, read left to right until it runs out (missing bytes read as 0):
 *   op byte, slot byte (slot = byte % MAX_LIVE), then the op's operands: sizes (a class byte
 *   then 1-4 bytes, see draw_size), alignments (one byte), element sizes (one byte).
 * What is checked, and where:
 *   - a new block: non-NULL for any request within the bounds below, aligned (16 bytes, 8 for
 *     requests of up to 8, or the requested alignment if larger), mx_usable_size >= requested,
 *     mx_owns, no overlap with any other live block over the requested sizes (size 0 counts as
 *     1 byte: distinct pointers), calloc zeroed, errno unchanged on success;
 *   - every block is filled up to its usable size with a pattern derived from its id, checked
 *     before every free and realloc, after mx_trim, and by the CHECK op; realloc's result must
 *     hold the old pattern over min(old size, new size);
 *   - failure paths (impossible sizes, overflowing products, invalid alignments): NULL or the
 *     error code, errno as glibc sets it, and the block passed to a failed realloc intact.
 * A violation prints one line naming the op and the block and aborts, so libFuzzer saves the
 * input as a crash-* file.
 *
 * Bounds: requests up to 64 MiB (sizes above 32 MiB are rare), at most LIVE_BYTES_MAX requested
 * bytes live at once (an allocation that would pass it is skipped), so a run stays far below
 * -rss_limit_mb. Blocks larger than FULL_PATTERN_MAX are patterned sparsely (head, tail and a
 * stripe around every slice boundary) to keep executions fast. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "malloc-x.h"

#define KIB ((size_t)1024)
#define MIB ((size_t)1024 * 1024)

#define MAX_LIVE 64
#define LIVE_BYTES_MAX (256 * MIB)
#define FULL_PATTERN_MAX (64 * KIB)
#define SPARSE_HEAD (16 * KIB)
#define SPARSE_TAIL (4 * KIB)
#define SPARSE_STRIDE (64 * KIB)
#define SPARSE_STRIPE 64
#define MAX_ALIGN_SHIFT 20 /* 1 MiB */
#define MIN_ALIGNMENT 16
/* Requests of up to TINY_SIZE bytes get blocks of that size, aligned to it. */
#define TINY_SIZE 8
#define TINY_ALIGNMENT 8
/* errno is set to this before every call; a successful call must leave it. */
#define ERRNO_SENTINEL 7777

typedef struct {
    uint8_t *p; /* NULL: slot empty */
    size_t size;
    size_t usable; /* the pattern covers [0, usable) */
    uint64_t id;
} block_t;

typedef struct {
    const uint8_t *data;
    size_t left;
} input_t;

static block_t g_blocks[MAX_LIVE];
static size_t g_live_bytes;
static uint64_t g_next_id;
static size_t g_step;
static const char *g_op = "?";
/* What posix_memalign must leave in *out when it fails. */
static char g_untouched;

enum {
    OP_MALLOC,
    OP_CALLOC,
    OP_REALLOC,
    OP_REALLOCARRAY,
    OP_POSIX_MEMALIGN,
    OP_ALIGNED_ALLOC,
    OP_MEMALIGN,
    OP_VALLOC,
    OP_FREE,
    OP_FREE2,
    OP_USABLE,
    OP_CHECK,
    OP_INVALID,
    OP_TRIM,
    OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    "malloc", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc", "memalign",
    "valloc", "free", "free", "usable_size", "check", "invalid", "trim",
};

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mx_fuzz: step %zu (%s): ", g_step, g_op);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* ---- input ---- */

static uint8_t take8(input_t *in)
{
    if (in->left == 0) {
        return 0;
    }
    in->left--;
    return *in->data++;
}

static uint64_t take(input_t *in, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v |= (uint64_t)take8(in) << (8 * i);
    }
    return v;
}

/* Sizes at and around the allocator's boundaries (size classes, slices, large and huge). */
static const size_t edge_sizes[] = {
    0,          1,          8,          15,         16,         17,        24,
    255,        256,        257,        1023,       1024,       1025,      4095,
    4096,       4097,       65535,      65536,      65537,      131071,    131072,
    131073,     32 * MIB - 1, 32 * MIB, 32 * MIB + 1, 64 * MIB - 4096, 64 * MIB,
};

/* Small (<= 1 KiB) most of the time, medium (<= 128 KiB) often, large (<= 32 MiB) sometimes,
 * huge (<= 64 MiB) rarely, and the boundary sizes above. */
static size_t draw_size(input_t *in)
{
    uint8_t c = take8(in);
    if (c < 140) {
        return (size_t)(take(in, 2) % (KIB + 1));
    }
    if (c < 210) {
        return KIB + 1 + (size_t)(take(in, 3) % (128 * KIB - KIB));
    }
    if (c < 238) {
        return 128 * KIB + 1 + (size_t)(take(in, 4) % (32 * MIB - 128 * KIB));
    }
    if (c < 244) {
        return 32 * MIB + 1 + (size_t)(take(in, 4) % (32 * MIB));
    }
    return edge_sizes[take8(in) % (sizeof(edge_sizes) / sizeof(edge_sizes[0]))];
}

static size_t draw_alignment(input_t *in)
{
    return (size_t)1 << (take8(in) % (MAX_ALIGN_SHIFT + 1));
}

static size_t draw_element(input_t *in)
{
    static const size_t elements[] = {1, 2, 3, 4, 8, 12, 16, 24, 32, 48, 64, 100, 128, 4096};
    return elements[take8(in) % (sizeof(elements) / sizeof(elements[0]))];
}

/* ---- block pattern ---- */

/* The blocks live in memory ASan does not track, and the pattern loops are not what the fuzzer
 * should steer by: instrumenting them (ASan checks, comparison tracing) only costs time, half
 * of each execution when they were. */
#define MX_FUZZ_PLAIN __attribute__((no_sanitize("address", "coverage")))

MX_FUZZ_PLAIN static uint64_t pattern_word(uint64_t id, size_t word)
{
    uint64_t x = id * 0xd6e8feb86659fd93ull + 0x6d616c6c6f632d78ull;
    x ^= x >> 32;
    return x ^ ((uint64_t)word * 0x9e3779b97f4a7c15ull);
}

MX_FUZZ_PLAIN static uint8_t pattern_byte(uint64_t id, size_t off)
{
    return (uint8_t)(pattern_word(id, off >> 3) >> (8 * (off & 7)));
}

MX_FUZZ_PLAIN static void fill_range(uint8_t *p, uint64_t id,
                                                                size_t off, size_t end)
{
    for (; off < end && (off & 7) != 0; off++) {
        p[off] = pattern_byte(id, off);
    }
    for (; off + 8 <= end; off += 8) {
        uint64_t w = pattern_word(id, off >> 3);
        memcpy(p + off, &w, 8);
    }
    for (; off < end; off++) {
        p[off] = pattern_byte(id, off);
    }
}

/* Returns the offset of the first byte in [off, end) that does not hold the pattern, or end. */
MX_FUZZ_PLAIN static size_t check_range(const uint8_t *p, uint64_t id,
                                                                   size_t off, size_t end)
{
    for (; off < end && (off & 7) != 0; off++) {
        if (p[off] != pattern_byte(id, off)) {
            return off;
        }
    }
    for (; off + 8 <= end; off += 8) {
        uint64_t w;
        memcpy(&w, p + off, 8);
        if (w != pattern_word(id, off >> 3)) {
            break;
        }
    }
    for (; off < end; off++) {
        if (p[off] != pattern_byte(id, off)) {
            return off;
        }
    }
    return end;
}

/* The patterned ranges of a block of `extent` bytes, clipped to [0, limit): all of it when
 * small, else the head, a stripe around every slice boundary, and the tail. */
typedef bool (*range_fn)(block_t *b, const uint8_t *p, size_t off, size_t end, void *ctx);

static bool for_each_range(block_t *b, const uint8_t *p, size_t extent, size_t limit, range_fn fn,
                           void *ctx)
{
    size_t stop = extent < limit ? extent : limit;
    if (extent <= FULL_PATTERN_MAX) {
        return fn(b, p, 0, stop, ctx);
    }
    if (!fn(b, p, 0, SPARSE_HEAD < stop ? SPARSE_HEAD : stop, ctx)) {
        return false;
    }
    for (size_t at = SPARSE_STRIDE; at < stop; at += SPARSE_STRIDE) {
        size_t end = at + SPARSE_STRIPE / 2;
        if (!fn(b, p, at - SPARSE_STRIPE / 2, end < stop ? end : stop, ctx)) {
            return false;
        }
    }
    size_t tail = extent - SPARSE_TAIL;
    return tail >= stop || fn(b, p, tail, stop, ctx);
}

static bool fill_fn(block_t *b, const uint8_t *p, size_t off, size_t end, void *ctx)
{
    (void)ctx;
    fill_range((uint8_t *)p, b->id, off, end);
    return true;
}

typedef struct {
    const char *when;
    uint64_t id; /* the id the pattern was written with */
} check_ctx_t;

static bool check_fn(block_t *b, const uint8_t *p, size_t off, size_t end, void *ctx)
{
    check_ctx_t *c = ctx;
    size_t bad = check_range(p, c->id, off, end);
    if (bad != end) {
        fail("%s: block id %llu at %p (size %zu, usable %zu) now at %p: byte %zu is 0x%02x, "
             "expected 0x%02x",
             c->when, (unsigned long long)c->id, (void *)b->p, b->size, b->usable, (void *)p,
             bad, p[bad], pattern_byte(c->id, bad));
    }
    return true;
}

static void check_block(block_t *b, const char *when)
{
    check_ctx_t c = {when, b->id};
    for_each_range(b, b->p, b->usable, b->usable, check_fn, &c);
}

typedef struct {
    const char *when;
} zero_ctx_t;

MX_FUZZ_PLAIN static bool zero_fn(block_t *b, const uint8_t *p,
                                                             size_t off, size_t end, void *ctx)
{
    for (size_t i = off; i < end; i++) {
        if (p[i] != 0) {
            fail("%s: block of %zu bytes at %p has 0x%02x at byte %zu", ((zero_ctx_t *)ctx)->when,
                 b->size, (void *)p, p[i], i);
        }
    }
    return true;
}

/* ---- the model ---- */

static void expect_errno_kept(const char *call)
{
    if (errno != ERRNO_SENTINEL) {
        fail("%s succeeded but changed errno from %d to %d", call, ERRNO_SENTINEL, errno);
    }
}

/* Admits a fresh (or moved) block of `size` requested bytes into slot b: every property a new
 * block must have, then the pattern up to its usable size. */
static void accept_block(block_t *b, void *p, size_t size, size_t alignment, const char *call)
{
    if (p == NULL) {
        fail("%s(%zu) returned NULL (errno %d)", call, size, errno);
    }
    expect_errno_kept(call);
    size_t natural = size <= TINY_SIZE ? TINY_ALIGNMENT : MIN_ALIGNMENT;
    if (alignment < natural) {
        alignment = natural;
    }
    if ((uintptr_t)p % alignment != 0) {
        fail("%s(%zu) returned %p, not aligned to %zu", call, size, p, alignment);
    }
    size_t usable = mx_usable_size(p);
    if (usable < size) {
        fail("%s(%zu) returned %p with usable size %zu", call, size, p, usable);
    }
    if (!mx_owns(p)) {
        fail("%s(%zu) returned %p, which mx_owns denies", call, size, p);
    }
    uintptr_t lo = (uintptr_t)p;
    uintptr_t hi = lo + (size ? size : 1);
    for (int i = 0; i < MAX_LIVE; i++) {
        block_t *o = &g_blocks[i];
        if (o == b || o->p == NULL) {
            continue;
        }
        uintptr_t olo = (uintptr_t)o->p;
        uintptr_t ohi = olo + (o->size ? o->size : 1);
        if (lo < ohi && olo < hi) {
            fail("%s(%zu) returned %p, overlapping live block id %llu at %p (size %zu)", call, size,
                 p, (unsigned long long)o->id, (void *)o->p, o->size);
        }
    }
    b->p = p;
    b->size = size;
    b->usable = usable;
    b->id = ++g_next_id;
    g_live_bytes += size;
    for_each_range(b, b->p, usable, usable, fill_fn, NULL);
}

static void release_block(block_t *b)
{
    check_block(b, "before free");
    errno = ERRNO_SENTINEL;
    mx_free(b->p);
    expect_errno_kept("free");
    g_live_bytes -= b->size;
    b->p = NULL;
}

static void free_all(void)
{
    for (int i = 0; i < MAX_LIVE; i++) {
        if (g_blocks[i].p != NULL) {
            release_block(&g_blocks[i]);
        }
    }
}

static void check_all(const char *when)
{
    for (int i = 0; i < MAX_LIVE; i++) {
        if (g_blocks[i].p != NULL) {
            check_block(&g_blocks[i], when);
        }
    }
}

/* Empties slot b for a new block; false if `size` more live bytes would pass the bound. */
static bool make_room(block_t *b, size_t size)
{
    if (b->p != NULL) {
        release_block(b);
    }
    return g_live_bytes + size <= LIVE_BYTES_MAX;
}

static void op_realloc(block_t *b, size_t size, size_t count, bool is_array)
{
    const char *call = is_array ? "reallocarray" : "realloc";
    size_t total = is_array ? count * size : size;
    size_t old_size = b->p ? b->size : 0;
    if (total > old_size && g_live_bytes + (total - old_size) > LIVE_BYTES_MAX) {
        return;
    }
    block_t old = *b;
    if (b->p != NULL) {
        check_block(b, "before realloc");
    }
    errno = ERRNO_SENTINEL;
    void *q = is_array ? mx_reallocarray(b->p, count, size) : mx_realloc(b->p, size);
    if (total == 0 && old.p != NULL) {
        /* glibc: realloc(p, 0) frees p and returns NULL. */
        if (q != NULL) {
            fail("%s(%p, 0) returned %p, not NULL", call, (void *)old.p, q);
        }
        expect_errno_kept(call);
        g_live_bytes -= old.size;
        b->p = NULL;
        return;
    }
    if (q == NULL) {
        fail("%s(%p, %zu) returned NULL (errno %d)", call, (void *)old.p, total, errno);
    }
    if (old.p != NULL) {
        size_t kept = old.size < total ? old.size : total;
        check_ctx_t c = {"realloc kept prefix", old.id};
        for_each_range(&old, q, old.usable, kept, check_fn, &c);
        g_live_bytes -= old.size;
        b->p = NULL;
    }
    accept_block(b, q, total, 0, call);
}

static void op_aligned(block_t *b, int op, size_t alignment, size_t size, bool pvalloc)
{
    if (!make_room(b, size)) {
        return;
    }
    void *p = NULL;
    errno = ERRNO_SENTINEL;
    switch (op) {
    case OP_POSIX_MEMALIGN: {
        void *out = &g_untouched; /* must stay untouched on failure */
        int rc = mx_posix_memalign(&out, alignment, size);
        if (alignment < sizeof(void *)) {
            /* glibc: EINVAL unless a power-of-two multiple of sizeof(void *); errno untouched. */
            if (rc != EINVAL || out != &g_untouched) {
                fail("posix_memalign(%zu, %zu) returned %d", alignment, size, rc);
            }
            expect_errno_kept("posix_memalign (EINVAL)");
            return;
        }
        if (rc != 0) {
            fail("posix_memalign(%zu, %zu) returned %d", alignment, size, rc);
        }
        p = out;
        break;
    }
    case OP_ALIGNED_ALLOC:
        p = mx_aligned_alloc(alignment, size);
        break;
    case OP_MEMALIGN:
        p = mx_memalign(alignment, size);
        break;
    default:
        /* valloc and pvalloc: page aligned; pvalloc rounds the size up to whole pages. */
        alignment = 4096;
        if (pvalloc) {
            p = mx_pvalloc(size);
            size = (size + alignment - 1) & ~(alignment - 1);
            accept_block(b, p, size, alignment, "pvalloc");
            return;
        }
        p = mx_valloc(size);
        break;
    }
    accept_block(b, p, size, alignment, op_names[op]);
}

/* Requests that must fail: impossible sizes, overflowing products, invalid alignments. */
static void op_invalid(block_t *b, input_t *in)
{
    static const size_t absurd[] = {
        SIZE_MAX,          SIZE_MAX - 4095,    SIZE_MAX / 2 + 1, (size_t)1 << 62,
        (size_t)PTRDIFF_MAX, (size_t)1 << 50, (size_t)1 << 47,
    };
    size_t huge = absurd[take8(in) % (sizeof(absurd) / sizeof(absurd[0]))];
    uint8_t kind = take8(in) % 9;
    void *p;
    errno = ERRNO_SENTINEL;
    switch (kind) {
    case 0:
        p = mx_malloc(huge);
        if (p != NULL || errno != ENOMEM) {
            fail("malloc(%zu) returned %p with errno %d, expected NULL and ENOMEM", huge, p, errno);
        }
        break;
    case 1: {
        size_t count = (size_t)1 << (33 + take8(in) % 31);
        size_t elem = SIZE_MAX / count + 1 + take8(in);
        p = mx_calloc(count, elem);
        if (p != NULL || errno != ENOMEM) {
            fail("calloc(%zu, %zu) returned %p with errno %d, expected NULL and ENOMEM", count,
                 elem, p, errno);
        }
        break;
    }
    case 2:
    case 3: {
        /* A failed realloc leaves the block as it was. */
        if (b->p != NULL) {
            check_block(b, "before failing realloc");
        }
        if (kind == 2) {
            p = mx_realloc(b->p, huge);
        } else {
            p = mx_reallocarray(b->p, huge / 2 + 1, 2 + take8(in) % 8);
        }
        if (p != NULL || errno != ENOMEM) {
            fail("%s(%p, overflow/%zu) returned %p with errno %d, expected NULL and ENOMEM",
                 kind == 2 ? "realloc" : "reallocarray", (void *)b->p, huge, p, errno);
        }
        if (b->p != NULL) {
            check_block(b, "after failing realloc");
        }
        break;
    }
    case 4: {
        /* Not a power of two, zero, or a power of two below sizeof(void *). */
        static const size_t bad[] = {0, 1, 2, 4, 24, 48, 72, 4096 + 8, 3 * 65536};
        size_t alignment = bad[take8(in) % (sizeof(bad) / sizeof(bad[0]))];
        void *out = &g_untouched;
        int rc = mx_posix_memalign(&out, alignment, 64);
        if (rc != EINVAL || out != &g_untouched || errno != ERRNO_SENTINEL) {
            fail("posix_memalign(alignment %zu) returned %d, errno %d, out %s", alignment, rc,
                 errno, out == &g_untouched ? "untouched" : "written");
        }
        break;
    }
    case 5: {
        void *out = &g_untouched;
        int rc = mx_posix_memalign(&out, 64, huge);
        if (rc != ENOMEM || out != &g_untouched) {
            fail("posix_memalign(64, %zu) returned %d, expected ENOMEM", huge, rc);
        }
        break;
    }
    case 6:
        /* glibc 2.36: an alignment above SIZE_MAX / 2 + 1 is EINVAL. */
        p = mx_memalign(SIZE_MAX / 2 + 2 + take8(in), 16);
        if (p != NULL || errno != EINVAL) {
            fail("memalign(> SIZE_MAX / 2 + 1) returned %p with errno %d, expected EINVAL", p,
                 errno);
        }
        break;
    case 7:
        p = mx_aligned_alloc(draw_alignment(in), huge);
        if (p != NULL || errno != ENOMEM) {
            fail("aligned_alloc(%zu) returned %p with errno %d, expected ENOMEM", huge, p, errno);
        }
        break;
    default:
        mx_free(NULL);
        if (mx_usable_size(NULL) != 0 || mx_owns(NULL) || mx_owns(&huge)) {
            fail("usable_size(NULL), owns(NULL) or owns(stack) not 0");
        }
        expect_errno_kept("free(NULL)");
        break;
    }
}

/* A non-power-of-two alignment is rounded up to the next power of two by memalign. */
static size_t memalign_effective(size_t alignment)
{
    if ((alignment & (alignment - 1)) == 0) {
        return alignment;
    }
    return (size_t)1 << (64 - __builtin_clzl(alignment));
}

static void run_step(input_t *in)
{
    uint8_t op_byte = take8(in);
    int op = op_byte % OP_COUNT;
    block_t *b = &g_blocks[take8(in) % MAX_LIVE];
    g_op = op_names[op];
    switch (op) {
    case OP_MALLOC: {
        size_t size = draw_size(in);
        if (make_room(b, size)) {
            errno = ERRNO_SENTINEL;
            accept_block(b, mx_malloc(size), size, 0, "malloc");
        }
        break;
    }
    case OP_CALLOC: {
        size_t elem = draw_element(in);
        size_t count = draw_size(in) / elem;
        size_t size = count * elem;
        if (make_room(b, size)) {
            errno = ERRNO_SENTINEL;
            void *p = mx_calloc(count, elem);
            if (p != NULL) {
                zero_ctx_t z = {"calloc not zeroed"};
                block_t tmp = {p, size, size, 0};
                for_each_range(&tmp, p, size, size, zero_fn, &z);
            }
            accept_block(b, p, size, 0, "calloc");
        }
        break;
    }
    case OP_REALLOC:
        op_realloc(b, draw_size(in), 1, false);
        break;
    case OP_REALLOCARRAY: {
        size_t elem = draw_element(in);
        op_realloc(b, elem, draw_size(in) / elem, true);
        break;
    }
    case OP_POSIX_MEMALIGN:
    case OP_ALIGNED_ALLOC:
    case OP_VALLOC: {
        size_t alignment = draw_alignment(in);
        op_aligned(b, op, alignment, draw_size(in), op_byte >= 128);
        break;
    }
    case OP_MEMALIGN: {
        /* Now and then an alignment that is not a power of two (glibc rounds it up). */
        size_t alignment = draw_alignment(in);
        if (op_byte >= 128 && alignment >= 4) {
            alignment += alignment / 2;
        }
        size_t size = draw_size(in);
        if (make_room(b, size)) {
            errno = ERRNO_SENTINEL;
            accept_block(b, mx_memalign(alignment, size), size, memalign_effective(alignment),
                         "memalign");
        }
        break;
    }
    case OP_FREE:
    case OP_FREE2:
        if (b->p != NULL) {
            release_block(b);
        }
        break;
    case OP_USABLE:
        if (b->p != NULL) {
            size_t usable = mx_usable_size(b->p);
            if (usable != b->usable) {
                fail("usable size of %p changed from %zu to %zu", (void *)b->p, b->usable, usable);
            }
            const uint8_t *last = b->p + (b->size ? b->size - 1 : 0);
            if (!mx_owns(b->p) || !mx_owns(last)) {
                fail("mx_owns denies live block %p (size %zu)", (void *)b->p, b->size);
            }
        }
        break;
    case OP_CHECK:
        check_all("check");
        break;
    case OP_INVALID:
        op_invalid(b, in);
        break;
    default:
        /* Purging must never touch a live block. Rare: one op byte value in 256; the others
         * check one block. */
        if (op_byte < OP_COUNT) {
            mx_trim(0);
            check_all("after mx_trim");
        } else if (b->p != NULL) {
            check_block(b, "check");
        }
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input_t in = {data, size};
    g_step = 0;
    while (in.left > 0) {
        run_step(&in);
        g_step++;
    }
    g_op = "final free";
    free_all();
    if (g_live_bytes != 0) {
        fail("live byte count %zu after freeing everything", g_live_bytes);
    }
    return 0;
}
