#define _GNU_SOURCE
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

void mx_test_rng_seed(mx_test_rng_t *rng, uint64_t seed)
{
    rng->state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint64_t mx_test_rng_next(mx_test_rng_t *rng)
{
    uint64_t x = rng->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->state = x;
    return x * 0x2545f4914f6cdd1dull;
}

uint64_t mx_test_rng_range(mx_test_rng_t *rng, uint64_t lo, uint64_t hi)
{
    return lo + mx_test_rng_next(rng) % (hi - lo + 1);
}

static size_t statm_field(int index)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0) {
        return 0;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    unsigned long fields[2] = {0, 0};
    sscanf(buf, "%lu %lu", &fields[0], &fields[1]);
    return fields[index] * (size_t)sysconf(_SC_PAGESIZE);
}

size_t mx_test_vsize_bytes(void)
{
    return statm_field(0);
}

size_t mx_test_rss_bytes(void)
{
    return statm_field(1);
}

/* The number after `name` in a /proc status file, or -1. */
static long status_field(const char *path, const char *name)
{
    char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return -1;
    }
    buf[n] = '\0';
    const char *at = strstr(buf, name);
    long value;
    return at != NULL && sscanf(at + strlen(name), " %ld", &value) == 1 ? value : -1;
}

long mx_test_other_threads_wakeups(void)
{
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        return -1;
    }
    long self = (long)syscall(SYS_gettid);
    long total = 0;
    char buf[4096];
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
        for (long off = 0; off < n;) {
            /* struct linux_dirent64: inode, offset, record length, type, then the name. */
            unsigned short reclen;
            memcpy(&reclen, buf + off + 16, sizeof(reclen));
            const char *name = buf + off + 19;
            off += reclen;
            long tid = strtol(name, NULL, 10);
            if (name[0] == '.' || tid == self) {
                continue;
            }
            char path[64];
            snprintf(path, sizeof(path), "/proc/self/task/%ld/status", tid);
            long switches = status_field(path, "voluntary_ctxt_switches:");
            if (switches < 0) {
                close(fd);
                return -1;
            }
            total += switches;
        }
    }
    close(fd);
    return n < 0 ? -1 : total;
}

size_t mx_test_rss_above(size_t baseline)
{
    size_t rss = mx_test_rss_bytes();
    return rss > baseline ? rss - baseline : 0;
}

size_t mx_test_fill_working_set(void **blocks, size_t cap, size_t bytes, size_t lo, size_t hi,
                                uint64_t seed)
{
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, seed);
    size_t total = 0;
    size_t n = 0;
    while (total < bytes && n < cap) {
        size_t size = (size_t)mx_test_rng_range(&rng, lo, hi);
        char *p = malloc(size);
        if (p == NULL) {
            exit(3);
        }
        memset(p, (int)(n & 0xff), size);
        blocks[n++] = p;
        total += size;
    }
    return n;
}

void mx_test_free_all(void **blocks, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(blocks[i]);
    }
}

bool mx_test_run_captured(const char *const *argv, const char *const *env, char *out,
                          size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0) {
        return false;
    }
    pid_t pid = fork();
    if (pid < 0) {
        return false;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        for (; *env != NULL; env += 2) {
            if (env[1] != NULL) {
                setenv(env[0], env[1], 1);
            } else {
                unsetenv(env[0]);
            }
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    mx_test_read_fd(fds[0], out, cap);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

size_t mx_test_read_fd(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

int mx_test_run_child(void (*fn)(void *), void *arg, char *out, size_t cap)
{
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], 2);
        /* cmocka catches these to report a crashing test; in the child they must kill it so
         * the parent sees the signal. */
        signal(SIGABRT, SIG_DFL);
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        fn(arg);
        _exit(0);
    }
    close(pipefd[1]);
    mx_test_read_fd(pipefd[0], out, cap);
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

void mx_test_expect_abort(void (*fn)(void *), void *arg, const char *expected)
{
    char out[4096];
    int sig = mx_test_run_child(fn, arg, out, sizeof(out));
    if (sig != SIGABRT || strstr(out, expected) == NULL) {
        print_error("child ended with signal %d, stderr: \"%s\"; expected SIGABRT and \"%s\"\n",
                    sig, out, expected);
        fail();
    }
}

void mx_test_fill(void *p, size_t size, uint64_t tag)
{
    unsigned char *b = p;
    uint64_t x = (uintptr_t)p ^ tag;
    for (size_t i = 0; i < size; i++) {
        b[i] = (unsigned char)(x + i * 131);
    }
}

int mx_test_check(const void *p, size_t size, uint64_t tag)
{
    const unsigned char *b = p;
    uint64_t x = (uintptr_t)p ^ tag;
    for (size_t i = 0; i < size; i++) {
        if (b[i] != (unsigned char)(x + i * 131)) {
            return 0;
        }
    }
    return 1;
}
