/* Thread-local heaps (see heap.h): finding a page to allocate from, parking and waking full
 * pages, giving empty pages back.
 *
 * Everything here is the owner's, except: heap objects come from a registry guarded by
 * mxi_heap_registry_lock (a leaf lock), and the wake list is taken through remote.c. The only
 * other lock reached from here is the segment lock (claiming and releasing pages). */
#include "heap.h"

#include <errno.h>
#include <string.h>

#include "abandon.h"
#include "background.h"
#include "debug.h"
#include "init.h"
#include "options.h"
#include "os.h"
#include "page.h"
#include "page_queue.h"
#include "purge.h"
#include "remote.h"
#include "segment.h"
#include "size_class.h"
#include "trim.h"

MX_TLS mx_thread_t mxi_thread = {.heap = &mxi_heap_empty};

mx_page_t mxi_page_empty;

mx_heap_t mxi_heap_empty = {
    .direct = {[0 ... MX_DIRECT_COUNT - 1] = &mxi_page_empty},
    .direct_medium = {[0 ... MX_DIRECT_MEDIUM_COUNT - 1] = &mxi_page_empty},
};

mx_heap_t mxi_heap_held = {
    .direct = {[0 ... MX_DIRECT_COUNT - 1] = &mxi_page_empty},
    .direct_medium = {[0 ... MX_DIRECT_MEDIUM_COUNT - 1] = &mxi_page_empty},
};

/* A held thread sleeps until the collector wakes it (collect.c) instead of spinning on
 * sched_yield, which burnt a core for as long as the collector worked on the heap. The wait
 * compares the low half of the pointer, so a heap whose address shared it with the held heap's
 * would sleep to the timeout, and then look again. */
#define HEAP_HELD_WAIT_NS 1000000L

mx_heap_t *mxi_heap_current(void)
{
    mx_heap_t *heap = mxi_atomic_load_acquire(&mxi_thread.heap);
    while (MX_UNLIKELY(heap == &mxi_heap_held)) {
        mxi_os_wait(mxi_heap_wait_word(&mxi_thread.heap),
                    (uint32_t)(uintptr_t)&mxi_heap_held, HEAP_HELD_WAIT_NS);
        heap = mxi_atomic_load_acquire(&mxi_thread.heap);
    }
    return heap;
}

mx_lock_t mxi_heap_registry_lock = MX_LOCK_INIT;
/* Pushed under the registry lock; walked without it by the collector and statistics, which
 * is safe because heap objects are never unmapped and a heap is linked before it is used. */
static _Atomic(mx_heap_t *) heap_registry;
static uint8_t *heap_chunk;
static size_t heap_chunk_left;

/* Each chunk begins with the link to the one mapped before it, so statistics can measure the
 * chunks; heap objects are carved after the link, a cache line in. */
typedef struct heap_chunk_link {
    struct heap_chunk_link *next;
} heap_chunk_link_t;
static heap_chunk_link_t *heap_chunks;

#define HEAP_CHUNK_SIZE ((size_t)256 << 10)
#define HEAP_CHUNK_LINK_SIZE ((size_t)64)

mx_heap_t *mxi_heap_registry_first(void)
{
    return mxi_atomic_load_acquire(&heap_registry);
}

void mxi_heap_chunk_totals(size_t *mapped_bytes, size_t *resident_bytes)
{
    *mapped_bytes = 0;
    *resident_bytes = 0;
    mxi_lock(&mxi_heap_registry_lock);
    for (heap_chunk_link_t *c = heap_chunks; c != NULL; c = c->next) {
        *mapped_bytes += HEAP_CHUNK_SIZE;
        *resident_bytes += mxi_os_resident(c, HEAP_CHUNK_SIZE);
    }
    mxi_unlock(&mxi_heap_registry_lock);
}

void mxi_heap_reset(mx_heap_t *heap)
{
    memset(heap->queues, 0, sizeof(heap->queues));
    for (size_t i = 0; i < MX_DIRECT_COUNT; i++) {
        heap->direct[i] = &mxi_page_empty;
    }
    for (size_t i = 0; i < MX_DIRECT_MEDIUM_COUNT; i++) {
        heap->direct_medium[i] = &mxi_page_empty;
    }
    heap->parked = NULL;
    mxi_atomic_store_relaxed(&heap->wake, NULL);
    heap->claimed_classes[0] = 0;
    heap->claimed_classes[1] = 0;
    heap->allocating_classes[0] = 0;
    heap->allocating_classes[1] = 0;
    heap->grown_bytes = 0;
    heap->grow_trim_at = 0;
    heap->grow_trim_next = 0;
    heap->grow_trim_page = NULL;
}

/* Heap objects are carved from chunks mapped for them and never unmapped (see types.h). */
mx_heap_t *mxi_heap_alloc(void)
{
    mx_heap_t *heap = mxi_abandon_take_spare();
    if (heap != NULL) {
        return heap;
    }
    size_t size = (sizeof(mx_heap_t) + 63) & ~(size_t)63;
    mxi_lock(&mxi_heap_registry_lock);
    if (heap_chunk_left < size) {
        heap_chunk = mxi_os_map_aligned(HEAP_CHUNK_SIZE, mxi_os_page_size());
        if (heap_chunk == NULL) {
            heap_chunk_left = 0;
            mxi_unlock(&mxi_heap_registry_lock);
            return NULL;
        }
        heap_chunk_link_t *link = (heap_chunk_link_t *)heap_chunk;
        link->next = heap_chunks;
        heap_chunks = link;
        heap_chunk += HEAP_CHUNK_LINK_SIZE;
        heap_chunk_left = HEAP_CHUNK_SIZE - HEAP_CHUNK_LINK_SIZE;
    }
    heap = (mx_heap_t *)heap_chunk;
    heap_chunk += size;
    heap_chunk_left -= size;
    heap->next_all = mxi_atomic_load_relaxed(&heap_registry);
    mxi_atomic_store_release(&heap_registry, heap);
    mxi_unlock(&mxi_heap_registry_lock);
    mxi_heap_reset(heap);
    return heap;
}

mx_heap_t *mxi_heap_init_thread(void)
{
    if (!mxi_process_init()) {
        return NULL;
    }
    mx_heap_t *heap = mxi_heap_alloc();
    if (heap == NULL) {
        return NULL;
    }
    /* The TLS pointer is set before the heap is published as live, so a collector only ever
     * finds a live heap where its thread's TLS points at it. */
    mxi_atomic_store_release(&mxi_thread.heap, heap);
    mxi_lock(&mxi_abandon_lock);
    heap->tls_slot = &mxi_thread.heap;
    heap->thread = &mxi_thread;
    heap->state = MX_HEAP_LIVE;
    mxi_unlock(&mxi_abandon_lock);
    mxi_thread_register(heap);
    return heap;
}

/* Pages that remote frees woke go to the back of their queues, behind the pages the owner is
 * still allocating from: by the time it gets to one, more of its blocks have come back, and
 * if all of them have, the page starts over in address order (mxi_page_refill). Put in front,
 * a page woken by its first remote free was allocated from next, a few blocks at a time, in
 * the order the frees arrived. A page that the owner already unparked itself only needs its
 * pending mark cleared. */
static void heap_take_woken(mx_heap_t *heap)
{
    mx_page_t *page = mxi_remote_take_woken(heap);
    while (page != NULL) {
        /* wake_next is left as it is: only a waker holding the heap lock writes it. */
        mx_page_t *next = page->wake_next;
        page->is_wake_pending = false;
        if (page->is_parked) {
            mxi_page_queue_unpark(heap, page);
        }
        page = next;
    }
}

static bool heap_page_can_release(const mx_page_t *page)
{
    return page->used == 0 && !page->is_wake_pending && !page->is_parked;
}

static void heap_release_page(mx_heap_t *heap, mx_page_t *page)
{
    mxi_page_queue_remove(heap, page);
    mxi_segment_release(page);
}

static mx_page_t *heap_queue_front(mx_heap_t *heap, mx_page_queue_t *q, mx_page_t *page)
{
    if (page != q->first) {
        mxi_page_queue_move_to_front(heap, page);
    }
    return page;
}

/* A class whose blocks are replaced one at a time in random order (a server's requests, larson
 * with one size) frees about one block per malloc, spread over all of its pages. If its pages
 * hold little more than its live blocks, the few free ones are scattered a block or two per
 * page: every block or two, malloc must switch pages and park the one it leaves, and the next
 * free into that page must unpark it, both slow paths. larson with 10,000 blocks of 512 bytes
 * and 1 thread switched pages 6.3 million times in 20 million operations and took 1.9 times
 * tcmalloc's time. So a page with less than an eighth of its blocks free is passed over (to the
 * back of the queue, so that the next switch looks at another page) and a new page is claimed
 * instead: the class grows until the pages it comes back to have an eighth free, and then
 * switches every dozen blocks or more (540,000 switches; 0.59x the time with 1 thread and
 * 0.66 to 0.80x with 2; a peak of 7.4 MiB instead of 6.5). The free blocks it leaves behind are
 * those of pages passed over, less than an eighth of each. The rule waits until the class has
 * HEAP_SPARSE_MIN_PAGES pages, so that a new page is a small step, and leaves pages of fewer
 * than HEAP_SPARSE_MIN_BLOCKS blocks alone, where an eighth is a block or two: with 8 threads
 * running by turns on 2 cores, a thread's pages fill with other threads' remote frees while it
 * waits, and growing for what its pages lacked while it ran took larson up to 1 KiB 8% longer,
 * with a 40% higher peak. */
#define HEAP_SPARSE_MIN_PAGES 32
#define HEAP_SPARSE_MIN_BLOCKS 64
#define HEAP_SPARSE_FREE_SHARE 8 /* at least 1/8 of a page's blocks free */

/* For an assertion: the count the rule relies on matches the class's queue and parked pages. */
static bool heap_class_count_is_right(const mx_heap_t *heap, const mx_page_queue_t *q,
                                      unsigned class_index)
{
    uint32_t pages = 0;
    for (const mx_page_t *page = q->first; page != NULL; page = page->next) {
        pages++;
    }
    for (const mx_page_t *page = heap->parked; page != NULL; page = page->next) {
        pages += page->class_index == class_index;
    }
    return pages == q->pages;
}

static bool heap_page_is_sparse(const mx_page_queue_t *q, const mx_page_t *page)
{
    return q->pages >= HEAP_SPARSE_MIN_PAGES && page->reserved >= HEAP_SPARSE_MIN_BLOCKS &&
           page->reserved - page->used < page->reserved / HEAP_SPARSE_FREE_SHARE;
}

/* Finds a page of the queue that can serve a malloc. The page at the front hands out its
 * untouched tail a part at a time (page.c: an allowance of uncarved blocks, or a carved chunk);
 * at the end of each part, what came back to it comes first, then blocks that the owner freed
 * into the pages behind it, then the next part, so that the class's carved memory stays close
 * to its live blocks: larson with 1 thread added 2.1 times its live bytes to the RSS instead of
 * 2.6, and with 8 threads and blocks up to 8 KiB 1.8 instead of 1.9 (bench/larson.c, live).
 * Remote frees into the pages behind come after the tail: in the order another thread freed
 * them, they would scatter the next run of allocations (see mxi_page_refill's restart).
 * Otherwise, and when none of those has any, the queue is walked from the front for a page
 * with free blocks: its own free list, its local and remote frees, or fresh blocks from its
 * tail. The page at the front, which malloc has just used up, goes to the back of the queue, so
 * that the owner's frees into it pile up until the walk comes round to it again (switching to
 * a page for every block or two freed into it took larson with 8 threads and blocks up to 8 KiB
 * 8% longer). Full pages met further on, and that page if it is still full when the walk comes
 * round to it, are parked, off the queue, so that walks do not pass over them again and again.
 * Parking the used-up page at once made the next free into it a slow path to unpark it: larson
 * of 512-byte blocks with 1 thread parked and unparked a page every 33 operations, and now parks
 * one 92 times in 2 million (266.5 to 258.9 million instructions in all; up to 8 KiB, 141.5 to
 * 138.8). Where the used-up page stays full, the walk now meets it twice: churn with 1 thread
 * took 68.3 to 69.8 million.
 * With `may_grow`, a page found with too few free blocks is passed over (heap_page_is_sparse),
 * and NULL asks for a new one. */
static mx_page_t *heap_queue_find(mx_heap_t *heap, mx_page_queue_t *q, bool may_grow)
{
    mx_page_t *first = q->first;
    if (first != NULL && mxi_atomic_load_relaxed(&first->capacity) < first->reserved) {
        if (first->free != NULL || mxi_page_refill_freed(first)) {
            return first;
        }
        for (mx_page_t *page = first->next; page != NULL; page = page->next) {
            if (page->free != NULL ||
                (page->local_free != NULL && mxi_page_refill_freed(page))) {
                return heap_queue_front(heap, q, page);
            }
        }
        mxi_page_refill_fresh(first); /* the tail tested above: it has a part to give */
        return first;
    }
    mx_page_t *page = first;
    while (page != NULL) {
        if (page->free != NULL || mxi_page_refill(page)) {
            page->was_dry = false;
            if (may_grow && page != first && heap_page_is_sparse(q, page)) {
                MX_ASSERT_EXPENSIVE(heap_class_count_is_right(heap, q, page->class_index));
                mxi_page_queue_remove(heap, page);
                mxi_page_queue_push_back(heap, page);
                return NULL;
            }
            return heap_queue_front(heap, q, page);
        }
        /* A page with a wake in flight cannot be parked again (it would go on a wake list
         * twice); it stays where it is until the wake arrives. */
        if (page->is_wake_pending) {
            page = page->next;
            continue;
        }
        mx_page_t *next = page->next;
        if (page == first && !page->was_dry && next != NULL) {
            page->was_dry = true;
            mxi_page_queue_remove(heap, page);
            mxi_page_queue_push_back(heap, page);
            page = next;
            continue;
        }
        if (!mxi_remote_try_park(page)) {
            continue; /* a remote free arrived since the refill: take it */
        }
        page->was_dry = false;
        mxi_page_queue_park(heap, page);
        page = next;
    }
    return NULL;
}

/* The empty page kept at the head of each queue (see mxi_heap_page_emptied) serves a loop
 * that allocates and frees in one class; a program that has moved on to other sizes would keep
 * one such page per class it ever used, up to a megabyte each for the largest classes. So
 * before a new page is claimed, the kept ones go back to their segments, where the claim
 * itself can reuse their memory, still resident, for the class that needs it now. */
static void heap_release_empty_heads(mx_heap_t *heap)
{
    for (unsigned c = 1; c < MX_CLASS_COUNT; c++) {
        mx_page_t *page = heap->queues[c].first;
        if (page != NULL && heap_page_can_release(page)) {
            heap_release_page(heap, page);
        }
    }
}

/* Pages of medium blocks up to an OS page fault their memory in by the chunk as they are carved
 * (page.c), from the second page a heap claims for the class on: the class has then shown it
 * is in steady use, while a program that uses a size once keeps only what it touches. Only
 * memory that is surely not resident (fresh or purged: is_zero) is worth the system call; on
 * reused slices it found nothing to do, and larson made 1,000 such calls in 0.2 s. Larger
 * blocks are left out: faulting in their whole extent made bench/latency, which writes one
 * byte of each block, peak 20 MiB (33%) higher. */
static void heap_mark_populating(mx_heap_t *heap, mx_page_t *page, unsigned class_index)
{
    uint64_t bit = (uint64_t)1 << (class_index % 64);
    page->is_populating = page->is_zero && page->block_size > MX_SMALL_MAX &&
                          page->block_size <= MX_EXTEND_SIZE &&
                          (heap->claimed_classes[class_index / 64] & bit) != 0;
    heap->claimed_classes[class_index / 64] |= bit;
}

/* A heap that grows into memory the OS must fault in while pages of classes it no longer
 * allocates from hold mostly free blocks is fragmented the way a program is after it freed most
 * of a working set and went on to other sizes (bench/phases): those blocks can only ever serve
 * their own class. Trimming those pages (trim.h) gives their free units back before the new
 * memory is touched, so the program's peak does not hold both: bench/phases with 1 thread
 * peaked at 646 MiB instead of 750 (glibc, which coalesces across sizes: 555), and ran 4%
 * longer for the system calls.
 * Only classes whose slow path did not run since the last walk are trimmed: a class in use
 * would fault its units back in at once. A walk comes after at least HEAP_GROW_TRIM_MIN of
 * growth and after half the bytes it walked the last time, so that walking stays proportional
 * to growth however large the heap.
 * A walk goes a few pages at a time: each claim of fresh memory trims up to
 * HEAP_GROW_TRIM_STEP_WORK pages that have something new to look at (and passes over at most
 * HEAP_GROW_TRIM_STEP_PAGES in all), and the next claim goes on from there. Walking all of
 * bench/phases' 512 MiB heap at once took 7 to 16 ms inside one malloc (when the collection of
 * the idle phase before had not finished trimming it), and a class at a time still 5 to 6 ms.
 * The trimming still outruns the growth: a claim adds one page. The page to go on from is
 * moved on when it leaves its queue (mxi_page_queue_remove). */
#define HEAP_GROW_TRIM_MIN ((size_t)16 << 20)
#define HEAP_GROW_TRIM_STEP_WORK 32
#define HEAP_GROW_TRIM_STEP_PAGES 1024
#define HEAP_GROW_TRIM_MAX_USED 2 /* eighths of a page's blocks in use, at most */

static bool heap_class_bit(const uint64_t *bits, unsigned class_index)
{
    return (bits[class_index / 64] >> (class_index % 64)) & 1;
}

/* Idle when the walk began, and its slow path has not run since. */
static bool heap_grow_trim_class_is_idle(const mx_heap_t *heap, unsigned class_index)
{
    return heap_class_bit(heap->grow_trim_idle, class_index) &&
           !heap_class_bit(heap->allocating_classes, class_index);
}

/* One step of the walk; true when it has reached the last class. */
static bool heap_grow_trim_step(mx_heap_t *heap)
{
    unsigned work = HEAP_GROW_TRIM_STEP_WORK;
    unsigned visits = HEAP_GROW_TRIM_STEP_PAGES;
    unsigned c = heap->grow_trim_next;
    mx_page_t *page = heap->grow_trim_page;
    for (; c < MX_CLASS_COUNT; c++, page = NULL) {
        if (!heap_grow_trim_class_is_idle(heap, c)) {
            continue;
        }
        if (page == NULL) {
            page = heap->queues[c].first;
        }
        for (; page != NULL && work > 0 && visits > 0; page = page->next, visits--) {
            MX_ASSERT_INTERNAL(page->kind == MX_PAGE_SMALL && page->class_index == c &&
                               !page->is_parked);
            heap->grow_trim_walked += (size_t)page->slice_count * MX_SLICE_SIZE;
            work -= page->used != page->trim_used;
            mxi_page_trim(page, HEAP_GROW_TRIM_MAX_USED);
        }
        if (page != NULL) {
            break;
        }
    }
    heap->grow_trim_next = c;
    heap->grow_trim_page = page;
    return c == MX_CLASS_COUNT;
}

static void heap_trim_idle_classes(mx_heap_t *heap, const mx_page_t *claimed)
{
    if (MX_SECURE || !claimed->is_zero) {
        return;
    }
    heap->grown_bytes += (size_t)claimed->slice_count * MX_SLICE_SIZE;
    if (heap->grow_trim_next == 0) {
        if (heap->grown_bytes < heap->grow_trim_at) {
            return;
        }
        heap->grow_trim_idle[0] = ~heap->allocating_classes[0];
        heap->grow_trim_idle[1] = ~heap->allocating_classes[1];
        heap->allocating_classes[0] = 0;
        heap->allocating_classes[1] = 0;
        heap->grown_bytes = 0;
        heap->grow_trim_walked = 0;
        heap->grow_trim_next = 1;
        heap->grow_trim_page = NULL;
    }
    if (!heap_grow_trim_step(heap)) {
        return;
    }
    heap->grow_trim_next = 0;
    size_t half = heap->grow_trim_walked / 2;
    heap->grow_trim_at = half > HEAP_GROW_TRIM_MIN ? half : HEAP_GROW_TRIM_MIN;
}

/* Page switches between two looks at the purge clock. A thread with pages of a few large
 * blocks switches pages every few mallocs, and reading the clock at each switch cost 8% of
 * larson 16B-8KiB; a claim of a new page always looks. */
#define HEAP_TICK_EVERY_SWITCHES 8

/* Slow: runs only when no segment has a free run as long as a page of the class and the OS
 * refused a new segment. The runs left between other pages can still hold blocks of the
 * class, so pages of half the slices are tried, down to one block's: at a 256 MiB
 * address-space limit, 37 free slices in runs of up to 8 refused a page of 9, and malloc of
 * 67,155 bytes returned NULL (tests/robust/test_oom.c). mxi_page_init_small sizes a page by its
 * own slices. */
static MX_NOINLINE mx_page_t *heap_claim_smaller_page(unsigned class_index, uint32_t slices)
{
    size_t one_block = mxi_size_class_block_size(class_index) + MX_GUARD_SIZE;
    uint32_t least = (uint32_t)((one_block + MX_SLICE_SIZE - 1) / MX_SLICE_SIZE);
    while (slices > least) {
        slices = slices / 2 > least ? slices / 2 : least;
        mx_page_t *page = mxi_segment_claim(slices);
        if (page != NULL) {
            return page;
        }
    }
    return NULL;
}

/* The slow path of malloc for one size class: the page at the front of the queue ran out of
 * free blocks. Try the rest of the queue, then the pool of exited threads' pages, and finally
 * a new page from the segments. Purging that is due happens here too, off the fast path. */
mx_page_t *mxi_heap_page_for_class(mx_heap_t *heap, unsigned class_index)
{
    if (++heap->switches_since_tick >= HEAP_TICK_EVERY_SWITCHES) {
        heap->switches_since_tick = 0;
        mxi_purge_if_due(heap);
    }
    heap->allocating_classes[class_index / 64] |= (uint64_t)1 << (class_index % 64);
    heap_take_woken(heap);
    mx_page_queue_t *q = &heap->queues[class_index];
    for (;;) {
        mx_page_t *page = heap_queue_find(heap, q, /*may_grow=*/true);
        if (page != NULL) {
            return page;
        }
        /* Pages of exited threads come before fresh memory: adopting them reuses their free
         * blocks and collects what other threads freed into them. */
        if (!mxi_abandon_adopt_class(heap, class_index)) {
            break;
        }
        heap_take_woken(heap);
    }
    heap->switches_since_tick = 0;
    mxi_purge_if_due(heap);
    heap_release_empty_heads(heap);
    uint32_t slices = mxi_size_class_page_slices(class_index);
    mx_page_t *page = mxi_segment_claim(slices);
    if (page == NULL && mxi_purge_all()) {
        /* The OS refused a new segment while we held empty pages and segments: give them
         * back and try once more, so freed memory never makes an allocation fail. */
        page = mxi_segment_claim(slices);
    }
    if (page == NULL) {
        /* Nor do the free blocks of pages passed over as sparse. */
        mx_page_t *sparse = heap_queue_find(heap, q, /*may_grow=*/false);
        if (sparse != NULL) {
            return sparse;
        }
        page = heap_claim_smaller_page(class_index, slices);
        if (page == NULL) {
            return NULL;
        }
    }
    mxi_background_note_claim();
    heap_trim_idle_classes(heap, page);
    mxi_page_init_small(page, heap, class_index);
    heap_mark_populating(heap, page, class_index);
    mxi_page_refill(page);
    mxi_page_queue_push_front(heap, page);
    return page;
}

void mxi_heap_free_flagged(mx_heap_t *heap, mx_page_t *page, mx_block_t *block)
{
    if (page->is_parked) {
        if (!mxi_remote_unpark(page)) {
            page->is_wake_pending = true;
        }
        /* To the back: a program freeing a whole working set unparks page after page, and
         * each must not become the queue head, which is kept even when empty. */
        mxi_page_queue_unpark(heap, page);
    }
    mxi_page_push_local(page, block);
    if (page->used == 0) {
        mxi_heap_page_emptied(heap, page);
    }
}

/* The first page of a queue is kept even when empty, so a loop that allocates and frees one
 * block does not claim and release a page each time. A page that empties behind a first page
 * still in use takes its place rather than going back: a class whose few pages empty and fill
 * by turns (blocks of kilobytes, eight to a page, replaced at random) otherwise released a page
 * and claimed one again and again, each claim a segment-lock round plus faults on memory the
 * purge had given back (bench/latency, 1 thread: 712 claims in 2M calls, 450 now). Any other
 * empty page goes back to its segment, where it is purged after the delay. */
void mxi_heap_page_emptied(mx_heap_t *heap, mx_page_t *page)
{
    mx_page_t *first = heap->queues[page->class_index].first;
    if (page == first || !heap_page_can_release(page)) {
        return;
    }
    if (first->used != 0) {
        mxi_page_queue_move_to_front(heap, page);
        return;
    }
    heap_release_page(heap, page);
}

void mxi_heap_page_emptied_leave(mx_heap_t *heap, mx_page_t *page)
{
    mxi_heap_page_emptied(heap, page);
    mxi_leave();
}

/* A walk of every page costs a cache miss or two per page and an atomic per page with remote
 * frees: at every tick, it took 6% of larson's time with 8 threads and pages of eight 8 KiB
 * blocks. Pages that remote frees emptied are rare and their memory can wait this many purge
 * delays; the heads, which the owner's own frees empty, go back at every tick. */
#define HEAP_WALK_EVERY_DELAYS 8

void mxi_heap_purge_tick(mx_heap_t *heap, int64_t now_ms)
{
    int64_t delay = mxi_options.purge_delay_ms > 0 ? mxi_options.purge_delay_ms : 1;
    if (now_ms - heap->walked_at_ms >= HEAP_WALK_EVERY_DELAYS * delay) {
        heap->walked_at_ms = now_ms;
        mxi_heap_release_empty_pages(heap, NULL, NULL);
    } else {
        heap_release_empty_heads(heap);
    }
}

size_t mxi_heap_release_empty_pages(mx_heap_t *heap, mx_heap_walk_stop_t *stop, void *ctx)
{
    if (heap == &mxi_heap_empty) {
        return 0;
    }
    heap_take_woken(heap);
    size_t released = 0;
    for (unsigned c = 1; c < MX_CLASS_COUNT; c++) {
        mx_page_t *next;
        for (mx_page_t *page = heap->queues[c].first; page != NULL; page = next) {
            if (stop != NULL && stop(ctx)) {
                return released;
            }
            next = page->next;
            mxi_page_collect_remote(page);
            if (heap_page_can_release(page)) {
                heap_release_page(heap, page);
                released++;
            }
        }
    }
    return released;
}

size_t mxi_heap_trim_pages(mx_heap_t *heap, unsigned max_used, mx_heap_walk_stop_t *stop,
                           void *ctx)
{
    if (heap == &mxi_heap_empty) {
        return 0;
    }
    size_t trimmed = 0;
    for (unsigned c = 1; c < MX_CLASS_COUNT; c++) {
        for (mx_page_t *page = heap->queues[c].first; page != NULL; page = page->next) {
            if (stop != NULL && stop(ctx)) {
                return trimmed;
            }
            trimmed += mxi_page_trim(page, max_used);
        }
    }
    return trimmed;
}
