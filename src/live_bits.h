/* The live-block bitmap: one bit per MX_MIN_BLOCK bytes of a segment, in a mapping of its own
 * beside the segment, set while the small block that starts there is handed out. free() tells
 * a double free by it instead of by reading the block: a block freed at random is out of
 * cache, and a read of it is a miss the call cannot return before, where free's write to it
 * is not waited for (bench/latency, medians of 5 runs with 1, 2 and 8 threads: free's p99.9
 * 300, 300 and 561 ns reading the block, 210, 200 and 351 with the bitmap in the segment
 * header). The bitmap is a sixty-fourth of the memory it covers, so the word a free needs is
 * in cache far more often; that much more memory is resident where small blocks fill the
 * pages.
 *
 * Writers: the page's owner sets a block's bit when malloc hands it out and clears it when it
 * frees the block, with plain read-modify-writes; other threads clear the bits of the blocks
 * they free with an atomic AND. An owner's write may then put back a bit that another thread
 * cleared in the same word a moment before: that block looks live while it is free, so a
 * second free of it before it is handed out again goes unnoticed. The reverse cannot happen
 * (only the owner sets bits), so a bit never says free for a live block, and nothing is ever
 * reported that did not happen. */
#ifndef MX_LIVE_BITS_H
#define MX_LIVE_BITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "compiler.h"
#include "config.h"

#define MX_LIVE_BITS_WORDS (MX_SEGMENT_SIZE / MX_MIN_BLOCK / 64)

typedef struct mx_live_bits {
    _Atomic(uint64_t) words[MX_LIVE_BITS_WORDS];
} mx_live_bits_t;

/* The bit of the block at p, counted from the start of p's segment. */
MX_INLINE size_t mxi_live_bit_of(const void *p)
{
    return ((uintptr_t)p / MX_MIN_BLOCK) & (MX_SEGMENT_SIZE / MX_MIN_BLOCK - 1);
}

MX_INLINE bool mxi_live_bits_test(mx_live_bits_t *bits, size_t bit)
{
    return (mxi_atomic_load_relaxed(&bits->words[bit / 64]) >> (bit % 64)) & 1;
}

/* On x86-64 the owner's updates are one bts or btr with a register bit offset, which finds the
 * word itself: a load, the shifts and masks, and a store fewer than the same in C, on paths
 * where every instruction shows. ThreadSanitizer cannot see inside asm, so its builds use C. */
#if defined(__x86_64__) && !MX_TSAN
#define MX_LIVE_BITS_ASM 1
#else
#define MX_LIVE_BITS_ASM 0
#endif

/* Owner only: clears the bit; returns whether it was set. */
MX_INLINE bool mxi_live_bits_clear(mx_live_bits_t *bits, size_t bit)
{
#if MX_LIVE_BITS_ASM
    bool was_set;
    __asm__("btrq %2, %0" : "+m"(*bits), "=@ccc"(was_set) : "r"(bit));
    return was_set;
#else
    _Atomic(uint64_t) *word = &bits->words[bit / 64];
    uint64_t old = mxi_atomic_load_relaxed(word);
    mxi_atomic_store_relaxed(word, old & ~((uint64_t)1 << (bit % 64)));
    return (old >> (bit % 64)) & 1;
#endif
}

/* Any thread: clears the bit atomically; returns whether it was set. */
MX_INLINE bool mxi_live_bits_clear_atomic(mx_live_bits_t *bits, size_t bit)
{
    uint64_t mask = (uint64_t)1 << (bit % 64);
    return (atomic_fetch_and_explicit(&bits->words[bit / 64], ~mask, memory_order_relaxed) &
            mask) != 0;
}

/* The fast paths find a block's bit from its page's `live_bits_base`: the segment's bitmap
 * less the segment's address / 64, so that the bit index is the block's address /
 * MX_MIN_BLOCK, a shift and no mask, and the bitmap's address is a field of the page
 * descriptor they read anyway. */
MX_INLINE uintptr_t mxi_live_bits_base(mx_live_bits_t *bits, const void *segment)
{
    return (uintptr_t)bits - (uintptr_t)segment / (MX_MIN_BLOCK * 64) * sizeof(uint64_t);
}

/* Owner only: sets the bit of the block at p, in the bitmap at `base` (as above). The asm
 * operand spans every address base can reach, 2^41 bytes for 47-bit user addresses, so the
 * compiler knows what it may touch. */
MX_INLINE void mxi_live_bits_set_at(uintptr_t base, const void *p)
{
    uintptr_t bit = (uintptr_t)p / MX_MIN_BLOCK;
#if MX_LIVE_BITS_ASM
    __asm__("btsq %1, %0" : "+m"(*(uint8_t(*)[(size_t)1 << 41])base) : "r"(bit) : "cc");
#else
    _Atomic(uint64_t) *word = (_Atomic(uint64_t) *)base + bit / 64;
    mxi_atomic_store_relaxed(word, mxi_atomic_load_relaxed(word) | (uint64_t)1 << (bit % 64));
#endif
}

/* Owner only: clears the bit of the block at p, in the bitmap at `base`; returns whether it
 * was set. */
MX_INLINE bool mxi_live_bits_clear_at(uintptr_t base, const void *p)
{
    uintptr_t bit = (uintptr_t)p / MX_MIN_BLOCK;
#if MX_LIVE_BITS_ASM
    bool was_set;
    __asm__("btrq %2, %0"
            : "+m"(*(uint8_t(*)[(size_t)1 << 41])base), "=@ccc"(was_set)
            : "r"(bit));
    return was_set;
#else
    _Atomic(uint64_t) *word = (_Atomic(uint64_t) *)base + bit / 64;
    uint64_t old = mxi_atomic_load_relaxed(word);
    mxi_atomic_store_relaxed(word, old & ~((uint64_t)1 << (bit % 64)));
    return (old >> (bit % 64)) & 1;
#endif
}

/* Owner only, on slow paths: sets the bits of `mask` in word `index`. */
MX_INLINE void mxi_live_bits_or(mx_live_bits_t *bits, size_t index, uint64_t mask)
{
    _Atomic(uint64_t) *word = &bits->words[index];
    mxi_atomic_store_relaxed(word, mxi_atomic_load_relaxed(word) | mask);
}

/* Owner only, when a page is made: clears the bits of the bytes [from, from + size), both
 * multiples of 64 * MX_MIN_BLOCK, which a bit another thread's free lost (above) may have
 * left set. */
void mxi_live_bits_reset(mx_live_bits_t *bits, const void *from, size_t size);

#endif
