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

void *mxi_realloc(void *p, size_t size)
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
    }
    void *q = mxi_alloc(size);
    if (q == NULL) {
        return NULL;
    }
    memcpy(q, p, size < usable ? size : usable);
    mxi_free(p);
    return q;
}

void *mxi_reallocarray(void *p, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return mxi_realloc(p, total);
}
