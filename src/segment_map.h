/* One byte per MX_SEGMENT_SIZE of the 47-bit user address space: is there a malloc-x segment
 * header at this address rounded down? free() asks before it reads any header, so a pointer
 * malloc-x never returned is reported instead of crashing inside our metadata. The map is
 * 2 MiB of BSS, touched only where segments live: a 4 KiB page of it covers 256 GiB. A byte
 * rather than a bit per segment takes three instructions off free's fast path (no word index,
 * no bit test). */
#ifndef MX_SEGMENT_MAP_H
#define MX_SEGMENT_MAP_H

#include <stdbool.h>
#include <stdint.h>

#include "atomic.h"
#include "compiler.h"
#include "config.h"

#define MX_ADDRESS_BITS 47
#define MX_SEGMENT_MAP_UNITS ((uint64_t)1 << (MX_ADDRESS_BITS - MX_SEGMENT_SHIFT))

extern _Atomic(uint8_t) mxi_segment_map[MX_SEGMENT_MAP_UNITS];

MX_INLINE bool mxi_segment_map_contains(uintptr_t addr)
{
    uint64_t unit = addr >> MX_SEGMENT_SHIFT;
    if (unit >= MX_SEGMENT_MAP_UNITS) {
        return false;
    }
    return mxi_atomic_load_relaxed(&mxi_segment_map[unit]) != 0;
}

/* Both under the segment lock; readers race benignly (a segment is published before any of
 * its blocks is handed out, and unpublished only after the last is freed). */
void mxi_segment_map_set(uintptr_t segment);
void mxi_segment_map_clear(uintptr_t segment);

#endif
