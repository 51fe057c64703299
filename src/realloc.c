/* realloc and reallocarray. A block is kept when the new size fits its usable size and does
 * not waste more than half of it; huge blocks grow and shrink with mremap instead of copying.
 * glibc's cases: realloc(NULL, n) is malloc(n); realloc(p, 0) frees p and returns NULL; on
 * failure p is left untouched and NULL is returned with errno ENOMEM. */
#include <errno.h>
#include <string.h>

#include "alloc.h"
#include "free.h"
#include "realloc.h"
#include "segment.h"

/* A large block owns whole slices; the slices after it are often free (segments fill from the
 * front), so growing usually needs no copy, and shrinking gives the tail back. */
static bool realloc_large_in_place(mx_page_t *page, size_t size)
{
    if (MX_SECURE) {
        return false; /* the guard page at its end would have to move with it */
    }
    uint8_t *span = (uint8_t *)mxi_segment_of(page) + (size_t)page->slice_index * MX_SLICE_SIZE;
    size_t needed = (size_t)(page->start - span) + size;
    uint32_t slices = (uint32_t)((needed + MX_SLICE_SIZE - 1) / MX_SLICE_SIZE);
    if (!mxi_segment_resize_large(page, slices)) {
        return false;
    }
    page->block_size = (size_t)slices * MX_SLICE_SIZE - (size_t)(page->start - span);
    return true;
}

static inline __attribute__((always_inline)) void *realloc_block(void *p, size_t size)
{
    if (p == NULL) {
        return mxi_alloc(size);
    }
    if (size == 0) {
        mxi_free(p);
        return NULL;
    }
    mx_page_t *page = mxi_free_check("realloc", p);
    size_t usable = mxi_free_usable_from(page, p);
    if (page->kind == MX_PAGE_HUGE && size > MX_LARGE_MAX) {
        mx_page_t *moved = size <= MX_MAX_REQUEST ? mxi_segment_huge_resize(page, size) : NULL;
        if (moved != NULL) {
            return moved->start;
        }
    } else if (size <= usable && size >= usable / 2) {
        return p;
    } else if (page->kind == MX_PAGE_LARGE && size > MX_MEDIUM_MAX && size <= MX_LARGE_MAX &&
               realloc_large_in_place(page, size)) {
        return p;
    }
    void *q = mxi_alloc(size);
    if (q == NULL) {
        return NULL;
    }
    memcpy(q, p, size < usable ? size : usable);
    mxi_free(p);
    return q;
}

/* The public entries call these after mxi_enter: leaving inside, at the one return, lets them
 * reach realloc's work by a tail jump, which a growing string's many in-place reallocs notice. */
void *mxi_realloc_leave(void *p, size_t size)
{
    void *q = realloc_block(p, size);
    mxi_leave();
    return q;
}

void *mxi_reallocarray_leave(void *p, size_t count, size_t size)
{
    size_t total;
    void *q = NULL;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
    } else {
        q = realloc_block(p, total);
    }
    mxi_leave();
    return q;
}
