/* The segment map (see segment_map.h). Writers hold the segment lock; readers are lock-free. */
#include "segment_map.h"

_Atomic(uint64_t) mxi_segment_map[MX_SEGMENT_MAP_WORDS];

void mxi_segment_map_set(uintptr_t segment)
{
    uint64_t unit = segment >> MX_SEGMENT_SHIFT;
    mxi_atomic_fetch_or_acq_rel(&mxi_segment_map[unit / 64], (uint64_t)1 << (unit % 64));
}

void mxi_segment_map_clear(uintptr_t segment)
{
    uint64_t unit = segment >> MX_SEGMENT_SHIFT;
    mxi_atomic_fetch_and_acq_rel(&mxi_segment_map[unit / 64], ~((uint64_t)1 << (unit % 64)));
}
