/* Pages of exited threads. A thread's exit gives its pages that still hold live blocks to one
 * pool that every thread draws from, a few pages of a size class at a time when it runs out of
 * that class, so the memory of dead threads is reused by all the living and remote frees into
 * it are never lost. The exited thread's heap, now without pages, waits as a spare for the next
 * new thread. */
#ifndef MX_ABANDON_H
#define MX_ABANDON_H

#include <stdbool.h>
#include <stddef.h>

#include "types.h"

/* The exiting thread gives up its heap; its TLS heap becomes the empty heap. */
void mxi_abandon_heap(mx_heap_t *heap);

/* A spare heap without pages (NULL if none). */
mx_heap_t *mxi_abandon_take_spare(void);

/* Moves a few pages of one size class from the pool into heap: those that remote frees woke,
 * and some queued ones. False if the pool had none. */
bool mxi_abandon_adopt_class(mx_heap_t *heap, unsigned class_index);

/* Under the abandon lock: collects the pool in place if remote frees went into it (always with
 * `force`): takes their blocks and gives its empty pages back, and with `force` also trims its
 * pages (trim.h). Returns the number of heaps collected (0 or 1), in *pages the pages given
 * back and in *trimmed the bytes trimmed. */
size_t mxi_abandon_collect_locked(bool force, size_t *pages, size_t *trimmed);

/* In a fork child, with the abandon lock held: the pages of the parent's other threads, which
 * do not exist here, join the pool and their heaps become spares, except those whose thread was
 * inside the allocator at the fork, which may be half-changed and are marked lost. `self` is
 * the heap of the thread that forked. */
void mxi_abandon_after_fork(mx_heap_t *self);

/* Guards the pool's queues, the spare list and every heap's state. */
extern mx_lock_t mxi_abandon_lock;

#endif
