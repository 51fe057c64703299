/* Near the kernel's map-count limit (vm.max_map_count) the process never fails, and never
 * fails an allocation, while malloc-x holds free memory. A child process first uses up nearly
 * every mapping the kernel allows, with one-page mappings that cannot merge (their protections
 * alternate), and gives a few back. Then it runs rounds of large blocks spread over several
 * segments, freed in random order so that empty segments are unmapped from the middle of the
 * kernel's merged mappings, which the kernel refuses at the limit. The first round allocates
 * what it can; every later round must get as many blocks, from the memory the first freed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "malloc-x.h"
#include "support.h"

#define MIB ((size_t)1 << 20)
#define ROUNDS 20
#define BLOCKS 64
#define BLOCK_SIZE (4 * MIB)
/* Mappings left free for malloc-x after the filling. A secure build puts a guard page after
 * each block and each segment header, and each guard splits a mapping in three; where the
 * blocks land, and so how many of those mappings merge, differs between rounds. Four spare
 * mappings per block leave room for every block in every round. */
#ifdef MX_TEST_GUARD_PAGES
#define SPARE_MAPPINGS (2 + 4 * BLOCKS)
#else
#define SPARE_MAPPINGS 2
#endif

static void child_fail(const char *what, int round, size_t i)
{
    char msg[160];
    int n = snprintf(msg, sizeof(msg), "map-count child: %s (round %d, block %zu)\n", what, round,
                     i);
    write(2, msg, (size_t)n);
    abort();
}

static void run_near_the_limit(void *arg)
{
    (void)arg;
    enum { MAX_FILL = 1 << 20 };
    static void *fill[MAX_FILL];
    size_t filled = 0;
    long page = sysconf(_SC_PAGESIZE);
    while (filled < MAX_FILL) {
        int prot = filled % 2 ? PROT_READ : PROT_READ | PROT_WRITE;
        void *p = mmap(NULL, (size_t)page, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            break;
        }
        fill[filled++] = p;
    }
    if (filled == MAX_FILL || errno != ENOMEM) {
        child_fail("could not reach the map-count limit", -1, filled);
    }
    for (size_t i = 0; i < SPARE_MAPPINGS; i++) {
        munmap(fill[--filled], (size_t)page);
    }

    static char *blocks[BLOCKS];
    size_t first_round = 0;
    mx_test_rng_t rng;
    mx_test_rng_seed(&rng, 7);
    for (int round = 0; round < ROUNDS; round++) {
        size_t got = 0;
        for (size_t i = 0; i < BLOCKS; i++) {
            blocks[i] = malloc(BLOCK_SIZE);
            if (blocks[i] == NULL) {
                if (round > 0 && i < first_round) {
                    child_fail("allocation failed with memory free", round, i);
                }
                break;
            }
            memset(blocks[i], round, 4096);
            got++;
        }
        if (round == 0) {
            first_round = got;
            if (got < 8) {
                child_fail("too few blocks fit to test anything", round, got);
            }
        }
        for (size_t i = got; i > 1; i--) {
            size_t j = (size_t)mx_test_rng_range(&rng, 0, i - 1);
            char *t = blocks[i - 1];
            blocks[i - 1] = blocks[j];
            blocks[j] = t;
        }
        for (size_t i = 0; i < got; i++) {
            if (blocks[i][0] != (char)round) {
                child_fail("block contents lost", round, i);
            }
            free(blocks[i]);
        }
        malloc_trim(0);
    }
    char msg[128];
    int n = snprintf(msg, sizeof(msg), "filled %zu mappings; %zu blocks of 4 MiB per round\n",
                     filled, first_round);
    write(1, msg, (size_t)n);
    exit(0);
}

static void test_near_map_count_limit(void **state)
{
    (void)state;
    char err[512] = {0};
    int sig = mx_test_run_child(run_near_the_limit, NULL, err, sizeof(err));
    if (sig != 0) {
        fprintf(stderr, "child died of signal %d: %s\n", sig, err);
    }
    assert_int_equal(sig, 0);
    assert_string_equal(err, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_near_map_count_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
