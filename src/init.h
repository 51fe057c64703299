/* Process and thread life: lazy, recursion-safe initialization on the first call; thread exit
 * through a pthread key destructor; fork through pthread_atfork handlers. */
#ifndef MX_INIT_H
#define MX_INIT_H

#include <stdbool.h>

#include "types.h"

/* Initializes the process state once; cheap afterwards. Safe to re-enter from calls it makes
 * (pthread_* may allocate): the state they need is ready before they run. */
bool mxi_process_init(void);

/* Arranges for the calling thread's heap to be abandoned when the thread exits. */
void mxi_thread_register(mx_heap_t *heap);

#endif
