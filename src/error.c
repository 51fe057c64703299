/* Fatal errors. A corrupted heap cannot be trusted to unwind, so we write one line with
 * write(2) (printf may allocate) and abort(). No locks; safe from any state. */
#include "error.h"

#include <stdlib.h>

#include "fmt.h"

void mxi_fatal(const char *op, const char *what, const void *ptr, const char *detail)
{
    char buf[256];
    mx_fmt_t f;
    mxi_fmt_init(&f, buf, sizeof(buf));
    mxi_fmt_str(&f, "malloc-x: ");
    mxi_fmt_str(&f, op);
    mxi_fmt_str(&f, "(): ");
    mxi_fmt_str(&f, what);
    mxi_fmt_str(&f, " ");
    mxi_fmt_ptr(&f, ptr);
    mxi_fmt_str(&f, detail);
    mxi_fmt_str(&f, "\n");
    mxi_fmt_write(&f, 2);
    abort();
}

void mxi_assert_fail(const char *cond, const char *file, int line)
{
    char buf[512];
    mx_fmt_t f;
    mxi_fmt_init(&f, buf, sizeof(buf));
    mxi_fmt_str(&f, "malloc-x: internal assertion failed: ");
    mxi_fmt_str(&f, cond);
    mxi_fmt_str(&f, " (");
    mxi_fmt_str(&f, file);
    mxi_fmt_str(&f, ":");
    mxi_fmt_u64(&f, (uint64_t)line);
    mxi_fmt_str(&f, ")\n");
    mxi_fmt_write(&f, 2);
    abort();
}
