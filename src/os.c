/* The OS layer (see os.h). No locks, no global state besides the page size. Every call keeps
 * errno as it found it, except that a failed mapping leaves ENOMEM for the API to report. */
#include "os.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"

size_t mxi_os_page_size(void)
{
    return 4096;
}

static void *os_map(void *hint, size_t size)
{
    void *p = mmap(hint, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    return p;
}

void mxi_os_unmap(void *addr, size_t size)
{
    int saved = errno;
    if (munmap(addr, size) != 0) {
        mxi_fatal("munmap", "failed on", addr, "");
    }
    errno = saved;
}

/* Over-map by the alignment and trim both ends: one mmap and at most two munmaps, with no
 * window in which another thread's mapping could land inside our range. */
void *mxi_os_map_aligned(size_t size, size_t alignment)
{
    size_t over;
    if (__builtin_add_overflow(size, alignment, &over)) {
        errno = ENOMEM;
        return NULL;
    }
    uint8_t *raw = os_map(NULL, over);
    if (raw == NULL) {
        return NULL;
    }
    uintptr_t start = ((uintptr_t)raw + alignment - 1) & ~(uintptr_t)(alignment - 1);
    size_t head = start - (uintptr_t)raw;
    size_t tail = over - head - size;
    if (head != 0) {
        mxi_os_unmap(raw, head);
    }
    if (tail != 0) {
        mxi_os_unmap((uint8_t *)start + size, tail);
    }
    return (void *)start;
}

void mxi_os_purge(void *addr, size_t size)
{
    int saved = errno;
    /* MADV_DONTNEED rather than MADV_FREE: lazily freed pages still count as resident, and
     * the point of purging is that they stop counting. */
    if (madvise(addr, size, MADV_DONTNEED) != 0) {
        mxi_fatal("madvise", "failed on", addr, "");
    }
    errno = saved;
}

bool mxi_os_resize_in_place(void *addr, size_t old_size, size_t new_size)
{
    int saved = errno;
    void *p = mremap(addr, old_size, new_size, 0);
    errno = saved;
    return p != MAP_FAILED;
}

bool mxi_os_move(void *from, size_t old_size, void *to, size_t new_size)
{
    int saved = errno;
    void *p = mremap(from, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    errno = saved;
    return p == to;
}
