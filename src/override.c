/* The public entry points: the mx_ API and the standard names. Each is a thin call into the
 * layer that implements it; the standard names are aliases of the mx_ functions, so both are
 * the same code at the same address (an alias must live in the file that defines its target,
 * which is why the mx_ definitions are here too). Argument checks that differ between entry
 * points follow glibc 2.36, quoted where they are. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>

#include "alloc.h"
#include "free.h"
#include "malloc-x.h"
#include "options.h"
#include "os.h"
#include "purge.h"
#include "realloc.h"
#include "segment.h"
#include "size_class.h"
#include "stats.h"

/* Every entry that may touch the calling thread's heap runs inside mxi_enter/mxi_leave
 * (heap.h), so that a collector of idle heaps can tell the thread is not using it. */
static void *override_aligned(size_t alignment, size_t size)
{
    mxi_enter();
    void *p = mxi_alloc_aligned(alignment, size);
    mxi_leave();
    return p;
}

#define MX_ALIAS(target) __attribute__((alias(#target), visibility("default"), used))

/* malloc and free start on a cache line: left where the linker happened to put them, they
 * made bench's LIFO and FIFO loops 5 to 6% slower after changes to other files, with the same
 * instructions (malloc had moved from the start of a line to 48 bytes into one). */
MX_EXPORT MX_ALIGNED(64) void *mx_malloc(size_t size)
{
    mxi_enter();
    return mxi_alloc_fast(size, /*leaves=*/true);
}

MX_EXPORT MX_ALIGNED(64) void mx_free(void *p)
{
    mxi_enter();
    mxi_free_fast(p, /*leaves=*/true);
}

MX_EXPORT void *mx_calloc(size_t count, size_t size)
{
    mxi_enter();
    return mxi_alloc_zeroed_leave(count, size);
}

MX_EXPORT void *mx_realloc(void *p, size_t size)
{
    mxi_enter();
    return mxi_realloc_leave(p, size);
}

MX_EXPORT void *mx_reallocarray(void *p, size_t count, size_t size)
{
    mxi_enter();
    return mxi_reallocarray_leave(p, count, size);
}

MX_EXPORT size_t mx_usable_size(const void *p)
{
    if (p == NULL) {
        return 0;
    }
    return mxi_free_usable_from(mxi_free_check("malloc_usable_size", p), p);
}

/* glibc: "if (alignment % sizeof (void *) != 0 || !powerof2 (alignment / sizeof (void *))
 * || alignment == 0) return EINVAL", errno untouched; ENOMEM (errno set too) on failure. */
MX_EXPORT int mx_posix_memalign(void **out, size_t alignment, size_t size)
{
    if (alignment == 0 || alignment % sizeof(void *) != 0 ||
        (alignment & (alignment - 1)) != 0) {
        return EINVAL;
    }
    mxi_enter();
    void *p = mxi_alloc_aligned(alignment, size);
    mxi_leave();
    if (p == NULL) {
        return ENOMEM;
    }
    *out = p;
    return 0;
}

/* glibc 2.36 _mid_memalign: an alignment above SIZE_MAX / 2 + 1 is EINVAL; one that is not a
 * power of two is rounded up to the next; aligned_alloc is the same function. */
MX_EXPORT void *mx_memalign(size_t alignment, size_t size)
{
    if (alignment > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    if ((alignment & (alignment - 1)) != 0) {
        alignment = (size_t)1 << (64 - __builtin_clzl(alignment));
    }
    return override_aligned(alignment, size);
}

MX_EXPORT void *mx_aligned_alloc(size_t alignment, size_t size)
{
    return mx_memalign(alignment, size);
}

MX_EXPORT void *mx_valloc(size_t size)
{
    return override_aligned(mxi_os_page_size(), size);
}

/* glibc rounds the size up to a whole page first, and reports overflow as ENOMEM. */
MX_EXPORT void *mx_pvalloc(size_t size)
{
    size_t page = mxi_os_page_size();
    size_t rounded;
    if (__builtin_add_overflow(size, page - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    return override_aligned(page, rounded & ~(page - 1));
}

MX_EXPORT const char *mx_version(void)
{
    return MX_VERSION_STRING;
}

MX_EXPORT int mx_owns(const void *p)
{
    return mxi_segment_owns(p);
}

MX_EXPORT int mx_trim(size_t pad)
{
    (void)pad;
    mxi_enter();
    int released = mxi_purge_all();
    mxi_leave();
    return released;
}

MX_EXPORT void mx_stats_get(mx_stats_t *stats)
{
    mxi_stats_collect(stats, NULL);
}

MX_EXPORT void mx_stats_print(void)
{
    mxi_stats_print(2);
}

MX_EXPORT long long mx_option_get(mx_option_t option)
{
    return mxi_option_get(option);
}

MX_EXPORT int mx_option_set(mx_option_t option, long long value)
{
    return mxi_option_set(option, value);
}

/* MX_NO_OVERRIDE builds the mx_ API alone, for sanitizer and fuzzing builds that must keep
 * the toolchain's own malloc. */
#ifndef MX_NO_OVERRIDE

/* glibc's mallinfo2 from mx_stats_get. glibc splits its sbrk heap (arena) into allocated
 * (uordblks) and free (fordblks) chunks, keeps mmapped chunks apart (hblks, hblkhd), counts
 * freed chunks not yet merged back separately (fastbins: smblks, fsmblks) and reports what
 * malloc_trim could release (keepcost). Here:
 *   arena     address space of the 64 MiB segments (small and large blocks)
 *   ordblks   number of those segments
 *   hblks     huge blocks, each in a mapping of its own; hblkhd those mappings' bytes
 *   uordblks  bytes of blocks the program holds in segments, by block size
 *   fordblks  resident free memory in segments: free blocks in running threads' pages, remote
 *             frees not yet collected, free pages waiting to be purged
 *   fsmblks   of which remote frees not yet collected (freed, not yet reusable: glibc's
 *             fastbins are the nearest thing); smblks 0, since they are not counted one by one
 *   keepcost  free pages waiting to be purged, resident, which malloc_trim(0) returns now
 *   usmblks   0, as in glibc. */
static struct mallinfo2 override_mallinfo2(void)
{
    mx_stats_t s;
    mxi_stats_collect(&s, NULL);
    struct mallinfo2 mi = {0};
    mi.arena = s.segment_bytes;
    mi.ordblks = s.segment_count;
    mi.hblks = s.huge_count;
    mi.hblkhd = s.huge_bytes;
    mi.uordblks = s.in_use_bytes;
    mi.fordblks = s.free_in_pages_bytes + s.remote_free_bytes + s.purge_pending_bytes;
    mi.fsmblks = s.remote_free_bytes;
    mi.keepcost = s.purge_pending_bytes;
    return mi;
}

/* The int fields of the old mallinfo saturate instead of wrapping, as glibc's do. */
static int mallinfo_clamp(size_t v)
{
    return v > INT32_MAX ? INT32_MAX : (int)v;
}

static struct mallinfo override_mallinfo(void)
{
    struct mallinfo2 m = override_mallinfo2();
    struct mallinfo mi = {0};
    mi.arena = mallinfo_clamp(m.arena);
    mi.ordblks = mallinfo_clamp(m.ordblks);
    mi.hblks = mallinfo_clamp(m.hblks);
    mi.hblkhd = mallinfo_clamp(m.hblkhd);
    mi.fsmblks = mallinfo_clamp(m.fsmblks);
    mi.uordblks = mallinfo_clamp(m.uordblks);
    mi.fordblks = mallinfo_clamp(m.fordblks);
    mi.keepcost = mallinfo_clamp(m.keepcost);
    return mi;
}

/* glibc's tunables have no counterpart here (no arenas, no trim threshold, no mmap threshold);
 * every parameter is accepted and ignored, and 1 (success) returned as glibc does. */
static int override_mallopt(int param, int value)
{
    (void)param;
    (void)value;
    return 1;
}

static void override_malloc_stats(void)
{
    mxi_stats_print(2);
}

/* malloc_info's format is glibc's XML outline: a <sizes> list of free blocks by size (here
 * one entry per size class with free blocks carved), totals by type ("fast" for remote frees
 * not yet collected, as in mallinfo2; "rest" the other free blocks; "mmap" huge blocks), the
 * system and address-space sizes, then malloc-x's own resident breakdown and purge counters
 * (readers of glibc's format skip elements they do not know). The caller asked for stdio
 * output, so fprintf is used on their stream. */
static int override_malloc_info(int options, FILE *stream)
{
    if (options != 0) {
        errno = EINVAL;
        return -1;
    }
    mx_stats_t s;
    mx_class_stats_t classes[MX_CLASS_COUNT];
    mxi_stats_collect(&s, classes);
    fprintf(stream, "<malloc version=\"malloc-x-%s\">\n<sizes>\n", MX_VERSION_STRING);
    size_t free_count = 0;
    size_t free_bytes = 0;
    size_t remote_count = 0;
    for (unsigned c = 1; c < MX_CLASS_COUNT; c++) {
        size_t block = mxi_size_class_block_size(c);
        size_t taken = classes[c].used_count + classes[c].remote_count;
        size_t count = classes[c].carved_count > taken ? classes[c].carved_count - taken : 0;
        remote_count += classes[c].remote_count;
        if (count == 0) {
            continue;
        }
        free_count += count;
        free_bytes += count * block;
        fprintf(stream, "<size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n", block,
                block, count * block, count);
    }
    fprintf(stream,
            "</sizes>\n"
            "<total type=\"fast\" count=\"%zu\" size=\"%zu\"/>\n"
            "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
            "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n"
            "<system type=\"current\" size=\"%zu\"/>\n"
            "<aspace type=\"total\" size=\"%zu\"/>\n"
            "<inuse size=\"%zu\"/>\n",
            remote_count, s.remote_free_bytes, free_count, free_bytes, s.huge_count, s.huge_bytes,
            s.resident_bytes, s.mapped_bytes, s.in_use_bytes);
    fprintf(stream,
            "<resident type=\"live\" size=\"%zu\"/>\n"
            "<resident type=\"free-in-pages\" size=\"%zu\"/>\n"
            "<resident type=\"remote-free\" size=\"%zu\"/>\n"
            "<resident type=\"abandoned\" size=\"%zu\"/>\n"
            "<resident type=\"purge-pending\" size=\"%zu\"/>\n"
            "<resident type=\"metadata\" size=\"%zu\"/>\n"
            "<purge calls=\"%zu\" bytes=\"%zu\" segments-unmapped=\"%zu\" "
            "heaps-collected=\"%zu\" pages-collected=\"%zu\"/>\n"
            "</malloc>\n",
            s.live_bytes, s.free_in_pages_bytes, s.remote_free_bytes, s.abandoned_bytes,
            s.purge_pending_bytes, s.metadata_bytes, s.purge_calls, s.purged_bytes,
            s.segments_unmapped, s.heaps_collected, s.pages_collected);
    return 0;
}

void *malloc(size_t size) MX_ALIAS(mx_malloc);
void free(void *p) MX_ALIAS(mx_free);
void *calloc(size_t count, size_t size) MX_ALIAS(mx_calloc);
void *realloc(void *p, size_t size) MX_ALIAS(mx_realloc);
void *reallocarray(void *p, size_t count, size_t size) MX_ALIAS(mx_reallocarray);
int posix_memalign(void **out, size_t alignment, size_t size) MX_ALIAS(mx_posix_memalign);
void *aligned_alloc(size_t alignment, size_t size) MX_ALIAS(mx_aligned_alloc);
void *memalign(size_t alignment, size_t size) MX_ALIAS(mx_memalign);
void *valloc(size_t size) MX_ALIAS(mx_valloc);
void *pvalloc(size_t size) MX_ALIAS(mx_pvalloc);
size_t malloc_usable_size(void *p) MX_ALIAS(mx_usable_size);
int malloc_trim(size_t pad) MX_ALIAS(mx_trim);
struct mallinfo2 mallinfo2(void) MX_ALIAS(override_mallinfo2);
struct mallinfo mallinfo(void) MX_ALIAS(override_mallinfo);
int mallopt(int param, int value) MX_ALIAS(override_mallopt);
void malloc_stats(void) MX_ALIAS(override_malloc_stats);
int malloc_info(int options, FILE *stream) MX_ALIAS(override_malloc_info);

/* glibc's own entry points, which some programs and libraries call directly. */
void *__libc_malloc(size_t size) MX_ALIAS(mx_malloc);
void __libc_free(void *p) MX_ALIAS(mx_free);
void *__libc_calloc(size_t count, size_t size) MX_ALIAS(mx_calloc);
void *__libc_realloc(void *p, size_t size) MX_ALIAS(mx_realloc);
void *__libc_memalign(size_t alignment, size_t size) MX_ALIAS(mx_memalign);
void *__libc_valloc(size_t size) MX_ALIAS(mx_valloc);
void *__libc_pvalloc(size_t size) MX_ALIAS(mx_pvalloc);
int __posix_memalign(void **out, size_t alignment, size_t size) MX_ALIAS(mx_posix_memalign);

#endif /* MX_NO_OVERRIDE */
