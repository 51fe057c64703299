/* Heaps of exited threads. A thread's exit abandons its heap with the pages that still hold
 * live blocks; the next new thread takes such a heap over whole, and a running thread that needs
 * a page takes that class's pages from one (or a whole heap nobody came for within the purge
 * delay), so the memory of dead threads is reused and remote frees into it are never lost.
 * Heaps without pages wait as spares for new threads. */
#ifndef MX_ABANDON_H
#define MX_ABANDON_H

#include <stdbool.h>
#include <stddef.h>

#include "types.h"

/* The exiting thread gives up its heap; its TLS heap becomes the empty heap. */
void mxi_abandon_heap(mx_heap_t *heap);

/* An abandoned heap, with its pages, for a new thread (NULL if none). */
mx_heap_t *mxi_abandon_take_abandoned(void);

/* A spare heap without pages (NULL if none). */
mx_heap_t *mxi_abandon_take_spare(void);

/* Moves the queued pages of one size class from an abandoned heap into heap: the pages a thread
 * is about to need, taken without the rest of the exited thread's heap, which stays whole for
 * the next new thread. False if no abandoned heap has pages of that class. */
bool mxi_abandon_adopt_class(mx_heap_t *heap, unsigned class_index);

/* Moves the pages of the oldest abandoned heap into heap, if one has waited at least the purge
 * delay (any, with `force`); false if none was taken. */
bool mxi_abandon_adopt(mx_heap_t *heap, bool force);

/* Under the abandon lock: collects, in place, every abandoned heap that remote frees went into
 * (every one with `force`), and makes those left without pages spares. Returns the number of
 * heaps collected and, in *pages, the pages they gave back. */
size_t mxi_abandon_collect_locked(bool force, size_t *pages);

/* In a fork child, with the abandon lock held: the heaps of the parent's other threads, which
 * do not exist here, are abandoned (or made spares), except those whose thread was inside the
 * allocator at the fork, which may be half-changed and are marked lost. `self` is the heap of
 * the thread that forked. */
void mxi_abandon_after_fork(mx_heap_t *self);

/* Guards the abandoned and spare lists; a leaf except that adoption takes a heap's lock
 * after releasing it. */
extern mx_lock_t mxi_abandon_lock;

#endif
