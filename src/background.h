/* The background thread: purges and collects idle heaps on schedule, so memory goes back while
 * no thread calls the allocator. MALLOCX_BACKGROUND=1 starts it when the library loads; with
 * `auto`, the default, it starts once the process's pages first reach MX_BACKGROUND_AUTO_BYTES,
 * so a small program never has it; with 0 no thread is ever created. */
#ifndef MX_BACKGROUND_H
#define MX_BACKGROUND_H

/* Starts the thread if the option asks for it now and it is not running. Called at library
 * load (a constructor: never from inside a malloc call), from mx_option_set, and from an
 * allocation slow path when a start is pending. Takes no lock of the allocator's. */
void mxi_background_start(void);

/* After a new page was claimed: once the pages reach MX_BACKGROUND_AUTO_BYTES, with `auto`,
 * the next allocation slow path starts the thread. A load and a compare until then, and
 * atomics only: it may be called under any lock. */
void mxi_background_note_claim(void);

/* Fork child handler: the parent's thread does not exist in the child. With
 * MALLOCX_BACKGROUND=1 the child's first allocation slow path starts its own. With `auto` the
 * child starts one only once it has grown by MX_BACKGROUND_AUTO_BYTES itself: creating a
 * thread in the child of a threaded process, which may only call async-signal-safe functions
 * by POSIX, is left to programs that asked for the thread (and ThreadSanitizer refuses it). */
void mxi_background_after_fork(void);

/* True when an allocation slow path is to call mxi_background_start (cheap: one load). */
_Bool mxi_background_is_pending(void);

#endif
