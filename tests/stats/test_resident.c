/* Statistics that explain resident memory: mx_stats_get's six parts must add up to what the
 * kernel says malloc-x's mappings hold, within 3%, and each part the scenario creates must show.
 *
 * The scenario, built once: holder threads allocate mixed sizes (16 B .. 1 MiB), free a third
 * of their blocks themselves (free blocks in pages) and then wait, idle; the main thread frees
 * another share of their blocks (remote frees the idle owners never collect; the large ones go
 * straight back as free pages); one thread exits holding blocks (an abandoned heap: no thread
 * starts after it, so nobody adopts it); a 40 MiB huge block; 64 large blocks freed (free pages
 * waiting to be purged, since the program runs with MALLOCX_PURGE_DELAY=100000: main re-executes
 * itself with it when it is missing).
 *
 * The kernel's figure is the Rss that /proc/self/smaps gives for the mappings mx_owns claims.
 * The anonymous mappings of a process can merge, so a mapping that is only partly malloc-x's is
 * measured page by page through /proc/self/pagemap. Heap objects (metadata) sit in mappings
 * mx_owns does not claim; they are a few KiB, well inside the 3%.
 *
 * Nothing allocates between the measurement and the checks that need the scenario intact: the
 * buffers come from mmap and the files are read with read(2). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "malloc-x.h"
#include "support.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define PAGE ((size_t)4096)

#define HOLDERS 3
#define HOLDER_BYTES (12 * MIB)
#define MAX_BLOCKS 20000
#define LARGE_FREED 64
#define HUGE_SIZE (40 * MIB)
#define TOLERANCE_PERCENT 3

typedef struct {
    void **blocks;
    size_t *sizes;
    size_t count;
    uint64_t seed;
} holder_t;

static holder_t holders[HOLDERS + 1]; /* the last one is the thread that exits */
static pthread_barrier_t ready;       /* holders have allocated */
static pthread_barrier_t release;     /* the tests are done: holders may finish */
static pthread_t holder_threads[HOLDERS];
static void *volatile huge_block;
static size_t rss_at_start;

static void *map_zeroed(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    return p;
}

/* Mostly small sizes, some medium, a few up to 1 MiB (large pages). */
static size_t pick_size(mx_test_rng_t *rng)
{
    uint64_t r = mx_test_rng_range(rng, 0, 99);
    if (r < 70) {
        return mx_test_rng_range(rng, 16, KIB);
    }
    if (r < 95) {
        return mx_test_rng_range(rng, KIB, 128 * KIB);
    }
    return mx_test_rng_range(rng, 128 * KIB, MIB);
}

/* Allocates and writes blocks until `bytes`, then frees every third one itself. */
static void holder_fill(holder_t *h, size_t bytes)
{
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, h->seed);
    size_t total = 0;
    while (total < bytes && h->count < MAX_BLOCKS) {
        size_t size = pick_size(&rng);
        void *p = malloc(size);
        if (p == NULL) {
            break;
        }
        memset(p, 0x5a, size);
        h->blocks[h->count] = p;
        h->sizes[h->count] = size;
        h->count++;
        total += size;
    }
    for (size_t i = 0; i < h->count; i += 3) {
        free(h->blocks[i]);
        h->blocks[i] = NULL;
    }
}

static void *holder_main(void *arg)
{
    holder_fill(arg, HOLDER_BYTES);
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&release);
    return NULL;
}

static void *exiting_main(void *arg)
{
    holder_fill(arg, 4 * MIB);
    return NULL;
}

static void holder_init(holder_t *h, uint64_t seed)
{
    h->blocks = map_zeroed(MAX_BLOCKS * sizeof(void *));
    h->sizes = map_zeroed(MAX_BLOCKS * sizeof(size_t));
    h->count = 0;
    h->seed = seed;
}

static int build_scenario(void **state)
{
    (void)state;
    rss_at_start = mx_test_rss_bytes();
    pthread_barrier_init(&ready, NULL, HOLDERS + 1);
    pthread_barrier_init(&release, NULL, HOLDERS + 1);
    for (int i = 0; i < HOLDERS + 1; i++) {
        holder_init(&holders[i], 0x5eed0 + (uint64_t)i);
    }
    for (int i = 0; i < HOLDERS; i++) {
        if (pthread_create(&holder_threads[i], NULL, holder_main, &holders[i]) != 0) {
            return -1;
        }
    }
    pthread_barrier_wait(&ready);

    huge_block = malloc(HUGE_SIZE);
    if (huge_block == NULL) {
        return -1;
    }
    memset(huge_block, 1, HUGE_SIZE);
    void **large = map_zeroed(LARGE_FREED * sizeof(void *));
    for (int i = 0; i < LARGE_FREED; i++) {
        large[i] = malloc(256 * KIB);
        if (large[i] == NULL) {
            return -1;
        }
        memset(large[i], 2, 256 * KIB);
    }
    /* The thread that exits with blocks comes last: a thread started after it would take its
     * heap. */
    pthread_t exiting;
    if (pthread_create(&exiting, NULL, exiting_main, &holders[HOLDERS]) != 0) {
        return -1;
    }
    pthread_join(exiting, NULL);

    for (int i = 0; i < LARGE_FREED; i++) {
        free(large[i]);
    }
    munmap(large, LARGE_FREED * sizeof(void *));
    /* Remote frees: every other block the holders kept, freed by this thread. */
    for (int t = 0; t < HOLDERS; t++) {
        holder_t *h = &holders[t];
        for (size_t i = 1; i < h->count; i += 2) {
            if (h->blocks[i] != NULL) {
                free(h->blocks[i]);
                h->blocks[i] = NULL;
            }
        }
    }
    return 0;
}

static int tear_down_scenario(void **state)
{
    (void)state;
    pthread_barrier_wait(&release);
    for (int i = 0; i < HOLDERS; i++) {
        pthread_join(holder_threads[i], NULL);
    }
    for (int t = 0; t < HOLDERS + 1; t++) {
        for (size_t i = 0; i < holders[t].count; i++) {
            free(holders[t].blocks[i]);
        }
    }
    free(huge_block);
    return 0;
}

/* ---- the kernel's figure ---- */

/* Reads a whole /proc file into an mmap'd buffer (no malloc); returns its length. */
static size_t read_proc(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    size_t len = mx_test_read_fd(fd, buf, cap);
    assert_true(len < cap - 1);
    close(fd);
    return len;
}

static int page_is_present(int pagemap_fd, uintptr_t addr)
{
    uint64_t entry = 0;
    off_t offset = (off_t)(addr / PAGE * sizeof(entry));
    if (pread(pagemap_fd, &entry, sizeof(entry), offset) != (ssize_t)sizeof(entry)) {
        return 0;
    }
    return (int)(entry >> 63);
}

typedef struct {
    size_t resident; /* bytes of malloc-x's mappings the kernel holds */
    int mixed;       /* mappings that were only partly malloc-x's */
} kernel_figure_t;

static kernel_figure_t kernel_resident(void)
{
    size_t cap = 16 * MIB;
    char *buf = map_zeroed(cap);
    read_proc("/proc/self/smaps", buf, cap);
    int pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    assert_true(pagemap_fd >= 0);
    kernel_figure_t k = {0, 0};
    uintptr_t start = 0;
    uintptr_t end = 0;
    for (char *line = buf; *line != '\0';) {
        char *next = strchr(line, '\n');
        if (next != NULL) {
            *next = '\0';
        }
        unsigned long a;
        unsigned long b;
        size_t kb;
        char tail;
        if (sscanf(line, "%lx-%lx %c", &a, &b, &tail) == 3) {
            start = a;
            end = b;
        } else if (sscanf(line, "Rss: %zu kB", &kb) == 1) {
            size_t owned = 0;
            for (uintptr_t p = start; p < end; p += PAGE) {
                owned += mx_owns((void *)p) ? 1 : 0;
            }
            if (owned * PAGE == end - start) {
                k.resident += kb * KIB;
            } else if (owned != 0) {
                k.mixed++;
                for (uintptr_t p = start; p < end; p += PAGE) {
                    if (mx_owns((void *)p) && page_is_present(pagemap_fd, p)) {
                        k.resident += PAGE;
                    }
                }
            }
        }
        if (next == NULL) {
            break;
        }
        line = next + 1;
    }
    close(pagemap_fd);
    munmap(buf, cap);
    return k;
}

/* ---- tests ---- */

static double mib(size_t bytes)
{
    return (double)bytes / (double)MIB;
}

static void print_parts(const mx_stats_t *s)
{
    print_message("live %.2f, free in pages %.2f, remote %.2f, abandoned %.2f, "
                  "waiting to be purged %.2f, metadata %.2f MiB\n",
                  mib(s->live_bytes), mib(s->free_in_pages_bytes), mib(s->remote_free_bytes),
                  mib(s->abandoned_bytes), mib(s->purge_pending_bytes), mib(s->metadata_bytes));
}

static void test_parts_match_the_kernel(void **state)
{
    (void)state;
    mx_stats_t s;
    mx_stats_get(&s);
    kernel_figure_t k = kernel_resident();
    size_t rss_now = mx_test_rss_bytes();
    size_t sum = s.live_bytes + s.free_in_pages_bytes + s.remote_free_bytes + s.abandoned_bytes +
                 s.purge_pending_bytes + s.metadata_bytes;

    print_message("sum of the parts %zu bytes (%.2f MiB), kernel Rss of malloc-x's mappings "
                  "%zu bytes (%.2f MiB), %d mixed mapping(s)\n",
                  sum, mib(sum), k.resident, mib(k.resident), k.mixed);
    print_parts(&s);
    print_message("for information: process RSS grew %.2f MiB during the scenario (%.2f -> "
                  "%.2f MiB)\n",
                  mib(rss_now) - mib(rss_at_start), mib(rss_at_start), mib(rss_now));

    assert_int_equal(sum, s.resident_bytes);
    size_t diff = sum > k.resident ? sum - k.resident : k.resident - sum;
    if (diff * 100 > k.resident * TOLERANCE_PERCENT) {
        fail_msg("the parts sum to %zu bytes, the kernel says %zu: %.2f%% apart", sum, k.resident,
                 100.0 * (double)diff / (double)k.resident);
    }
    /* Every part the scenario creates is there. */
    assert_true(s.live_bytes > HUGE_SIZE);
    assert_true(s.free_in_pages_bytes > 0);
    assert_true(s.remote_free_bytes > 0);
    assert_true(s.abandoned_bytes > 0);
    assert_true(s.purge_pending_bytes >= LARGE_FREED * 256 * KIB / 2);
    assert_true(s.metadata_bytes > 0);
    assert_int_equal(s.huge_count, 1);
    assert_true(s.huge_bytes >= HUGE_SIZE);
    assert_true(s.segment_count >= 1);
    assert_true(s.mapped_bytes >= s.segment_bytes + s.huge_bytes);
    assert_true(s.in_use_bytes > 0 && s.in_use_bytes <= s.segment_bytes);
}

static void test_mallinfo2_follows_the_stats(void **state)
{
    (void)state;
    mx_stats_t s;
    mx_stats_get(&s);
    struct mallinfo2 mi = mallinfo2();
    print_message("mallinfo2: arena %zu ordblks %zu hblks %zu hblkhd %zu uordblks %zu fordblks "
                  "%zu fsmblks %zu keepcost %zu\n",
                  mi.arena, mi.ordblks, mi.hblks, mi.hblkhd, mi.uordblks, mi.fordblks, mi.fsmblks,
                  mi.keepcost);
    assert_int_equal(mi.arena, s.segment_bytes);
    assert_int_equal(mi.ordblks, s.segment_count);
    assert_int_equal(mi.hblks, s.huge_count);
    assert_int_equal(mi.hblkhd, s.huge_bytes);
    assert_int_equal(mi.uordblks, s.in_use_bytes);
    assert_int_equal(mi.fordblks,
                     s.free_in_pages_bytes + s.remote_free_bytes + s.purge_pending_bytes);
    assert_int_equal(mi.fsmblks, s.remote_free_bytes);
    assert_int_equal(mi.keepcost, s.purge_pending_bytes);
    assert_true(mi.fsmblks > 0 && mi.keepcost > 0);
}

static const char *const part_lines[] = {
    "live blocks",     "free blocks in pages", "remote frees uncollected",
    "abandoned pages", "waiting to be purged", "metadata",
    "total resident",  "size classes in use",  "purge calls",
};

/* Runs fn with fd 2 sent to an unlinked temporary file; returns what it wrote, in buf. */
static void capture_stderr(void (*fn)(void), char *buf, size_t cap)
{
    char path[] = "/tmp/mx-stats-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, buf, cap - 1, 0);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
}

/* The number on the report's line that starts with `label`, or 0. */
static size_t report_value(const char *report, const char *label)
{
    const char *line = strstr(report, label);
    if (line == NULL) {
        return 0;
    }
    return strtoull(line + strlen(label), NULL, 10);
}

static void check_report(const char *name, const char *report, const mx_stats_t *s)
{
    if (strncmp(report, "malloc-x ", 9) != 0) {
        fail_msg("%s: the report does not start with 'malloc-x ':\n%s", name, report);
    }
    for (size_t i = 0; i < sizeof(part_lines) / sizeof(part_lines[0]); i++) {
        if (strstr(report, part_lines[i]) == NULL) {
            fail_msg("%s: no '%s' line in:\n%s", name, part_lines[i], report);
        }
    }
    size_t total = report_value(report, "total resident");
    size_t diff = total > s->resident_bytes ? total - s->resident_bytes : s->resident_bytes - total;
    if (diff * 100 > s->resident_bytes) {
        fail_msg("%s: total resident %zu, mx_stats_get %zu", name, total, s->resident_bytes);
    }
}

static void test_reports_show_every_part(void **state)
{
    (void)state;
    size_t cap = MIB;
    char *buf = map_zeroed(cap);
    mx_stats_t s;
    mx_stats_get(&s);
    capture_stderr(mx_stats_print, buf, cap);
    check_report("mx_stats_print", buf, &s);
    fputs(buf, stdout); /* print_message truncates long text */
    capture_stderr(malloc_stats, buf, cap);
    check_report("malloc_stats", buf, &s);
    munmap(buf, cap);
}

static void test_malloc_info_has_the_parts(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(malloc_info(0, f), 0);
    fclose(f);
    static const char *const elements[] = {
        "<malloc version=\"malloc-x-",
        "<sizes>",
        "<total type=\"mmap\" count=\"1\"",
        "<resident type=\"live\"",
        "<resident type=\"abandoned\"",
        "<resident type=\"purge-pending\"",
        "<purge calls=",
        "</malloc>",
    };
    for (size_t i = 0; i < sizeof(elements) / sizeof(elements[0]); i++) {
        if (strstr(text, elements[i]) == NULL) {
            fail_msg("malloc_info has no %s in:\n%s", elements[i], text);
        }
    }
    free(text);
}

/* MALLOCX_SHOW_STATS=1: the same report at exit, from a child running this program with
 * --exit-report. */
static void test_show_stats_at_exit(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        setenv("MALLOCX_SHOW_STATS", "1", 1);
        execl("/proc/self/exe", "test_resident", "--exit-report", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t cap = MIB;
    char *buf = map_zeroed(cap);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + len, cap - 1 - len)) > 0) {
        len += (size_t)n;
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (size_t i = 0; i < sizeof(part_lines) / sizeof(part_lines[0]); i++) {
        if (strstr(buf, part_lines[i]) == NULL) {
            fail_msg("MALLOCX_SHOW_STATS=1: no '%s' line at exit in:\n%s", part_lines[i], buf);
        }
    }
    munmap(buf, cap);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--exit-report") == 0) {
        void *volatile p = malloc(1000);
        (void)p;
        return 0;
    }
    /* Free pages must wait to be purged while the test looks at them. */
    if (getenv("MALLOCX_PURGE_DELAY") == NULL) {
        setenv("MALLOCX_PURGE_DELAY", "100000", 1);
        execv("/proc/self/exe", argv);
        perror("execv /proc/self/exe");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts_match_the_kernel),
        cmocka_unit_test(test_mallinfo2_follows_the_stats),
        cmocka_unit_test(test_reports_show_every_part),
        cmocka_unit_test(test_malloc_info_has_the_parts),
        cmocka_unit_test(test_show_stats_at_exit),
    };
    return cmocka_run_group_tests(tests, build_scenario, tear_down_scenario);
}
