/* The optional background thread (MALLOCX_BACKGROUND=1): purges and collects idle heaps on
 * schedule, so memory goes back while no thread calls the allocator. Off by default, and then
 * no thread is ever created. */
#ifndef MX_BACKGROUND_H
#define MX_BACKGROUND_H

/* Starts the thread if the option asks for it and it is not running. Called at library load
 * (a constructor: never from inside a malloc call), from mx_option_set, and in a fork child
 * from its first allocation slow path. Takes no lock of the allocator's. */
void mxi_background_start(void);

/* Fork child handler: the parent's thread does not exist in the child. */
void mxi_background_after_fork(void);

/* True in a fork child whose thread has not been started again yet (cheap: one load). */
_Bool mxi_background_wants_restart(void);

#endif
