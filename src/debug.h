/* Assertions in three levels, set by MX_DEBUG: MX_ASSERT (level 1) for cheap checks of
 * arguments and states, MX_ASSERT_INTERNAL (level 1) for our own invariants, and
 * MX_ASSERT_EXPENSIVE (level 2) for checks that walk lists. Release builds compile them out
 * but still type-check the expression. */
#ifndef MX_DEBUG_H
#define MX_DEBUG_H

#include "config.h"
#include "error.h"

#define MX_ASSERT_LEVEL(level, cond)                                                             \
    do {                                                                                         \
        if (MX_DEBUG >= (level) && !(cond)) {                                                    \
            mxi_assert_fail(#cond, __FILE__, __LINE__);                                          \
        }                                                                                        \
    } while (0)

#define MX_ASSERT(cond) MX_ASSERT_LEVEL(1, cond)
#define MX_ASSERT_INTERNAL(cond) MX_ASSERT_LEVEL(1, cond)
#define MX_ASSERT_EXPENSIVE(cond) MX_ASSERT_LEVEL(2, cond)

#endif
