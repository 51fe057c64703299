/* Size classes: 8 bytes, multiples of 16 up to 256 bytes, then eight per doubling up to
 * MX_MEDIUM_MAX, so a block wastes under 12.5% of itself, and from MX_SPLIT_MIN on one more a
 * sixteenth above each power of two, with the slack class just above MX_SPLIT_MIN (config.h).
 * Class 0 is unused; class 1 (8 bytes) also serves malloc(0). */
#ifndef MX_SIZE_CLASS_H
#define MX_SIZE_CLASS_H

#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "config.h"
#include "types.h"

/* size must be <= MX_MEDIUM_MAX. */
MX_INLINE unsigned mxi_size_class_of(size_t size)
{
    if (size <= MX_LINEAR_MAX) {
        return size <= MX_MIN_BLOCK ? 1 : (unsigned)((size + MX_ALIGNMENT - 1) / MX_ALIGNMENT) + 1;
    }
    size_t s = size - 1;
    unsigned log2 = 63u - (unsigned)__builtin_clzl(s); /* >= 8 */
    unsigned first = MX_LINEAR_MAX / MX_ALIGNMENT + 2 + (log2 - 8) * MX_CLASSES_PER_DOUBLING;
    if (s < MX_SPLIT_MIN) {
        return first + ((unsigned)(s >> (log2 - 3)) & (MX_CLASSES_PER_DOUBLING - 1));
    }
    /* The slack class first, then sixteenths above the power of two: 0 and 1 are the split
     * first class, then two to a class; each split doubling before this one added a class, and
     * the slack class one more. */
    if (size <= MX_SLACK_CLASS) {
        return first;
    }
    unsigned sixteenths = (unsigned)(s >> (log2 - 4)) & 15;
    unsigned split_before = log2 - (unsigned)__builtin_ctzl(MX_SPLIT_MIN);
    return first + 1 + split_before + (sixteenths < 2 ? sixteenths : sixteenths / 2 + 1);
}

extern uint32_t mxi_size_class_block[MX_CLASS_COUNT];
extern uint16_t mxi_size_class_slices[MX_CLASS_COUNT];

MX_INLINE size_t mxi_size_class_block_size(unsigned class_index)
{
    return mxi_size_class_block[class_index];
}

/* Slices in a page of this class: enough for at least eight blocks, and for medium classes at
 * least MX_MEDIUM_PAGE_MIN. */
MX_INLINE uint32_t mxi_size_class_page_slices(unsigned class_index)
{
    return mxi_size_class_slices[class_index];
}

/* Fills the tables; called once during process initialization. */
void mxi_size_class_init(void);

#endif
