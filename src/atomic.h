/* <stdatomic.h> with the memory order in the name, so a reader sees which orders are used. */
#ifndef MX_ATOMIC_H
#define MX_ATOMIC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define mxi_atomic_load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define mxi_atomic_load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define mxi_atomic_store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define mxi_atomic_store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define mxi_atomic_exchange_acq_rel(p, v) atomic_exchange_explicit((p), (v), memory_order_acq_rel)
#define mxi_atomic_fetch_and_acq_rel(p, v) atomic_fetch_and_explicit((p), (v), memory_order_acq_rel)
#define mxi_atomic_fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define mxi_atomic_cas_weak_release(p, expected, desired)                                       \
    atomic_compare_exchange_weak_explicit((p), (expected), (desired), memory_order_release,     \
                                          memory_order_relaxed)
#define mxi_atomic_cas_weak_acq_rel(p, expected, desired)                                       \
    atomic_compare_exchange_weak_explicit((p), (expected), (desired), memory_order_acq_rel,     \
                                          memory_order_acquire)
#define mxi_atomic_cas_strong_acq_rel(p, expected, desired)                                     \
    atomic_compare_exchange_strong_explicit((p), (expected), (desired), memory_order_acq_rel,   \
                                            memory_order_acquire)

#endif
