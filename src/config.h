/* Every compile-time knob of malloc-x, in one place, with the checks that keep them consistent.
 * The numbers are starting points; the benchmarks decide. */
#ifndef MX_CONFIG_H
#define MX_CONFIG_H

#include <assert.h>
#include <stddef.h>

/* 0: release; 1: cheap internal assertions; 2: also expensive invariant checks. */
#ifndef MX_DEBUG
#define MX_DEBUG 0
#endif

/* MALLOCX_SECURE builds (CMake option): a guard page (PROT_NONE) at the end of every page and
 * huge block and after each segment header, and free lists carved in random order. Safe-linking
 * and double-free detection are on in every build. */
#ifndef MX_SECURE
#define MX_SECURE 0
#endif
#define MX_GUARD_SIZE ((size_t)(MX_SECURE ? 4096 : 0))

/* A segment is the unit the OS layer maps: 64 MiB, aligned to its size, so that masking any
 * block address finds the segment header. */
#define MX_SEGMENT_SHIFT 26
#define MX_SEGMENT_SIZE ((size_t)1 << MX_SEGMENT_SHIFT)

/* A slice is the unit a segment hands out; a page is a run of one or more slices. */
#define MX_SLICE_SHIFT 16
#define MX_SLICE_SIZE ((size_t)1 << MX_SLICE_SHIFT)
#define MX_SLICE_COUNT (MX_SEGMENT_SIZE / MX_SLICE_SIZE)

/* Every block is 16-byte aligned, as glibc's are on x86_64, except those of the 8-byte class:
 * a request of at most 8 bytes holds no object that needs more than 8 (mimalloc, jemalloc and
 * tcmalloc do the same), and a program allocating many of them uses half the memory. A free
 * block keeps one word, its link. */
#define MX_ALIGNMENT 16
#define MX_MIN_BLOCK 8

/* Requests up to this size use the heap's direct size->page table, indexed in steps of the
 * smallest block. It reaches past a kilobyte to the slack class (below), which the medium
 * table's 64-byte steps could not tell from the class above it. */
#define MX_SMALL_MAX 1040
#define MX_DIRECT_COUNT (MX_SMALL_MAX / MX_MIN_BLOCK + 1)

/* Pages of medium blocks span at least this much. A class with eight blocks to a page, replaced
 * at random, has pages that fill and empty every few calls, and each time a page fills it is
 * parked and the next free into it unparks it, both on slow paths: with one-slice pages the
 * slow paths took 24% of larson 16B-8KiB's time with 2 threads, with two slices 12%. It ran
 * 9 to 15% faster with 1, 2 and 8 threads, its peak grew 7 to 8%, and none of the other
 * workloads compared changed. Four slices saved 2 to 3% more, for more memory. */
#define MX_MEDIUM_PAGE_MIN ((size_t)128 << 10)

/* Medium requests up to this size have a direct table too, in steps of 64 bytes: every class
 * boundary between MX_SMALL_MAX and it is a multiple of the step, so a step maps to one class.
 * It covers the medium sizes programs ask for most, and keeps the table at two kilobytes. */
#define MX_DIRECT_MEDIUM_MAX ((size_t)16 << 10)
#define MX_DIRECT_MEDIUM_SHIFT 6
#define MX_DIRECT_MEDIUM_COUNT ((MX_DIRECT_MEDIUM_MAX >> MX_DIRECT_MEDIUM_SHIFT) + 1)

/* Size classes: 8 bytes, multiples of 16 up to 256, then eight classes per doubling (12.5%
 * apart) up to MX_MEDIUM_MAX. From MX_SPLIT_MIN on, the first class of each doubling is split
 * in two, at a sixteenth above the power of two: programs often ask for a power of two plus a
 * small header (sqlite3: 1,032 and 4,104 bytes, which the class 12.5% up wasted 11% of). */
#define MX_LINEAR_MAX 256
#define MX_CLASSES_PER_DOUBLING 8
#define MX_MEDIUM_MAX ((size_t)128 << 10)
#define MX_SPLIT_MIN ((size_t)1 << 10)
#define MX_SPLIT_DOUBLINGS 7 /* from MX_SPLIT_MIN to MX_MEDIUM_MAX */
/* And one class MX_ALIGNMENT above MX_SPLIT_MIN, for a kilobyte behind a size prefix: sqlite3
 * asks for 1,032 bytes 53,000 times in bench's load (its allocator stores each size in front
 * of the block), and the split class of 1,088 wasted 5% of each: that load peaked 1.5 MiB
 * higher. */
#define MX_SLACK_CLASS (MX_SPLIT_MIN + MX_ALIGNMENT)

/* Above MX_MEDIUM_MAX each block gets a page (slice run) of its own; above MX_LARGE_MAX it gets
 * a mapping of its own (a huge segment), which realloc can grow with mremap. */
#define MX_LARGE_MAX ((size_t)32 << 20)

/* Largest request we try to satisfy; beyond it ENOMEM without asking the OS. */
#define MX_MAX_REQUEST ((size_t)1 << 46)

/* MALLOCX_SECURE builds carve a fresh page into blocks (in shuffled order) this many bytes at a
 * time, so untouched memory is never faulted in; other builds hand fresh blocks out uncarved. */
#define MX_EXTEND_SIZE ((size_t)4 << 10)
/* The same for a page whose carving faults its memory in first (page.c). */
#define MX_EXTEND_POPULATE_SIZE ((size_t)64 << 10)
static_assert(MX_EXTEND_POPULATE_SIZE / MX_SMALL_MAX <= MX_EXTEND_SIZE / MX_MIN_BLOCK,
              "a populating carve of blocks above MX_SMALL_MAX fits the shuffle's order table");
/* Bytes of fresh blocks a lazy page may hand out on the fast path before the slow path looks
 * for blocks freed into the class's other pages (heap.c). */
#define MX_FRESH_GRANT_SIZE ((size_t)16 << 10)

/* Milliseconds a free slice stays committed before it is purged (returned with madvise). */
#define MX_PURGE_DELAY_MS 10

/* With MALLOCX_BACKGROUND=auto (the default), the background thread starts once the pages of
 * all heaps first reach this many bytes: below it, what a program that goes quiet can leave
 * resident is small next to what a thread costs it (a stack, a wakeup per purge delay), and
 * most programs never get there. */
#define MX_BACKGROUND_AUTO_BYTES ((size_t)32 << 20)

/* Empty segments kept mapped (purged) for reuse instead of being unmapped. */
#define MX_SEGMENT_CACHE 2

static_assert(MX_SEGMENT_SIZE % MX_SLICE_SIZE == 0, "slices tile a segment");
static_assert(MX_SMALL_MAX <= MX_LINEAR_MAX * 4 + MX_ALIGNMENT, "direct table stays small");
static_assert((MX_SPLIT_MIN / 16) % ((size_t)1 << MX_DIRECT_MEDIUM_SHIFT) == 0,
              "medium class boundaries are multiples of the medium direct step");
static_assert(MX_SPLIT_MIN << MX_SPLIT_DOUBLINGS == MX_MEDIUM_MAX, "split doublings counted");
static_assert(MX_SPLIT_MIN >= MX_LINEAR_MAX * 4, "split classes start past the linear ones");
static_assert(MX_SMALL_MAX == MX_SLACK_CLASS, "the small direct table ends at the slack class");
static_assert(MX_MEDIUM_MAX * 8 <= MX_LARGE_MAX, "medium pages fit a segment comfortably");
static_assert(MX_LARGE_MAX <= MX_SEGMENT_SIZE / 2, "large pages fit a segment");
static_assert((MX_ALIGNMENT & (MX_ALIGNMENT - 1)) == 0, "alignment is a power of two");

#endif
