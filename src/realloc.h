/* realloc and reallocarray (see realloc.c). */
#ifndef MX_REALLOC_H
#define MX_REALLOC_H

#include <stddef.h>

void *mxi_realloc(void *p, size_t size);
void *mxi_reallocarray(void *p, size_t count, size_t size);

#endif
