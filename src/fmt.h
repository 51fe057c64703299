/* An allocation-free text builder: messages and statistics are formatted into a caller's
 * stack buffer and written with write(2), because printf may call malloc. */
#ifndef MX_FMT_H
#define MX_FMT_H

#include <stddef.h>
#include <stdint.h>

typedef struct mx_fmt {
    char *buf;
    size_t cap;
    size_t len; /* may exceed cap: the text is then truncated, never overrun */
} mx_fmt_t;

void mxi_fmt_init(mx_fmt_t *f, char *buf, size_t cap);
void mxi_fmt_str(mx_fmt_t *f, const char *s);
void mxi_fmt_u64(mx_fmt_t *f, uint64_t v);
/* Lowercase hex with a 0x prefix, as glibc's %p prints. */
void mxi_fmt_ptr(mx_fmt_t *f, const void *p);
/* Right-aligns the decimal v in a field of `width` characters. */
void mxi_fmt_u64_padded(mx_fmt_t *f, uint64_t v, size_t width);
/* Writes everything formatted so far to fd, retrying short writes; errno is preserved. */
void mxi_fmt_write(const mx_fmt_t *f, int fd);

#endif
