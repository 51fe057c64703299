/* The OS layer (see os.h). No locks, no global state besides the page size. Every call keeps
 * errno as it found it, except that a failed mapping leaves ENOMEM for the API to report. */
#include "os.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
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

/* munmap fails with ENOMEM only when unmapping the middle of a mapping would split it into two
 * and the process already has vm.max_map_count mappings; the callers then keep the range and
 * purge it instead. Any other failure is a bug of ours. */
bool mxi_os_unmap(void *addr, size_t size)
{
    int saved = errno;
    int rc = munmap(addr, size);
    int error = errno;
    errno = saved;
    if (rc == 0) {
        return true;
    }
    if (error != ENOMEM) {
        mxi_fatal("munmap", "failed on", addr, "");
    }
    return false;
}

/* Where the last aligned mapping went: near it is where an exact-size aligned mapping is
 * tried when over-mapping is refused. */
static _Atomic(uintptr_t) os_last_aligned;

/* Under a tight address-space limit (RLIMIT_AS) the over-mapping below can fail although the
 * mapping itself would fit: then try exact-size mappings at aligned addresses on both sides
 * of the last one, each with MAP_FIXED_NOREPLACE so nothing already mapped is touched. */
static void *os_map_aligned_exact(size_t size, size_t alignment)
{
    uintptr_t base = atomic_load_explicit(&os_last_aligned, memory_order_relaxed);
    base &= ~(uintptr_t)(alignment - 1);
    if (base == 0) {
        errno = ENOMEM;
        return NULL;
    }
    for (uintptr_t k = 1; k <= 64; k++) {
        uintptr_t candidates[2] = {base + k * alignment, base - k * alignment};
        for (int i = 0; i < 2; i++) {
            void *want = (void *)candidates[i];
            void *p = mmap(want, size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1,
                           0);
            if (p == want) {
                return p;
            }
            if (p != MAP_FAILED) {
                /* A kernel without MAP_FIXED_NOREPLACE treats the address as a hint. */
                mxi_os_unmap(p, size);
            }
        }
    }
    errno = ENOMEM;
    return NULL;
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
        void *exact = os_map_aligned_exact(size, alignment);
        if (exact != NULL) {
            atomic_store_explicit(&os_last_aligned, (uintptr_t)exact, memory_order_relaxed);
        }
        return exact;
    }
    uintptr_t start = ((uintptr_t)raw + alignment - 1) & ~(uintptr_t)(alignment - 1);
    size_t head = start - (uintptr_t)raw;
    size_t tail = over - head - size;
    /* A trim refused at the map-count limit leaves untouched address space mapped: it costs no
     * memory, and failing the allocation for it would be worse. */
    if (head != 0) {
        mxi_os_unmap(raw, head);
    }
    if (tail != 0) {
        mxi_os_unmap((uint8_t *)start + size, tail);
    }
    atomic_store_explicit(&os_last_aligned, start, memory_order_relaxed);
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

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void mxi_os_populate(void *addr, size_t size)
{
    static atomic_bool is_unsupported;
    if (atomic_load_explicit(&is_unsupported, memory_order_relaxed)) {
        return;
    }
    int saved = errno;
    if (madvise(addr, size, MADV_POPULATE_WRITE) != 0 && errno == EINVAL) {
        atomic_store_explicit(&is_unsupported, true, memory_order_relaxed);
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

bool mxi_os_protect(void *addr, size_t size, bool is_guard)
{
    int saved = errno;
    bool ok = mprotect(addr, size, is_guard ? PROT_NONE : PROT_READ | PROT_WRITE) == 0;
    errno = saved;
    return ok;
}

/* mincore fills one byte per page; a stack buffer of 4096 of them measures 16 MiB per call, so
 * statistics never allocate and a gigabyte costs 64 calls. */
size_t mxi_os_resident(const void *addr, size_t size)
{
    int saved = errno;
    size_t page = mxi_os_page_size();
    uintptr_t p = (uintptr_t)addr & ~(uintptr_t)(page - 1);
    uintptr_t end = ((uintptr_t)addr + size + page - 1) & ~(uintptr_t)(page - 1);
    unsigned char vec[4096];
    size_t pages = 0;
    while (p < end) {
        size_t n = (end - p) / page;
        if (n > sizeof(vec)) {
            n = sizeof(vec);
        }
        if (mincore((void *)p, n * page, vec) == 0) {
            for (size_t i = 0; i < n; i++) {
                pages += vec[i] & 1;
            }
        }
        p += n * page;
    }
    errno = saved;
    return pages * page;
}

void mxi_os_wait(const void *word, uint32_t value, long timeout_ns)
{
    struct timespec timeout = {0, timeout_ns};
    int saved = errno;
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, &timeout, NULL, 0);
    errno = saved;
}

void mxi_os_wake(const void *word)
{
    int saved = errno;
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
    errno = saved;
}
