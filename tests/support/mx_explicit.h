/* Routes a test's calls to the standard allocation names to the mx_ API, for the sanitizer
 * builds (tests/sanitize): there the allocator is linked without its standard-name aliases
 * (MX_NO_OVERRIDE), because AddressSanitizer and ThreadSanitizer must keep their own malloc,
 * and a test reaches malloc-x only by calling mx_malloc, mx_free, ... explicitly.
 *
 * A test includes this first (before any system header, right after defining _GNU_SOURCE),
 * under #ifdef MX_TEST_EXPLICIT_API; without that macro this header does nothing, and the test
 * keeps calling the standard names as before. The system headers that declare the standard
 * names are included here, before the macros, so that their prototypes are not renamed (and
 * their later inclusion by the test is a no-op thanks to their include guards).
 *
 * Only the test's own source is affected: cmocka and the test support library still use the
 * toolchain's malloc, so a block from one family must never reach the other's free. */
#ifndef MX_TEST_EXPLICIT_H
#define MX_TEST_EXPLICIT_H

#ifdef MX_TEST_EXPLICIT_API

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <stdlib.h>

#include "malloc-x.h"

/* Object-like macros, so that a standard name taken as a function pointer is renamed too. */
#define malloc mx_malloc
#define free mx_free
#define calloc mx_calloc
#define realloc mx_realloc
#define reallocarray mx_reallocarray
#define posix_memalign mx_posix_memalign
#define aligned_alloc mx_aligned_alloc
#define memalign mx_memalign
#define valloc mx_valloc
#define pvalloc mx_pvalloc
#define malloc_usable_size mx_usable_size
#define malloc_trim mx_trim
#define malloc_stats mx_stats_print

/* strdup, getline, asprintf and friends allocate with the toolchain's malloc, which the macros
 * above would send to mx_free: a test built with this header must not free their results. */

#endif /* MX_TEST_EXPLICIT_API */

#endif
