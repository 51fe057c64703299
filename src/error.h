/* The only code that reports problems: fatal heap-corruption errors (one line, then abort)
 * and assertion failures. Nothing else in malloc-x prints, unless an option asks it to. */
#ifndef MX_ERROR_H
#define MX_ERROR_H

#include "compiler.h"

/* "malloc-x: <op>(): <what> <ptr><detail>" then abort(). `detail` may be "". */
MX_NORETURN MX_COLD void mxi_fatal(const char *op, const char *what, const void *ptr,
                                   const char *detail);
MX_NORETURN MX_COLD void mxi_assert_fail(const char *cond, const char *file, int line);

#endif
