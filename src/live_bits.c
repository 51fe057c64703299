/* The live-block bitmap's one slow operation (see live_bits.h). */
#include "live_bits.h"

void mxi_live_bits_reset(mx_live_bits_t *bits, const void *from, size_t size)
{
    size_t first = mxi_live_bit_of(from) / 64;
    for (size_t i = 0; i < size / MX_MIN_BLOCK / 64; i++) {
        mxi_atomic_store_relaxed(&bits->words[first + i], 0);
    }
}
