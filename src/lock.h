/* A small spinlock for the short critical sections of the slow paths (claiming slices,
 * handing exited threads' pages over, waking parked pages). It never allocates, so it is safe
 * inside malloc and before any initialization; it backs off to sched_yield so a preempted
 * holder does not burn the other core. */
#ifndef MX_LOCK_H
#define MX_LOCK_H

#include <sched.h>
#include <stdbool.h>

#include "atomic.h"
#include "compiler.h"

typedef struct mx_lock {
    _Atomic(int) is_locked;
} mx_lock_t;

#define MX_LOCK_INIT {0}

MX_INLINE bool mxi_lock_try(mx_lock_t *lock)
{
    return mxi_atomic_load_relaxed(&lock->is_locked) == 0 &&
           atomic_exchange_explicit(&lock->is_locked, 1, memory_order_acquire) == 0;
}

MX_INLINE void mxi_lock(mx_lock_t *lock)
{
    for (unsigned spins = 0; !mxi_lock_try(lock); spins++) {
        if (spins < 64) {
            __builtin_ia32_pause();
        } else {
            sched_yield();
        }
    }
}

MX_INLINE void mxi_unlock(mx_lock_t *lock)
{
    mxi_atomic_store_release(&lock->is_locked, 0);
}

/* After fork the child has one thread; a lock held by a thread that no longer exists must
 * be released by force. */
MX_INLINE void mxi_lock_reset(mx_lock_t *lock)
{
    mxi_atomic_store_relaxed(&lock->is_locked, 0);
}

#endif
