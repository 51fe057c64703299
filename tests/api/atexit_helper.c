/* Helper for test_process_life: allocates in atexit handlers and a destructor, which run after
 * main returned and, for some allocators, after their per-thread state was torn down. Prints
 * "ok" only if every allocation worked; any failure exits with a distinct code instead. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Allocated by one handler and freed by another that runs later (atexit is LIFO). */
static unsigned char *carried;
static const size_t carried_size = 3000;

static void fail_exit(int code)
{
    /* exit() from an atexit handler is undefined; _exit skips the remaining handlers. */
    _exit(code);
}

static void churn(int code)
{
    static const size_t sizes[] = {1, 24, 100, 1000, 5000, 70000, 300000, 3 << 20, 40 << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *p = malloc(sizes[i]);
        unsigned char *q = calloc(1, sizes[i]);
        if (p == NULL || q == NULL) {
            fail_exit(code);
        }
        memset(p, 0x33, sizes[i]);
        if (q[0] != 0 || q[sizes[i] - 1] != 0) {
            fail_exit(code + 1);
        }
        p = realloc(p, sizes[i] * 2);
        if (p == NULL || p[0] != 0x33) {
            fail_exit(code + 2);
        }
        free(q);
        free(p);
    }
}

/* Registered first, so it runs last: frees the block the middle handler left. */
static void last_handler(void)
{
    for (size_t i = 0; i < carried_size; i++) {
        if (carried == NULL || carried[i] != (unsigned char)i) {
            fail_exit(20);
        }
    }
    free(carried);
    churn(21);
    fputs("ok\n", stdout);
}

static void middle_handler(void)
{
    carried = malloc(carried_size);
    if (carried == NULL) {
        fail_exit(10);
    }
    for (size_t i = 0; i < carried_size; i++) {
        carried[i] = (unsigned char)i;
    }
    churn(11);
}

static void first_handler(void)
{
    churn(30);
    /* Left allocated on purpose: a block still live at exit must not upset anything. */
    void *leak = malloc(77);
    if (leak == NULL) {
        fail_exit(33);
    }
}

__attribute__((destructor)) static void destructor_allocates(void)
{
    churn(40);
}

int main(void)
{
    if (atexit(last_handler) != 0 || atexit(middle_handler) != 0 || atexit(first_handler) != 0) {
        return 1;
    }
    churn(2);
    return 0;
}
