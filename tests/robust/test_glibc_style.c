/* Tests in the spirit of glibc's own malloc tests (written afresh for malloc-x):
 *
 * - fork while other threads hammer malloc/free, 100 times; the children allocate and exit. A
 *   deadlock (a lock held across fork) is turned into a failure by alarm() watchdogs.
 * - threads that allocate and exit, their blocks freed afterwards by another thread, round after
 *   round: the resident size stays bounded.
 * - free() keeps errno for every size class, huge blocks included, for local and remote frees,
 *   around malloc_trim(0) (purged pages), and while the process is at vm.max_map_count.
 * - libc's own internal allocations (strdup, getline, asprintf, open_memstream, FILE buffers,
 *   qsort's scratch array, getaddrinfo, regcomp, opendir, realpath, getcwd) reach malloc-x.
 *
 * The program links -lmalloc-x, so malloc, free, ... below (and inside libc) are malloc-x's. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "malloc-x.h"
#include "support.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define ERRNO_SENTINEL 12345

static double mib(size_t bytes)
{
    return (double)bytes / (double)MIB;
}

/* ---- watchdog ---- */

static void watchdog_fired(int sig)
{
    (void)sig;
    static const char msg[] = "watchdog: the test did not finish in time (deadlock?)\n";
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
    _exit(3);
}

static void watchdog_arm(unsigned seconds)
{
    signal(SIGALRM, watchdog_fired);
    alarm(seconds);
}

static void watchdog_disarm(void)
{
    alarm(0);
    signal(SIGALRM, SIG_DFL);
}

/* ---- (a) fork while other threads allocate ---- */

#define FORK_WORKERS 3
#define FORKS 100
#define FORK_SLOTS 256

static void *_Atomic fork_slots[FORK_SLOTS];
static atomic_int fork_stop;

static size_t fork_size(mx_test_rng_t *rng)
{
    uint64_t k = mx_test_rng_range(rng, 0, 999);
    return k < 900 ? (size_t)mx_test_rng_range(rng, 1, 2048)
           : k < 995 ? (size_t)mx_test_rng_range(rng, 2048, 2 * MIB)
                     : (size_t)mx_test_rng_range(rng, 33 * MIB, 40 * MIB);
}

/* Local and remote frees, realloc, aligned blocks and huge mappings, so that at fork time the
 * segment, abandon and heap locks are all likely to be taken by someone. */
static void *fork_worker(void *arg)
{
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, (uint64_t)(uintptr_t)arg);
    while (!atomic_load_explicit(&fork_stop, memory_order_relaxed)) {
        size_t size = fork_size(&rng);
        size_t slot = (size_t)mx_test_rng_range(&rng, 0, FORK_SLOTS - 1);
        void *p;
        switch (mx_test_rng_range(&rng, 0, 3)) {
        case 0:
            p = calloc(1, size);
            break;
        case 1:
            p = aligned_alloc(256, size);
            break;
        default:
            p = malloc(size);
            break;
        }
        if (p == NULL) {
            return (void *)1;
        }
        memset(p, 0x5a, size < 256 ? size : 256);
        p = realloc(p, size + 16);
        if (p == NULL) {
            return (void *)1;
        }
        free(atomic_exchange(&fork_slots[slot], p));
        if (mx_test_rng_range(&rng, 0, 9999) == 0) {
            malloc_trim(0);
        }
    }
    return NULL;
}

static void *fork_child_thread(void *arg)
{
    for (size_t size = 1; size <= 4 * MIB; size = size * 2 + 3) {
        void *p = malloc(size);
        if (p == NULL) {
            return (void *)1;
        }
        memset(p, 1, size);
        free(p);
    }
    free(arg);
    return NULL;
}

/* In the child only this thread exists; every lock must be free. */
static int fork_child(unsigned seed)
{
    alarm(10);
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, seed);
    void *keep[64];
    for (int i = 0; i < 64; i++) {
        size_t size = fork_size(&rng);
        keep[i] = malloc(size);
        if (keep[i] == NULL) {
            return 1;
        }
        memset(keep[i], 2, size < 4096 ? size : 4096);
    }
    /* Blocks the parent's threads left behind are freed here, remote to their dead owners. */
    for (int i = 0; i < FORK_SLOTS; i += 4) {
        free(atomic_exchange(&fork_slots[i], NULL));
    }
    pthread_t t;
    if (pthread_create(&t, NULL, fork_child_thread, keep[0]) != 0) {
        return 2;
    }
    void *result = NULL;
    pthread_join(t, &result);
    if (result != NULL) {
        return 3;
    }
    for (int i = 1; i < 64; i++) {
        free(keep[i]);
    }
    malloc_trim(0);
    return 0;
}

static void test_fork_while_threads_allocate(void **state)
{
    (void)state;
    watchdog_arm(25);
    atomic_store(&fork_stop, 0);
    pthread_t workers[FORK_WORKERS];
    for (int i = 0; i < FORK_WORKERS; i++) {
        assert_int_equal(pthread_create(&workers[i], NULL, fork_worker, (void *)(uintptr_t)(i + 1)),
                         0);
    }
    int failures = 0;
    for (int i = 0; i < FORKS; i++) {
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            _exit(fork_child((unsigned)i + 100));
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status)) {
            print_error("fork %d: child killed by signal %d%s\n", i, WTERMSIG(status),
                        WTERMSIG(status) == SIGALRM ? " (deadlocked)" : "");
            failures++;
        } else if (WEXITSTATUS(status) != 0) {
            print_error("fork %d: child exited with %d\n", i, WEXITSTATUS(status));
            failures++;
        }
        /* The parent allocates between forks too. */
        free(malloc((size_t)i * 100 + 1));
    }
    atomic_store(&fork_stop, 1);
    for (int i = 0; i < FORK_WORKERS; i++) {
        void *result = NULL;
        pthread_join(workers[i], &result);
        assert_null(result);
    }
    for (int i = 0; i < FORK_SLOTS; i++) {
        free(atomic_exchange(&fork_slots[i], NULL));
    }
    watchdog_disarm();
    assert_int_equal(failures, 0);
}

/* ---- (b) blocks of exited threads freed by another thread ---- */

#define EXIT_ROUNDS 150
#define EXIT_ALLOCATORS 4
#define EXIT_BLOCKS 2000
/* The resident size after this many rounds is the baseline (heaps, caches, stacks warmed up). */
#define EXIT_WARMUP 10

typedef struct {
    void *blocks[EXIT_BLOCKS];
    unsigned seed;
} exit_batch_t;

static void *exit_allocator(void *arg)
{
    exit_batch_t *batch = arg;
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, batch->seed);
    for (int i = 0; i < EXIT_BLOCKS; i++) {
        size_t size = (size_t)mx_test_rng_range(&rng, 16, 4096);
        batch->blocks[i] = malloc(size);
        if (batch->blocks[i] == NULL) {
            return (void *)1;
        }
        memset(batch->blocks[i], 0x33, size);
    }
    return NULL;
}

static void *exit_freer(void *arg)
{
    exit_batch_t *batches = arg;
    for (int b = 0; b < EXIT_ALLOCATORS; b++) {
        for (int i = 0; i < EXIT_BLOCKS; i++) {
            free(batches[b].blocks[i]);
            batches[b].blocks[i] = NULL;
        }
    }
    return NULL;
}

static void test_thread_exit_then_remote_free(void **state)
{
    (void)state;
    static exit_batch_t batches[EXIT_ALLOCATORS];
    size_t baseline = 0;
    size_t peak = 0;
    for (int round = 0; round < EXIT_ROUNDS; round++) {
        pthread_t t[EXIT_ALLOCATORS];
        for (int i = 0; i < EXIT_ALLOCATORS; i++) {
            batches[i].seed = (unsigned)(round * EXIT_ALLOCATORS + i + 1);
            assert_int_equal(pthread_create(&t[i], NULL, exit_allocator, &batches[i]), 0);
        }
        for (int i = 0; i < EXIT_ALLOCATORS; i++) {
            void *result = NULL;
            pthread_join(t[i], &result);
            assert_null(result);
        }
        /* The owners are gone; a third thread frees everything. */
        pthread_t freer;
        assert_int_equal(pthread_create(&freer, NULL, exit_freer, batches), 0);
        pthread_join(freer, NULL);
        size_t rss = mx_test_rss_bytes();
        if (round == EXIT_WARMUP - 1) {
            baseline = rss;
        } else if (round >= EXIT_WARMUP && rss > peak) {
            peak = rss;
        }
    }
    print_message("thread exit: %d rounds of %d threads x %d blocks; RSS after warm-up %.1f MiB, "
                  "highest afterwards %.1f MiB\n",
                  EXIT_ROUNDS, EXIT_ALLOCATORS, EXIT_BLOCKS, mib(baseline), mib(peak));
    /* One round holds about 16 MiB; unbounded growth would be ~15 rounds' worth by the end. */
    if (peak > baseline + 16 * MIB) {
        fail_msg("RSS grew from %.1f to %.1f MiB over %d rounds", mib(baseline), mib(peak),
                 EXIT_ROUNDS);
    }
}

/* ---- (c) free keeps errno ---- */

/* Every size class (16 steps per doubling, twice as fine as the classes) up to 128 KiB, then
 * large and huge sizes. */
static size_t next_errno_size(size_t size)
{
    if (size < 256) {
        return size + 16;
    }
    size_t floor2 = (size_t)1 << (63 - __builtin_clzll(size));
    return size + (size <= 128 * KIB ? floor2 / 16 : floor2);
}

#define ERRNO_MAX_SIZE (128 * MIB)

static void free_expect_errno(void *p, const char *how, size_t size)
{
    errno = ERRNO_SENTINEL;
    free(p);
    if (errno != ERRNO_SENTINEL) {
        fail_msg("free (%s) of a %zu-byte block set errno to %d", how, size, errno);
    }
}

typedef struct {
    void **blocks;
    size_t *sizes;
    size_t count;
    size_t bad_size;
    int bad_errno;
} remote_errno_t;

static void *free_remote_checking_errno(void *arg)
{
    remote_errno_t *r = arg;
    for (size_t i = 0; i < r->count; i++) {
        errno = ERRNO_SENTINEL;
        free(r->blocks[i]);
        if (errno != ERRNO_SENTINEL && r->bad_errno == 0) {
            r->bad_errno = errno;
            r->bad_size = r->sizes[i];
        }
    }
    return NULL;
}

static void test_free_keeps_errno_every_class(void **state)
{
    (void)state;
    enum { MAX_SIZES = 512 };
    static void *blocks[MAX_SIZES];
    static size_t sizes[MAX_SIZES];
    size_t count = 0;
    for (size_t size = 0; size <= ERRNO_MAX_SIZE && count < MAX_SIZES;
         size = size == 0 ? 1 : next_errno_size(size)) {
        sizes[count++] = size;
    }
    /* Local frees, each block touched at both ends. */
    for (size_t i = 0; i < count; i++) {
        unsigned char *p = malloc(sizes[i]);
        assert_non_null(p);
        if (sizes[i] > 0) {
            p[0] = 1;
            p[sizes[i] - 1] = 1;
        }
        free_expect_errno(p, "local", sizes[i]);
    }
    /* Remote frees: main allocates, another thread frees (and must keep its own errno). */
    for (size_t i = 0; i < count; i++) {
        blocks[i] = malloc(sizes[i]);
        assert_non_null(blocks[i]);
    }
    remote_errno_t r = {blocks, sizes, count, 0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, free_remote_checking_errno, &r), 0);
    pthread_join(t, NULL);
    if (r.bad_errno != 0) {
        fail_msg("remote free of a %zu-byte block set errno to %d", r.bad_size, r.bad_errno);
    }
    /* Frees into pages whose owner has exited. */
    assert_int_equal(pthread_create(&t, NULL, exit_allocator, &(exit_batch_t){.seed = 7}), 0);
    pthread_join(t, NULL);
}

/* Frees that make the allocator call munmap (huge blocks, empty segments beyond its cache) or
 * madvise (purges due after the purge delay, malloc_trim): errno must survive those too. */
static void test_free_keeps_errno_around_munmap_and_madvise(void **state)
{
    (void)state;
    /* Huge blocks: each free unmaps. Touch every page of some so the unmapping has work. */
    for (size_t size = 33 * MIB; size <= 200 * MIB; size += 41 * MIB) {
        unsigned char *p = malloc(size);
        assert_non_null(p);
        memset(p, 1, size < 64 * MIB ? size : 4096);
        free_expect_errno(p, "huge", size);
    }
    /* Enough large blocks for six segments; freeing them empties segments beyond the cache. */
    enum { LARGE_COUNT = 6 * 60 };
    static void *large[LARGE_COUNT];
    for (int i = 0; i < LARGE_COUNT; i++) {
        large[i] = malloc(MIB);
        assert_non_null(large[i]);
        memset(large[i], 2, 64 * KIB);
    }
    for (int i = 0; i < LARGE_COUNT; i++) {
        free_expect_errno(large[i], "large, segments emptying", MIB);
        if (i % 60 == 0) {
            /* Past the purge delay, so the next slow path has purging to do. */
            usleep(15000);
        }
    }
    /* Small and medium pages, then malloc_trim(0) (madvise), then frees into the same pages
     * and new ones, with purges falling due in between. */
    enum { MIXED = 4000 };
    static void *mixed[MIXED];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < MIXED; i++) {
            size_t size = (size_t)(i % 97) * 211 + 1;
            mixed[i] = malloc(size);
            assert_non_null(mixed[i]);
            memset(mixed[i], 3, size);
        }
        for (int i = 0; i < MIXED; i += 2) {
            free_expect_errno(mixed[i], "before trim", (size_t)(i % 97) * 211 + 1);
        }
        errno = ERRNO_SENTINEL;
        malloc_trim(0);
        assert_int_equal(errno, ERRNO_SENTINEL);
        usleep(15000);
        for (int i = 1; i < MIXED; i += 2) {
            free_expect_errno(mixed[i], "after trim", (size_t)(i % 97) * 211 + 1);
        }
        void *big = malloc(40 * MIB);
        assert_non_null(big);
        free_expect_errno(big, "huge after trim", 40 * MIB);
    }
}

/* The process at vm.max_map_count (the state glibc's tst-free-errno puts it in): mmap and
 * munmap calls that would split a mapping fail with ENOMEM. free must still keep errno and not
 * stop the process; allocations may fail, cleanly. Runs in a child: the mappings stay. */
static int max_map_count_child(void)
{
    void *huge[4];
    for (int i = 0; i < 4; i++) {
        huge[i] = malloc(40 * MIB);
        if (huge[i] == NULL) {
            return 10;
        }
        memset(huge[i], 1, 4096);
    }
    void *large[32];
    for (int i = 0; i < 32; i++) {
        large[i] = malloc(MIB);
        if (large[i] == NULL) {
            return 11;
        }
    }
    /* One-page mappings with alternating protections never merge: each is a map entry. */
    long made = 0;
    for (;;) {
        void *p = mmap(NULL, 4096, (made & 1) ? PROT_READ : PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            break;
        }
        if (++made > 10L * 1000 * 1000) {
            return 12;
        }
    }
    for (int i = 0; i < 4; i++) {
        errno = ERRNO_SENTINEL;
        free(huge[i]);
        if (errno != ERRNO_SENTINEL) {
            return 13;
        }
    }
    for (int i = 0; i < 32; i++) {
        errno = ERRNO_SENTINEL;
        free(large[i]);
        if (errno != ERRNO_SENTINEL) {
            return 14;
        }
    }
    for (int i = 0; i < 200; i++) {
        errno = 0;
        void *p = malloc(i % 2 ? 40 * MIB : (size_t)(i + 1) * 4096);
        if (p == NULL && errno != ENOMEM) {
            return 15;
        }
        errno = ERRNO_SENTINEL;
        free(p);
        if (errno != ERRNO_SENTINEL) {
            return 16;
        }
    }
    return 0;
}

static void test_free_keeps_errno_at_max_map_count(void **state)
{
    (void)state;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(20);
        _exit(max_map_count_child());
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
        fail_msg("at vm.max_map_count the child was killed by signal %d", WTERMSIG(status));
    }
    if (WEXITSTATUS(status) != 0) {
        fail_msg("at vm.max_map_count the child failed check %d", WEXITSTATUS(status));
    }
}

/* ---- (d) libc's internal allocations reach malloc-x ---- */

/* A pointer libc returned: malloc-x's, with a usable size, and freeable by our free. */
static void expect_ours(const void *p, const char *what)
{
    if (p == NULL) {
        fail_msg("%s returned NULL", what);
    }
    if (mx_owns(p) != 1) {
        /* Leaked on purpose: free() would abort the whole program instead of this report. */
        fail_msg("%s returned %p, which is not malloc-x memory", what, p);
    }
    if (malloc_usable_size((void *)p) == 0) {
        fail_msg("%s: malloc_usable_size(%p) is 0", what, p);
    }
}

static void test_interposition_strings_and_streams(void **state)
{
    (void)state;
    char *s = strdup("malloc-x interposition");
    expect_ours(s, "strdup");
    free(s);
    s = strndup("abcdefghijklmnopqrstuvwxyz", 20);
    expect_ours(s, "strndup");
    free(s);

    char *formatted = NULL;
    assert_true(asprintf(&formatted, "%s %d %0500d", "asprintf", 42, 7) > 0);
    expect_ours(formatted, "asprintf");
    free(formatted);

    /* getline grows its buffer with realloc as lines get longer. */
    static const char text[] = "short\na much longer line that needs a bigger buffer than the "
                               "first one did, to make getline realloc\nend\n";
    FILE *in = fmemopen((void *)text, sizeof(text) - 1, "r");
    assert_non_null(in);
    expect_ours(in, "fmemopen (the FILE)");
    char *line = NULL;
    size_t cap = 0;
    int lines = 0;
    while (getline(&line, &cap, in) > 0) {
        expect_ours(line, "getline");
        lines++;
    }
    assert_int_equal(lines, 3);
    free(line);
    fclose(in);

    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    for (int i = 0; i < 5000; i++) {
        fprintf(out, "line %d\n", i);
    }
    assert_int_equal(fclose(out), 0);
    expect_ours(buf, "open_memstream");
    assert_true(len > 5000);
    free(buf);

    /* fopen's FILE and the buffer the first fread gives it (no setvbuf). */
    FILE *f = fopen("/proc/self/exe", "rb");
    assert_non_null(f);
    expect_ours(f, "fopen (the FILE)");
    char head[64];
    assert_int_equal(fread(head, 1, sizeof(head), f), sizeof(head));
    expect_ours(f->_IO_buf_base, "fread (the FILE buffer)");
    fclose(f);

    DIR *dir = opendir("/");
    assert_non_null(dir);
    expect_ours(dir, "opendir");
    assert_non_null(readdir(dir));
    closedir(dir);

    char *path = realpath(".", NULL);
    expect_ours(path, "realpath");
    free(path);
    char *cwd = getcwd(NULL, 0);
    expect_ours(cwd, "getcwd");
    free(cwd);
}

/* glibc's qsort sorts through a scratch copy it mallocs (for arrays above 1 KiB): seen from the
 * comparison function, the bytes in allocated blocks have grown by at least the array. */
static size_t qsort_in_use_before;
static size_t qsort_in_use_during;

static int compare_ints(const void *a, const void *b)
{
    if (qsort_in_use_during == 0) {
        qsort_in_use_during = mallinfo2().uordblks;
    }
    int x = *(const int *)a;
    int y = *(const int *)b;
    return (x > y) - (x < y);
}

static void test_interposition_qsort_scratch(void **state)
{
    (void)state;
    enum { COUNT = 200000 };
    int *values = malloc(COUNT * sizeof(int));
    assert_non_null(values);
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, 99);
    for (int i = 0; i < COUNT; i++) {
        values[i] = (int)(mx_test_rng_next(&rng) >> 33);
    }
    qsort_in_use_before = mallinfo2().uordblks;
    qsort_in_use_during = 0;
    qsort(values, COUNT, sizeof(int), compare_ints);
    size_t after = mallinfo2().uordblks;
    for (int i = 1; i < COUNT; i++) {
        assert_true(values[i - 1] <= values[i]);
    }
    print_message("qsort: bytes in blocks before %zu, during %zu, after %zu\n",
                  qsort_in_use_before, qsort_in_use_during, after);
    if (qsort_in_use_during < qsort_in_use_before + COUNT * sizeof(int)) {
        fail_msg("qsort's scratch array (%zu bytes) did not come from malloc-x",
                 COUNT * sizeof(int));
    }
    /* And it was given back. */
    assert_true(after < qsort_in_use_during);
    free(values);
}

static void test_interposition_getaddrinfo_regcomp(void **state)
{
    (void)state;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo("localhost", "80", &hints, &res);
    if (rc != 0) {
        print_message("getaddrinfo(\"localhost\") failed (%s): that part is skipped\n",
                      gai_strerror(rc));
    } else {
        int count = 0;
        for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
            expect_ours(ai, "getaddrinfo (an addrinfo)");
            assert_int_equal(mx_owns(ai->ai_addr), 1);
            count++;
        }
        print_message("getaddrinfo(\"localhost\"): %d results, all malloc-x's\n", count);
        freeaddrinfo(res);
    }

    regex_t re;
    assert_int_equal(regcomp(&re, "^(ab|cd)+[0-9]{2,5}x*$", REG_EXTENDED), 0);
    expect_ours(re.buffer, "regcomp (the compiled pattern)");
    assert_int_equal(regexec(&re, "abcdab123xx", 0, NULL, 0), 0);
    assert_int_equal(regexec(&re, "abz12", 0, NULL, 0), REG_NOMATCH);
    regfree(&re);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_while_threads_allocate),
        cmocka_unit_test(test_thread_exit_then_remote_free),
        cmocka_unit_test(test_free_keeps_errno_every_class),
        cmocka_unit_test(test_free_keeps_errno_around_munmap_and_madvise),
        cmocka_unit_test(test_free_keeps_errno_at_max_map_count),
        cmocka_unit_test(test_interposition_strings_and_streams),
        cmocka_unit_test(test_interposition_qsort_scratch),
        cmocka_unit_test(test_interposition_getaddrinfo_regcomp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
