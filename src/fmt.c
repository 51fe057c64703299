/* Allocation-free formatting (see fmt.h). No locks, no global state. */
#include "fmt.h"

#include <errno.h>
#include <unistd.h>

void mxi_fmt_init(mx_fmt_t *f, char *buf, size_t cap)
{
    f->buf = buf;
    f->cap = cap;
    f->len = 0;
}

static void fmt_char(mx_fmt_t *f, char c)
{
    if (f->len < f->cap) {
        f->buf[f->len] = c;
    }
    f->len++;
}

void mxi_fmt_str(mx_fmt_t *f, const char *s)
{
    while (*s != '\0') {
        fmt_char(f, *s++);
    }
}

/* Digits come out least significant first; they are reversed in a small local buffer. */
static void fmt_digits(mx_fmt_t *f, uint64_t v, unsigned base, size_t width)
{
    char tmp[24];
    size_t n = 0;
    do {
        unsigned d = (unsigned)(v % base);
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v != 0);
    while (width > n) {
        fmt_char(f, ' ');
        width--;
    }
    while (n > 0) {
        fmt_char(f, tmp[--n]);
    }
}

void mxi_fmt_u64(mx_fmt_t *f, uint64_t v)
{
    fmt_digits(f, v, 10, 0);
}

void mxi_fmt_u64_padded(mx_fmt_t *f, uint64_t v, size_t width)
{
    fmt_digits(f, v, 10, width);
}

void mxi_fmt_ptr(mx_fmt_t *f, const void *p)
{
    if (p == NULL) {
        mxi_fmt_str(f, "(nil)");
        return;
    }
    mxi_fmt_str(f, "0x");
    fmt_digits(f, (uintptr_t)p, 16, 0);
}

void mxi_fmt_write(const mx_fmt_t *f, int fd)
{
    int saved = errno;
    size_t len = f->len < f->cap ? f->len : f->cap;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, f->buf + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        done += (size_t)n;
    }
    errno = saved;
}
