/* realloc and reallocarray (see realloc.c). */
#ifndef MX_REALLOC_H
#define MX_REALLOC_H

#include <stddef.h>

/* Both leave the allocator (mxi_leave) before returning: call them after mxi_enter. */
void *mxi_realloc_leave(void *p, size_t size);
void *mxi_reallocarray_leave(void *p, size_t count, size_t size);

#endif
