/* Helpers shared by the malloc-x tests: a seeded PRNG, process memory figures, and death
 * tests (run a function in a child, expect SIGABRT and an exact stderr line). */
#ifndef MX_TEST_SUPPORT_H
#define MX_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* xorshift64*: deterministic for a given seed, so a failing run can be repeated. */
typedef struct {
    uint64_t state;
} mx_test_rng_t;

void mx_test_rng_seed(mx_test_rng_t *rng, uint64_t seed);
uint64_t mx_test_rng_next(mx_test_rng_t *rng);
/* Uniform in [lo, hi]. */
uint64_t mx_test_rng_range(mx_test_rng_t *rng, uint64_t lo, uint64_t hi);

/* Resident and virtual size of this process in bytes, from /proc/self/statm. */
size_t mx_test_rss_bytes(void);
size_t mx_test_vsize_bytes(void);
/* Resident bytes above `baseline` (an earlier mx_test_rss_bytes), 0 if below it. */
size_t mx_test_rss_above(size_t baseline);
/* Voluntary context switches (each sleep is one) of every thread of the process but the
 * calling one, summed; -1 on error. Never allocates. */
long mx_test_other_threads_wakeups(void);

/* A working set for memory tests: blocks of sizes drawn from [lo, hi] with `seed`, every byte
 * written, until `bytes` are allocated or `cap` blocks; returns how many. A failed malloc ends
 * the process with status 3. */
size_t mx_test_fill_working_set(void **blocks, size_t cap, size_t bytes, size_t lo, size_t hi,
                                uint64_t seed);
void mx_test_free_all(void **blocks, size_t count);

/* Reads fd until end of file or until cap-1 bytes are in buf, retrying reads that a signal
 * interrupted; NUL-terminates buf and returns the length. Never calls malloc. */
size_t mx_test_read_fd(int fd, char *buf, size_t cap);

/* Runs argv (argv[0] a path) in a child with the environment changed by `env`, a NULL-ended
 * list of name, value pairs (a NULL value unsets the name), and copies up to cap-1 bytes of its
 * standard output into out. True if the child exited with status 0. */
bool mx_test_run_captured(const char *const *argv, const char *const *env, char *out,
                          size_t cap);

/* Runs fn(arg) in a forked child with stderr captured. Returns the child's terminating signal
 * (0 if it exited normally) and copies up to cap-1 bytes of its stderr into out. */
int mx_test_run_child(void (*fn)(void *), void *arg, char *out, size_t cap);

/* Fails the current test unless fn(arg), run in a child, dies of SIGABRT having written a
 * stderr that contains `expected` (a substring, so the pointer value may vary). */
void mx_test_expect_abort(void (*fn)(void *), void *arg, const char *expected);

/* Fills/checks a block with a pattern derived from its address and a tag. */
void mx_test_fill(void *p, size_t size, uint64_t tag);
int mx_test_check(const void *p, size_t size, uint64_t tag);

#endif
