/* Death tests: each misuse of the allocation API that malloc-x promises to detect must stop the
 * process with SIGABRT and one line on stderr naming the pointer (DESIGN.md, "Semantics at the
 * edges"). Each case runs in a forked child through mx_test_expect_abort, so one case's abort
 * cannot hide another's.
 *
 * The pointers are prepared in the parent before the fork wherever possible, so the expected
 * line can name the exact pointer: the child is a copy of the parent's address space, and the
 * allocator formats the pointer as glibc's "%p" does (0x followed by lowercase hex).
 *
 * Not detected, by design, and therefore not tested: free of an interior pointer of a SMALL block
 * on its owner thread. The free fast path masks to the segment, indexes the page and pushes the
 * block; telling an interior pointer from a block start would need a division by the block size
 * on every free, which the fast path does not pay for. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "support.h"

#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "malloc-x.h"

#define MSG_DOUBLE_FREE "malloc-x: free(): double free of "
#define MSG_INVALID_FREE "malloc-x: free(): invalid pointer "
#define MSG_NOT_OURS " (not allocated by malloc-x)"
#define MSG_NOT_START " (not the start of a block)"
#define MSG_REALLOC_FREED "malloc-x: realloc(): pointer "
#define MSG_ALREADY_FREE " is already free"
#define MSG_USABLE_INVALID "malloc-x: malloc_usable_size(): invalid pointer "
#define MSG_REALLOC_INVALID "malloc-x: realloc(): invalid pointer "
#define MSG_USABLE_FREED "malloc-x: malloc_usable_size(): pointer "
#define MSG_NOT_BLOCK " (not an allocated block)"

/* Where the child's misuse takes its pointer from; filled in by the parent before the fork. */
typedef struct {
    void *ptr;
} case_arg_t;

/* A global array: static storage, never returned by any allocator. */
static char g_global_array[256];

/* The expected line is prefix + "%p" of ptr + suffix + newline. The generic part (prefix up to
 * "0x", and the suffix) is checked first so a wrong pointer and a wrong message are told apart in
 * the log. */
static void expect_abort_naming(void (*fn)(void *), case_arg_t *arg, const char *prefix,
                                const void *ptr, const char *suffix)
{
    char expected[256];
    char generic[256];
    /* The newline pins the end of the pointer: no extra digits, nothing after the message. */
    snprintf(expected, sizeof(expected), "%s%p%s\n", prefix, ptr, suffix);
    snprintf(generic, sizeof(generic), "%s0x", prefix);
    /* glibc prints "0x" plus lowercase hex for any non-NULL pointer; if that ever changed the
     * exact check below would compare against the wrong text. */
    assert_true(strncmp(expected, generic, strlen(generic)) == 0);
    mx_test_expect_abort(fn, arg, generic);
    if (suffix[0] != '\0') {
        mx_test_expect_abort(fn, arg, suffix);
    }
    mx_test_expect_abort(fn, arg, expected);
}

/* ---- bodies run in the child ---- */

static void child_free_twice(void *a)
{
    void *p = ((case_arg_t *)a)->ptr;
    free(p);
    free(p);
}

static void child_free_once(void *a)
{
    free(((case_arg_t *)a)->ptr);
}

static void *thread_free_once(void *p)
{
    free(p);
    return NULL;
}

static void *thread_free_twice(void *p)
{
    free(p);
    free(p);
    return NULL;
}

/* Runs body(arg) on a new thread of the child and waits for it. */
static void child_on_thread(void *(*body)(void *), void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, body, arg) != 0) {
        _exit(3);
    }
    pthread_join(t, NULL);
}

/* The first free happens on another thread (a remote free, or a free into a page whose owner is
 * busy elsewhere); the owner then frees the same block again. */
static void child_remote_then_local_free(void *a)
{
    void *p = ((case_arg_t *)a)->ptr;
    child_on_thread(thread_free_once, p);
    free(p);
}

/* Both frees come from a thread that did not allocate the block. */
static void child_remote_double_free(void *a)
{
    child_on_thread(thread_free_twice, ((case_arg_t *)a)->ptr);
}

static void child_realloc_freed(void *a)
{
    void *p = ((case_arg_t *)a)->ptr;
    free(p);
    void *q = realloc(p, 64);
    /* Reaching here means the misuse went unnoticed; keep q alive so it cannot be elided. */
    fprintf(stderr, "realloc returned %p\n", q);
}

static void child_usable_size(void *a)
{
    size_t n = malloc_usable_size(((case_arg_t *)a)->ptr);
    fprintf(stderr, "malloc_usable_size returned %zu\n", n);
}

/* ---- double free ---- */

static void test_double_free_small(void **state)
{
    (void)state;
    case_arg_t arg = {malloc(32)};
    assert_non_null(arg.ptr);
    expect_abort_naming(child_free_twice, &arg, MSG_DOUBLE_FREE, arg.ptr, "");
    free(arg.ptr);
}

/* 8-byte blocks have room for the link only: the double free is recognized by it. */
static void test_double_free_tiny(void **state)
{
    (void)state;
    case_arg_t arg = {malloc(8)};
    assert_non_null(arg.ptr);
    expect_abort_naming(child_free_twice, &arg, MSG_DOUBLE_FREE, arg.ptr, "");
    free(arg.ptr);
}

static void test_double_free_tiny_other_thread(void **state)
{
    (void)state;
    case_arg_t arg = {malloc(8)};
    assert_non_null(arg.ptr);
    expect_abort_naming(child_remote_then_local_free, &arg, MSG_DOUBLE_FREE, arg.ptr, "");
    free(arg.ptr);
}

/* Pages of 8-byte blocks carry a flag in their owner word that tells free's fast path where the
 * link is; it must survive a page's move from an exited thread, through the pool, to the thread
 * that adopts it. The exited thread left free blocks in its page, so the adopter's first malloc(8)
 * takes that page; then both frees of block 0 are the adopter's own. Block 1, next to it, stays
 * live: a fast path that looked for block 0's link in the word after it would find block 1's
 * data there, take the block for live both times and overwrite that data. */
#define ADOPT_TINY_BLOCKS 64

static void *thread_alloc_tiny_and_exit(void *arg)
{
    void **blocks = arg;
    for (int i = 0; i < ADOPT_TINY_BLOCKS; i++) {
        blocks[i] = malloc(8);
        memset(blocks[i], 0x5a, 8);
    }
    for (int i = 3; i < ADOPT_TINY_BLOCKS; i += 4) {
        free(blocks[i]);
    }
    return NULL;
}

static void *thread_adopt_and_free_twice(void *p)
{
    void *mine = malloc(8);
    if (((uintptr_t)mine ^ (uintptr_t)p) >> 16 != 0) {
        fprintf(stderr, "malloc(8) returned %p, not a block of the page of %p\n", mine, p);
        _exit(4);
    }
    free(p);
    free(p);
    return NULL;
}

static void child_adopted_tiny_double_free(void *a)
{
    child_on_thread(thread_adopt_and_free_twice, ((case_arg_t *)a)->ptr);
}

static void test_double_free_tiny_adopted(void **state)
{
    (void)state;
    void *blocks[ADOPT_TINY_BLOCKS];
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_alloc_tiny_and_exit, blocks), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    case_arg_t arg = {blocks[0]};
    expect_abort_naming(child_adopted_tiny_double_free, &arg, MSG_DOUBLE_FREE, arg.ptr, "");
    for (int i = 0; i < ADOPT_TINY_BLOCKS; i++) {
        if (i % 4 != 3) {
            free(blocks[i]);
        }
    }
}

static void test_double_free_medium(void **state)
{
    (void)state;
    case_arg_t arg = {malloc(5000)};
    assert_non_null(arg.ptr);
    expect_abort_naming(child_free_twice, &arg, MSG_DOUBLE_FREE, arg.ptr, "");
    free(arg.ptr);
}

/* The block was freed once and handed out again at the same address, so the allocator must judge
 * the second free by the block's current state, not by its history. An allocator that keeps
 * freed blocks on a separate list (local_free) hands the address back only once the page's other
 * blocks are used up, so allocate until it comes back. */
#define REUSE_MAX_TRIES 100000

static void test_double_free_after_reuse(void **state)
{
    (void)state;
    void *first = malloc(64);
    assert_non_null(first);
    free(first);
    void **extra = malloc(REUSE_MAX_TRIES * sizeof(void *));
    assert_non_null(extra);
    size_t extra_count = 0;
    case_arg_t arg = {malloc(64)};
    assert_non_null(arg.ptr);
    while (arg.ptr != first && extra_count < REUSE_MAX_TRIES) {
        extra[extra_count++] = arg.ptr;
        arg.ptr = malloc(64);
        assert_non_null(arg.ptr);
    }
    print_message("reuse: first %p, reused %p after %zu other allocations%s\n", first, arg.ptr,
                  extra_count, first == arg.ptr ? "" : " (address never came back)");
    expect_abort_naming(child_free_twice, &arg, MSG_DOUBLE_FREE, arg.ptr, "");
    free(arg.ptr);
    for (size_t i = 0; i < extra_count; i++) {
        free(extra[i]);
    }
    free(extra);
}

static void test_double_free_first_on_other_thread(void **state)
{
    (void)state;
    case_arg_t arg = {malloc(32)};
    assert_non_null(arg.ptr);
    expect_abort_naming(child_remote_then_local_free, &arg, MSG_DOUBLE_FREE, arg.ptr, "");
    free(arg.ptr);
}

static void test_double_free_both_on_other_thread(void **state)
{
    (void)state;
    case_arg_t arg = {malloc(32)};
    assert_non_null(arg.ptr);
    expect_abort_naming(child_remote_double_free, &arg, MSG_DOUBLE_FREE, arg.ptr, "");
    free(arg.ptr);
}

/* A block whose memory malloc_trim gave back is on no free list, so its link word (zero, as
 * the memory reads now) does not say that it is free: the page's trim state must. Blocks of
 * 3000 bytes, a class no other case uses, so the page holds only these: every 16th stays live,
 * and block 8 lies between two live ones, in OS pages only freed blocks overlap. */
#define TRIM_CASE_BLOCKS 256
#define TRIM_CASE_KEEP 16

static void *g_trim_case[TRIM_CASE_BLOCKS];

static void trim_case_prepare(case_arg_t *arg)
{
    for (size_t i = 0; i < TRIM_CASE_BLOCKS; i++) {
        g_trim_case[i] = malloc(3000);
        assert_non_null(g_trim_case[i]);
        memset(g_trim_case[i], 1, 3000);
    }
    arg->ptr = g_trim_case[TRIM_CASE_KEEP / 2];
}

static void trim_case_free_most(void)
{
    for (size_t i = 0; i < TRIM_CASE_BLOCKS; i++) {
        if (i % TRIM_CASE_KEEP != 0) {
            free(g_trim_case[i]);
        }
    }
    malloc_trim(0);
}

static void trim_case_cleanup(void)
{
    for (size_t i = 0; i < TRIM_CASE_BLOCKS; i++) {
        free(g_trim_case[i]);
    }
}

static void child_free_trimmed_again(void *a)
{
    trim_case_free_most();
    free(((case_arg_t *)a)->ptr);
}

static void child_free_trimmed_again_remote(void *a)
{
    trim_case_free_most();
    child_on_thread(thread_free_once, ((case_arg_t *)a)->ptr);
}

static void test_double_free_trimmed(void **state)
{
    (void)state;
    case_arg_t arg;
    trim_case_prepare(&arg);
    expect_abort_naming(child_free_trimmed_again, &arg, MSG_DOUBLE_FREE, arg.ptr, "");
    trim_case_cleanup();
}

static void test_double_free_trimmed_other_thread(void **state)
{
    (void)state;
    case_arg_t arg;
    trim_case_prepare(&arg);
    expect_abort_naming(child_free_trimmed_again_remote, &arg, MSG_DOUBLE_FREE, arg.ptr, "");
    trim_case_cleanup();
}

/* ---- pointers malloc-x never returned ---- */

static void test_free_stack_address(void **state)
{
    (void)state;
    /* The child is a copy of this process, so this frame (and buf) exists in it too. */
    char buf[64];
    memset(buf, 0, sizeof(buf));
    case_arg_t arg = {buf + 16};
    expect_abort_naming(child_free_once, &arg, MSG_INVALID_FREE, arg.ptr, MSG_NOT_OURS);
}

static void test_free_global_array(void **state)
{
    (void)state;
    case_arg_t arg = {g_global_array};
    expect_abort_naming(child_free_once, &arg, MSG_INVALID_FREE, arg.ptr, MSG_NOT_OURS);
}

/* Stands in for a pointer from another allocator: memory malloc-x did not map. */
static void test_free_foreign_mmap(void **state)
{
    (void)state;
    size_t len = 1 << 20;
    char *region = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(region != MAP_FAILED);
    memset(region, 0xab, 4096);
    case_arg_t arg = {region + 4096 + 64};
    expect_abort_naming(child_free_once, &arg, MSG_INVALID_FREE, arg.ptr, MSG_NOT_OURS);
    munmap(region, len);
}

static void test_free_low_address(void **state)
{
    (void)state;
    case_arg_t arg = {(void *)0x1000};
    expect_abort_naming(child_free_once, &arg, MSG_INVALID_FREE, arg.ptr, MSG_NOT_OURS);
}

/* ---- interior pointers of blocks the allocator can check cheaply ---- */

static void test_free_interior_large(void **state)
{
    (void)state;
    char *block = malloc(1 << 20);
    assert_non_null(block);
    case_arg_t arg = {block + 64};
    expect_abort_naming(child_free_once, &arg, MSG_INVALID_FREE, arg.ptr, MSG_NOT_START);
    free(block);
}

static void test_free_interior_huge(void **state)
{
    (void)state;
    char *block = malloc((size_t)100 << 20);
    assert_non_null(block);
    case_arg_t arg = {block + 4096};
    expect_abort_naming(child_free_once, &arg, MSG_INVALID_FREE, arg.ptr, MSG_NOT_START);
    free(block);
}

/* ---- other entry points ---- */

static void test_realloc_freed_small(void **state)
{
    (void)state;
    case_arg_t arg = {malloc(32)};
    assert_non_null(arg.ptr);
    expect_abort_naming(child_realloc_freed, &arg, MSG_REALLOC_FREED, arg.ptr, MSG_ALREADY_FREE);
    free(arg.ptr);
}

static void test_usable_size_stack_address(void **state)
{
    (void)state;
    char buf[64];
    memset(buf, 0, sizeof(buf));
    case_arg_t arg = {buf + 8};
    expect_abort_naming(child_usable_size, &arg, MSG_USABLE_INVALID, arg.ptr, MSG_NOT_OURS);
}

/* ---- positive control ---- */

static void *thread_alloc_free(void *unused)
{
    (void)unused;
    for (size_t size = 1; size <= (1 << 20); size *= 3) {
        void *p = malloc(size);
        memset(p, 1, size);
        free(p);
    }
    return NULL;
}

/* A correct program in a child exits normally and prints nothing: without this, every death test
 * above could pass because the child aborts for some unrelated reason (they also match the
 * message, but this pins the harness itself). */
static void child_correct_program(void *unused)
{
    (void)unused;
    void *keep[64];
    for (int i = 0; i < 64; i++) {
        keep[i] = malloc((size_t)(i * 97 + 1));
        memset(keep[i], i, (size_t)(i * 97 + 1));
    }
    child_on_thread(thread_alloc_free, NULL);
    void *big = malloc((size_t)100 << 20);
    free(big);
    void *q = realloc(keep[0], 5000);
    keep[0] = q;
    void *al = NULL;
    if (posix_memalign(&al, 4096, 100) != 0) {
        _exit(4);
    }
    free(al);
    for (int i = 0; i < 64; i++) {
        free(keep[i]);
    }
}

static void test_positive_control(void **state)
{
    (void)state;
    char out[4096];
    int sig = mx_test_run_child(child_correct_program, NULL, out, sizeof(out));
    if (sig != 0 || out[0] != '\0') {
        print_error("correct program: signal %d, stderr \"%s\"\n", sig, out);
    }
    assert_int_equal(sig, 0);
    assert_string_equal(out, "");
}

/* ---- appended cases: the rest of the misuse table ---- */

/* glibc's own malloc and free, found in libc.so.6 itself. Under -lmalloc-x, dlsym(RTLD_NEXT,
 * "malloc") from the program finds malloc-x again (it comes first in the search order after the
 * program), so the lookup goes through libc's handle. */
typedef struct {
    void *(*malloc_fn)(size_t);
    void (*free_fn)(void *);
} glibc_alloc_t;

static glibc_alloc_t glibc_allocator(void)
{
    glibc_alloc_t g = {NULL, NULL};
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(libc);
    *(void **)&g.malloc_fn = dlsym(libc, "malloc");
    *(void **)&g.free_fn = dlsym(libc, "free");
    assert_non_null(g.malloc_fn);
    assert_non_null(g.free_fn);
    /* Really another allocator: not the malloc this program calls. */
    assert_true((void *)g.malloc_fn != (void *)malloc);
    dlclose(libc);
    return g;
}

static void *thread_free_interior(void *p)
{
    free((char *)p + 16);
    return NULL;
}

/* An interior pointer freed from a thread that does not own the page: the remote path validates
 * block starts. */
static void child_remote_free_interior(void *a)
{
    child_on_thread(thread_free_interior, ((case_arg_t *)a)->ptr);
}

static void child_realloc_once(void *a)
{
    void *q = realloc(((case_arg_t *)a)->ptr, 100);
    fprintf(stderr, "realloc returned %p\n", q);
}

static void child_free_then_usable_size(void *a)
{
    void *p = ((case_arg_t *)a)->ptr;
    free(p);
    size_t n = malloc_usable_size(p);
    fprintf(stderr, "malloc_usable_size returned %zu\n", n);
}

/* Free of a block from another allocator in the same process: glibc's malloc. */
static void test_free_glibc_block(void **state)
{
    (void)state;
    glibc_alloc_t g = glibc_allocator();
    static const size_t sizes[] = {100, 1 << 20}; /* glibc's heap, and an mmap'd chunk */
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        case_arg_t arg = {g.malloc_fn(sizes[i])};
        assert_non_null(arg.ptr);
        memset(arg.ptr, 0x11, sizes[i]);
        assert_int_equal(mx_owns(arg.ptr), 0);
        expect_abort_naming(child_free_once, &arg, MSG_INVALID_FREE, arg.ptr, MSG_NOT_OURS);
        g.free_fn(arg.ptr);
    }
}

static void test_usable_size_glibc_block(void **state)
{
    (void)state;
    glibc_alloc_t g = glibc_allocator();
    case_arg_t arg = {g.malloc_fn(48)};
    assert_non_null(arg.ptr);
    expect_abort_naming(child_usable_size, &arg, MSG_USABLE_INVALID, arg.ptr, MSG_NOT_OURS);
    g.free_fn(arg.ptr);
}

static void test_realloc_stack_address(void **state)
{
    (void)state;
    char buf[64];
    memset(buf, 0, sizeof(buf));
    case_arg_t arg = {buf + 16};
    expect_abort_naming(child_realloc_once, &arg, MSG_REALLOC_INVALID, arg.ptr, MSG_NOT_OURS);
}

static void test_usable_size_freed_small(void **state)
{
    (void)state;
    static const size_t sizes[] = {32, 5000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        case_arg_t arg = {malloc(sizes[i])};
        assert_non_null(arg.ptr);
        expect_abort_naming(child_free_then_usable_size, &arg, MSG_USABLE_FREED, arg.ptr,
                            MSG_ALREADY_FREE);
        free(arg.ptr);
    }
}

/* A freed large block's slices go back to its segment at once, so a second look finds no block
 * there at all: the message says "not an allocated block", not "already free". */
static void test_usable_size_freed_large(void **state)
{
    (void)state;
    case_arg_t arg = {malloc(1 << 20)};
    assert_non_null(arg.ptr);
    expect_abort_naming(child_free_then_usable_size, &arg, MSG_USABLE_INVALID, arg.ptr,
                        MSG_NOT_BLOCK);
    free(arg.ptr);
}

static void test_free_interior_small_remote(void **state)
{
    (void)state;
    static const size_t sizes[] = {64, 5000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *block = malloc(sizes[i]);
        assert_non_null(block);
        case_arg_t arg = {block};
        /* The thread frees block + 16. */
        expect_abort_naming(child_remote_free_interior, &arg, MSG_INVALID_FREE, block + 16,
                            MSG_NOT_START);
        free(block);
    }
}

/* Blocks of one size until the page of the first is full: a full page is parked, so the
 * owner's free of a block in it takes the slow path. Each case uses a size class no other case
 * uses, so that page is full once thousands more blocks have been handed out. */
#define FULL_PAGE_BLOCKS 5000

static void **full_page_blocks(size_t size)
{
    void **blocks = malloc(FULL_PAGE_BLOCKS * sizeof(void *));
    assert_non_null(blocks);
    for (int i = 0; i < FULL_PAGE_BLOCKS; i++) {
        blocks[i] = malloc(size);
        assert_non_null(blocks[i]);
    }
    return blocks;
}

static void full_page_blocks_free(void **blocks)
{
    for (int i = 0; i < FULL_PAGE_BLOCKS; i++) {
        free(blocks[i]);
    }
    free(blocks);
}

/* The slow path checks the block grid: an interior pointer (48-byte blocks). */
static void test_free_interior_small_full_page(void **state)
{
    (void)state;
    void **blocks = full_page_blocks(48);
    case_arg_t arg = {(char *)blocks[0] + 16};
    expect_abort_naming(child_free_once, &arg, MSG_INVALID_FREE, arg.ptr, MSG_NOT_START);
    full_page_blocks_free(blocks);
}

/* The first free brings the page back to its queue; what comes after it must still see the
 * block as free (112-byte blocks). */
static void test_double_free_full_page(void **state)
{
    (void)state;
    void **blocks = full_page_blocks(112);
    case_arg_t arg = {blocks[0]};
    expect_abort_naming(child_free_twice, &arg, MSG_DOUBLE_FREE, arg.ptr, "");
    expect_abort_naming(child_realloc_freed, &arg, MSG_REALLOC_FREED, arg.ptr, MSG_ALREADY_FREE);
    expect_abort_naming(child_free_then_usable_size, &arg, MSG_USABLE_FREED, arg.ptr,
                        MSG_ALREADY_FREE);
    full_page_blocks_free(blocks);
}

/* Another thread frees a block of a parked page first, which sends the page back to its owner
 * but leaves it flagged until the owner takes it; the owner's free of the same block then goes
 * through the parked page's own path (176-byte blocks). */
static void test_double_free_full_page_remote_first(void **state)
{
    (void)state;
    void **blocks = full_page_blocks(176);
    case_arg_t arg = {blocks[0]};
    expect_abort_naming(child_remote_then_local_free, &arg, MSG_DOUBLE_FREE, arg.ptr, "");
    full_page_blocks_free(blocks);
}

/* Double frees of blocks with a page or a mapping of their own are caught, but the first free
 * gave the memory back, so the second is reported as a pointer to no block ("not an allocated
 * block" for a large block, whose slices return to the segment; "not allocated by malloc-x" for a
 * huge block, whose mapping is gone), not as "double free". */
static void test_double_free_large(void **state)
{
    (void)state;
    case_arg_t arg = {malloc(1 << 20)};
    assert_non_null(arg.ptr);
    expect_abort_naming(child_free_twice, &arg, MSG_INVALID_FREE, arg.ptr, MSG_NOT_BLOCK);
    free(arg.ptr);
}

static void test_double_free_huge(void **state)
{
    (void)state;
    case_arg_t arg = {malloc((size_t)100 << 20)};
    assert_non_null(arg.ptr);
    expect_abort_naming(child_free_twice, &arg, MSG_INVALID_FREE, arg.ptr, MSG_NOT_OURS);
    free(arg.ptr);
}

static void test_double_free_large_other_thread(void **state)
{
    (void)state;
    case_arg_t arg = {malloc(1 << 20)};
    assert_non_null(arg.ptr);
    expect_abort_naming(child_remote_then_local_free, &arg, MSG_INVALID_FREE, arg.ptr,
                        MSG_NOT_BLOCK);
    free(arg.ptr);
}

static void test_realloc_freed_large(void **state)
{
    (void)state;
    case_arg_t arg = {malloc(1 << 20)};
    assert_non_null(arg.ptr);
    expect_abort_naming(child_realloc_freed, &arg, MSG_REALLOC_INVALID, arg.ptr, MSG_NOT_BLOCK);
    free(arg.ptr);
}

static void test_realloc_freed_huge(void **state)
{
    (void)state;
    case_arg_t arg = {malloc((size_t)100 << 20)};
    assert_non_null(arg.ptr);
    expect_abort_naming(child_realloc_freed, &arg, MSG_REALLOC_INVALID, arg.ptr, MSG_NOT_OURS);
    free(arg.ptr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positive_control),
        cmocka_unit_test(test_double_free_small),
        cmocka_unit_test(test_double_free_tiny),
        cmocka_unit_test(test_double_free_tiny_other_thread),
        cmocka_unit_test(test_double_free_tiny_adopted),
        cmocka_unit_test(test_double_free_medium),
        cmocka_unit_test(test_double_free_after_reuse),
        cmocka_unit_test(test_double_free_first_on_other_thread),
        cmocka_unit_test(test_double_free_both_on_other_thread),
        cmocka_unit_test(test_double_free_trimmed),
        cmocka_unit_test(test_double_free_trimmed_other_thread),
        cmocka_unit_test(test_free_stack_address),
        cmocka_unit_test(test_free_global_array),
        cmocka_unit_test(test_free_foreign_mmap),
        cmocka_unit_test(test_free_low_address),
        cmocka_unit_test(test_free_interior_large),
        cmocka_unit_test(test_free_interior_huge),
        cmocka_unit_test(test_realloc_freed_small),
        cmocka_unit_test(test_usable_size_stack_address),
        cmocka_unit_test(test_free_glibc_block),
        cmocka_unit_test(test_usable_size_glibc_block),
        cmocka_unit_test(test_realloc_stack_address),
        cmocka_unit_test(test_usable_size_freed_small),
        cmocka_unit_test(test_usable_size_freed_large),
        cmocka_unit_test(test_free_interior_small_remote),
        cmocka_unit_test(test_free_interior_small_full_page),
        cmocka_unit_test(test_double_free_full_page),
        cmocka_unit_test(test_double_free_full_page_remote_first),
        cmocka_unit_test(test_double_free_large),
        cmocka_unit_test(test_double_free_huge),
        cmocka_unit_test(test_double_free_large_other_thread),
        cmocka_unit_test(test_realloc_freed_large),
        cmocka_unit_test(test_realloc_freed_huge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
