/* The segment map (see segment_map.h). Writers hold the segment lock; readers are lock-free. */
#include "segment_map.h"

_Atomic(uint8_t) mxi_segment_map[MX_SEGMENT_MAP_UNITS];

void mxi_segment_map_set(uintptr_t segment)
{
    mxi_atomic_store_release(&mxi_segment_map[segment >> MX_SEGMENT_SHIFT], 1);
}

void mxi_segment_map_clear(uintptr_t segment)
{
    mxi_atomic_store_release(&mxi_segment_map[segment >> MX_SEGMENT_SHIFT], 0);
}
