/* The data model: blocks, pages, segments and heaps, with the invariants each keeps and the
 * writer of every field ("owner" is the thread whose heap owns the page; "any thread" fields
 * are atomic; "immutable" fields do not change while the page is in use).
 *
 * Fields are ordered for the fast paths: the heap's direct table comes first, and the page
 * fields malloc and free touch share the first cache line of a page. */
#ifndef MX_TYPES_H
#define MX_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "compiler.h"
#include "config.h"
#include "lock.h"

/* A free block holds one word, the link to the next free block, stored XORed with the page
 * key at the page's link_offset into the block (page.h). malloc clears the word. A free
 * block's word decodes to NULL or to a block of its own page; a live block's word (user data,
 * or the 0 malloc left) decodes to a value no better than random, as the key is secret: that
 * is how free() recognizes a double free (mxi_block_maybe_free, mxi_free_check). One word
 * fits the 8-byte class. */
typedef struct mx_block {
    uintptr_t words[1];
} mx_block_t;

typedef enum mx_page_kind {
    MX_PAGE_NONE = 0, /* a free slice or segment metadata: no block lives here */
    MX_PAGE_SMALL,    /* many blocks of one size class, owned by a heap */
    MX_PAGE_LARGE,    /* one block in a run of slices; any thread frees it straight back */
    MX_PAGE_HUGE,     /* one block in a mapping of its own */
} mx_page_kind_t;

/* Flags in the low bits of mx_page.owner (heaps are aligned, so the bits are free). Any flag
 * but TINY makes the owner's free fast path miss and take the slow path, which handles them
 * all: one test guards every unusual state. TINY, which a page keeps for as long as it serves
 * its class, tells free's fast path where the link is without a load (page.h). */
#define MX_OWNER_PARKED ((uintptr_t)1)  /* page is full and off its queue */
#define MX_OWNER_ALIGNED ((uintptr_t)2) /* page handed out interior (aligned) pointers */
#define MX_OWNER_TRIMMED ((uintptr_t)4) /* some free blocks' memory went back to the OS (trim.h) */
#define MX_OWNER_TINY ((uintptr_t)8)    /* 8-byte blocks: the link is the block's only word */
#define MX_OWNER_FLAGS ((uintptr_t)15)

/* mx_page.thread_free packs three things into one word, so a remote free is a single CAS and
 * the owner takes list and count with a single exchange, never walking the list:
 * bits 48-63 the number of blocks on the list (a page holds at most 8192), bits 3-47 the head
 * block (user addresses fit 47 bits; blocks are 8-byte aligned), bit 0 PARKED: the owner
 * parked the page and wants to hear of the first remote free into it. */
#define MX_THREAD_FREE_PARKED ((uintptr_t)1)
#define MX_THREAD_FREE_COUNT_SHIFT 48
#define MX_THREAD_FREE_ONE ((uintptr_t)1 << MX_THREAD_FREE_COUNT_SHIFT)
#define MX_THREAD_FREE_HEAD(word)                                                               \
    ((mx_block_t *)((word) & (MX_THREAD_FREE_ONE - 1) & ~(uintptr_t)(MX_MIN_BLOCK - 1)))
#define MX_THREAD_FREE_COUNT(word) ((uint32_t)((word) >> MX_THREAD_FREE_COUNT_SHIFT))

struct mx_heap;

/* A page: a run of slices holding blocks of one size class (or one large block).
 * Descriptors are 64-byte aligned (two cache lines each): neighbouring pages usually belong
 * to different threads, and the fields their fast paths write must not share a line (two
 * threads doing malloc/free pairs ran at half speed with 104-byte descriptors).
 * Invariant while in use, for small pages:
 *   used == capacity - |free| - |local_free| - |thread_free| - |blocks over trimmed units|
 * and every block on free, local_free or thread_free links (decoded) to NULL or to a block
 * of the page. */
typedef struct MX_ALIGNED(64) mx_page {
    mx_block_t *free;       /* owner: malloc pops from here; the owner's frees push here */
    uint32_t used;          /* owner: blocks handed out, minus the frees collected */
    _Atomic(uint32_t) capacity; /* owner writes; any thread reads (a remote free checks its
                                   pointer against it): blocks carved out so far */
    mx_block_t *local_free; /* owner: collected remote frees (and, in MALLOCX_SECURE builds,
                               the owner's frees), swapped into free when it runs empty */
    uintptr_t key;          /* immutable: free-list links are stored XORed with it */
    uintptr_t link_mask;    /* immutable: the high bits no link into this page's segment has
                               set (mxi_block_maybe_free) */
    _Atomic(uintptr_t) owner;       /* owner or adopter writes; any thread reads: heap | flags */
    _Atomic(uintptr_t) thread_free; /* any thread: remote frees, LIFO | MX_THREAD_FREE_PARKED */
    uint32_t link_offset; /* immutable: where in a free block its link is (page.h) */
    uint32_t fresh_end;   /* owner: a lazy page hands out fresh blocks below this index before
                             the slow path looks at the class's other pages (heap.c); at most
                             capacity while units are trimmed, 0 on a page that carves */
    uint8_t *start;      /* immutable: first block (large/huge: the block handed out) */
    size_t block_size;   /* immutable: block size (large/huge: usable bytes from start) */
    uint32_t reserved;   /* immutable: blocks that fit in the page */
    uint16_t class_index;   /* immutable: size class of a small page */
    uint8_t kind;           /* under the segment lock: mx_page_kind_t */
    bool is_zero;           /* set by the segment layer: the slices read as zero */
    bool is_parked;         /* owner: on the heap's parked list rather than its queue */
    bool is_wake_pending;   /* owner: a remote free cleared PARKED; the page is coming back
                               through the heap's wake list */
    bool is_populating;     /* owner: carving faults memory in by the chunk (page.c) */
    bool was_dry;           /* owner: a walk of the queue found it with no free block and sent it
                               to the back instead of parking it (heap.c) */
    uint16_t slice_index;   /* under the segment lock: first slice of the run */
    uint16_t trim_used;     /* owner: `used` when a trim last looked at the page (trim.c) */
    uint32_t slice_count;   /* under the segment lock: slices in the run */
    _Atomic(uint32_t) trimmed; /* owner writes; any thread reads (a free checks its block
                                  against it): bit per trim unit given back (trim.h) */
    struct mx_page *next;   /* owner: queue or parked list */
    struct mx_page *prev;
    struct mx_page *wake_next; /* under the owner heap's lock */
} mx_page_t;

typedef struct mx_page_queue {
    mx_page_t *first;
    mx_page_t *last;
    uint32_t pages; /* the class's pages in this heap, queued or parked (heap.c: sparse pages) */
} mx_page_queue_t;

typedef enum mx_segment_kind {
    MX_SEGMENT_NORMAL = 1, /* MX_SEGMENT_SIZE bytes of slices shared by all heaps */
    MX_SEGMENT_HUGE,       /* one huge block; may span several MX_SEGMENT_SIZE units */
} mx_segment_kind_t;

/* The header at the start of every segment. Everything here is written under the segment
 * lock except the page descriptors, whose writers are listed in mx_page_t. page_of[] maps
 * every slice to the descriptor of the page that covers it (the "none" sentinel for free
 * slices and metadata), so free() finds a page with one load. */
typedef struct mx_segment {
    uintptr_t cookie;              /* immutable: address ^ secret, checks a header is ours */
    size_t size;                   /* immutable: bytes mapped */
    uint8_t kind;                  /* immutable: mx_segment_kind_t */
    uint32_t used_slices;          /* slices in use, the header's included */
    int64_t purge_at_ms;           /* next purge tick of this segment; 0: nothing to purge */
    int64_t freed_at_ms;           /* when a slice was last freed */
    struct mx_segment *next;       /* list of normal segments */
    struct mx_segment *prev;
    uint64_t used_map[MX_SLICE_COUNT / 64];  /* bit per slice: in use */
    uint64_t dirty_map[MX_SLICE_COUNT / 64]; /* bit per slice: freed since the last tick */
    uint64_t aged_map[MX_SLICE_COUNT / 64];  /* bit per slice: free since before the last tick,
                                                so for at least the purge delay at the next */
    mx_page_t *page_of[MX_SLICE_COUNT];
    mx_page_t pages[MX_SLICE_COUNT]; /* descriptor of the page starting at each slice */
} mx_segment_t;

#define MX_SEGMENT_HEADER_SLICES ((sizeof(mx_segment_t) + MX_SLICE_SIZE - 1) / MX_SLICE_SIZE)

/* Class 0 (unused) and the 8-byte class, the linear classes, eight per doubling from
 * MX_LINEAR_MAX, a split class per doubling from MX_SPLIT_MIN, and the slack class. */
#define MX_CLASS_COUNT                                                                          \
    (2 + MX_LINEAR_MAX / MX_ALIGNMENT + 9 * MX_CLASSES_PER_DOUBLING + MX_SPLIT_DOUBLINGS + 1)

typedef enum mx_heap_state {
    MX_HEAP_LIVE = 1, /* owned by a running thread */
    MX_HEAP_ABANDONED, /* the pool of exited threads' pages (abandon.c) */
    MX_HEAP_SPARE,     /* empty, ready for the next new thread */
    MX_HEAP_LOST,      /* a fork child's copy of a heap another thread was changing: unusable */
} mx_heap_state_t;

/* A thread's heap. All fields are the owner's except where marked. Heaps are never unmapped:
 * a remote free may still be on its way to an old owner's wake list, so a heap object is
 * only ever recycled. */
typedef struct mx_heap {
    mx_page_t *direct[MX_DIRECT_COUNT]; /* (size + 7) / 8 -> page to pop from */
    mx_page_t *direct_medium[MX_DIRECT_MEDIUM_COUNT]; /* (size + 127) / 128 -> page, for sizes
                                                         above MX_SMALL_MAX */
    mx_page_queue_t queues[MX_CLASS_COUNT];
    mx_page_t *parked;        /* full pages, off the queues until a free arrives */
    uint8_t state;            /* under the abandon lock: mx_heap_state_t */
    mx_lock_t lock;           /* guards `wake` */
    _Atomic(mx_page_t *) wake; /* under `lock`: parked pages a remote free brought back */
    struct mx_heap *next_all;  /* under the registry lock: every heap ever made */
    struct mx_heap *next_free; /* under the abandon lock: spare heaps */
    /* Written under the abandon lock when the heap goes live: where its thread keeps its TLS
     * heap pointer and its allocator state (see collect.c), so that a collector can
     * lock the thread out of the heap and know it is idle and not inside the allocator. */
    _Atomic(struct mx_heap *) *tls_slot;
    struct mx_thread *thread; /* its state is read and probed with __atomic builtins */
    bool idle_collected;      /* under the collect lock: collected since its thread went idle */
    int64_t trimmed_at_ms;    /* under the collect lock: when a collection last trimmed it */
    int64_t probed_at_ms;     /* under the collect lock: when a sweep last found its thread
                                 outside the allocator and marked it, where its idle time began */
    int64_t walked_at_ms;     /* owner: when a purge tick last walked all of its pages */
    unsigned switches_since_tick; /* owner: page switches since it last looked at the clock */
    uint64_t claimed_classes[2];  /* owner: bit per size class it has claimed a page for */
    uint64_t allocating_classes[2]; /* owner: bit per size class whose malloc slow path ran
                                       since the last growth trim began (heap.c) */
    uint64_t grow_trim_idle[2]; /* owner: the classes that growth trim walks */
    unsigned grow_trim_next;    /* owner: the next class it walks; 0 when none is under way */
    struct mx_page *grow_trim_page; /* owner: the page of that class it goes on from; NULL:
                                       the class's first */
    size_t grow_trim_walked;    /* owner: bytes of pages it has walked */
    size_t grown_bytes;   /* owner: bytes of non-resident pages claimed since it began */
    size_t grow_trim_at;  /* owner: grown_bytes at which the next one begins */
    /* Any thread: set by a remote free into one of the heap's pages, cleared by a collector.
     * On a line of its own, away from the owner's direct table. */
    MX_ALIGNED(64) _Atomic(uint8_t) remote_hint;
} mx_heap_t;

static_assert(sizeof(mx_page_t) == 128, "a page descriptor is two cache lines");
static_assert(MX_CLASS_COUNT == 98, "class table layout");
static_assert(MX_CLASS_COUNT <= 128, "claimed_classes has a bit per class");
static_assert(MX_SLICE_SIZE / MX_MIN_BLOCK < (1u << (64 - MX_THREAD_FREE_COUNT_SHIFT)),
              "a page's block count fits the thread_free count bits");
static_assert(sizeof(mx_block_t) <= MX_MIN_BLOCK, "a free block fits the smallest class");
static_assert(_Alignof(struct mx_heap) > MX_OWNER_FLAGS, "owner flags fit below a heap's address");

#endif
