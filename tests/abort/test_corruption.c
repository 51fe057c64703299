/* Safe-linking: a free-list link overwritten after free (a use-after-free write, or an overflow
 * from the neighbouring block) is caught before it is followed, with one line naming the bad
 * block, instead of handing out memory the attacker chose. */
#include "support.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CORRUPT_MESSAGE "malloc-x: malloc(): corrupted free list: bad link 0x"

static char target[256];

/* Overwrites the link of a freed block with the address of a global, then allocates until the
 * forged link would be used. */
static void forge_link(void *arg)
{
    size_t size = (size_t)(uintptr_t)arg;
    void *blocks[4096];
    for (int i = 0; i < 4096; i++) {
        blocks[i] = malloc(size);
    }
    void *victim = blocks[100];
    free(victim);
    /* A use after free writing the address over the block's first two words: the link is one
     * of them (the second, in blocks of 16 bytes or more). */
    void *forged[2] = {target, target};
    memcpy(victim, forged, sizeof(forged));
    for (int i = 0; i < 8192; i++) {
        if (malloc(size) == (void *)target) {
            /* Reaching this is the failure the test guards against. */
            _exit(3);
        }
    }
}

/* A zeroed link (say, a memset after free) decodes to garbage just the same. */
static void zero_link(void *arg)
{
    (void)arg;
    void *blocks[1024];
    for (int i = 0; i < 1024; i++) {
        blocks[i] = malloc(48);
    }
    free(blocks[7]);
    memset(blocks[7], 0, 48);
    for (int i = 0; i < 4096; i++) {
        (void)malloc(48);
    }
}

static void test_forged_link_small(void **state)
{
    (void)state;
    mx_test_expect_abort(forge_link, (void *)(uintptr_t)32, CORRUPT_MESSAGE);
}

static void test_forged_link_medium(void **state)
{
    (void)state;
    mx_test_expect_abort(forge_link, (void *)(uintptr_t)3000, CORRUPT_MESSAGE);
}

static void test_zeroed_link(void **state)
{
    (void)state;
    mx_test_expect_abort(zero_link, NULL, CORRUPT_MESSAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forged_link_small),
        cmocka_unit_test(test_forged_link_medium),
        cmocka_unit_test(test_zeroed_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
