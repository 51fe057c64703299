/* The OS layer: the only code that calls mmap, munmap, madvise, mremap, mincore and futex.
 * Functions return NULL/false on failure with errno ENOMEM; any other failure is a broken
 * invariant and fatal. Memory comes back readable, writable and zero; nothing is faulted in
 * until touched. */
#ifndef MX_OS_H
#define MX_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Maps `size` bytes (a multiple of the OS page size) whose address is a multiple of
 * `alignment` (a power of two, at least the OS page size). */
void *mxi_os_map_aligned(size_t size, size_t alignment);
/* False if the kernel refused because the process is at its map-count limit (the range is
 * then still mapped, unchanged). */
bool mxi_os_unmap(void *addr, size_t size);
/* Gives the physical memory behind [addr, addr+size) back; the range reads as zero after. */
void mxi_os_purge(void *addr, size_t size);
/* Faults [addr, addr+size) in with one system call instead of a page fault per OS page.
 * Only a hint: where the kernel cannot (before Linux 5.14, or out of memory), the range is left
 * as it is and faults in when touched. */
void mxi_os_populate(void *addr, size_t size);
/* Grows or shrinks a mapping in place; false if the neighbouring range is taken. */
bool mxi_os_resize_in_place(void *addr, size_t old_size, size_t new_size);
/* Moves a mapping's pages to `to` (a range we reserved) without copying them. */
bool mxi_os_move(void *from, size_t old_size, void *to, size_t new_size);
size_t mxi_os_page_size(void);
/* Bytes of [addr, addr+size) the kernel holds in memory (mincore), for statistics. A part of
 * the range that is no longer mapped (a huge block shrinking while it is measured) counts as
 * not resident rather than failing. */
size_t mxi_os_resident(const void *addr, size_t size);
/* Makes [addr, addr+size) inaccessible (a guard) or readable and writable again; false if the
 * kernel refuses (it can run out of mappings: each guard splits one). */
bool mxi_os_protect(void *addr, size_t size, bool is_guard);
/* Sleeps while the 32-bit word at `word` holds `value`, for at most `timeout_ns`; it may also
 * return early, so callers check their condition again. */
void mxi_os_wait(const void *word, uint32_t value, long timeout_ns);
/* Wakes every thread mxi_os_wait put to sleep on `word`. */
void mxi_os_wake(const void *word);

#endif
