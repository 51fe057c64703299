#!/bin/sh
# gcc workload for the malloc-x preload tests: generates a large C file (thousands of
# functions), compiles it with gcc -O2, runs the program and prints its output.  Run it in an
# empty directory; under run_compare.sh every process (sh, awk, gcc, cc1, as, collect2, ld and
# the compiled program) runs with the preloaded allocator.
#   gcc_workload.sh [CC] [FUNCTIONS]
set -eu
cc=${1:-gcc}
nfunc=${2:-2000}

awk -v N="$nfunc" '
BEGIN {
    print "#include <stdint.h>"
    print "#include <stdio.h>"
    print "#include <stdlib.h>"
    print "#include <string.h>"
    print "typedef struct { uint64_t a, b; uint32_t c[6]; char tag[16]; } rec_t;"
    print "static inline uint64_t mix(uint64_t x) {"
    print "    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33;"
    print "    x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33; return x; }"
    print "static int cmp_u64(const void *p, const void *q) {"
    print "    uint64_t a = *(const uint64_t *)p, b = *(const uint64_t *)q;"
    print "    return a < b ? -1 : a > b; }"
    for (i = 0; i < N; i++) {
        k = i % 4
        printf "static const char *const s_%d[] = { \"f%d-alpha\", \"f%d-beta-%d\", \"gamma-%d\" };\n", i, i, i, i * 7, i % 13
        printf "__attribute__((noinline)) uint64_t f_%d(uint64_t x) {\n", i
        printf "    uint64_t acc = x ^ %dULL; rec_t r; int j;\n", (i * 40503) % 1000003
        printf "    memset(&r, 0, sizeof r); r.a = x; r.b = acc;\n"
        printf "    snprintf(r.tag, sizeof r.tag, \"t%%d\", (int)(x %% %d));\n", 97 + i
        if (k == 0) {
            printf "    for (j = 0; j < %d; j++) { acc = mix(acc + j); r.c[j %% 6] += (uint32_t)acc; }\n", 8 + i % 23
        } else if (k == 1) {
            printf "    switch ((int)(x %% 8)) {\n"
            for (c = 0; c < 8; c++)
                printf "    case %d: acc += %dULL * x + %d; r.c[%d] = (uint32_t)(acc >> %d); break;\n", c, c * 31 + i, c + i % 7, c % 6, c * 3
            printf "    default: acc = ~acc; }\n"
        } else if (k == 2) {
            printf "    uint64_t v[%d];\n", 16 + i % 17
            printf "    for (j = 0; j < (int)(sizeof v / sizeof v[0]); j++) v[j] = mix(x + j * %dULL);\n", i + 1
            printf "    qsort(v, sizeof v / sizeof v[0], sizeof v[0], cmp_u64);\n"
            printf "    for (j = 0; j < (int)(sizeof v / sizeof v[0]); j++) acc = acc * 31 + v[j];\n"
        } else {
            printf "    char *buf = malloc(%d);\n", 32 + i % 200
            printf "    if (!buf) abort();\n"
            printf "    snprintf(buf, %d, \"%%s:%%llu:%%s\", s_%d[x %% 3], (unsigned long long)x, r.tag);\n", 32 + i % 200, i
            printf "    for (j = 0; buf[j]; j++) acc = acc * 131 + (unsigned char)buf[j];\n"
            printf "    char *dup = strdup(buf); free(buf);\n"
            printf "    acc ^= strlen(dup); free(dup);\n"
        }
        printf "    for (j = 0; j < 6; j++) acc += r.c[j];\n"
        printf "    acc += strlen(s_%d[acc %% 3]) + (uint64_t)r.tag[1];\n", i
        if (i > 0 && i % 5 == 0)
            printf "    if ((x & 1) == 0) acc += f_%d(x >> 1) & 0xff;\n", i - 1 - (i % 3)
        printf "    return mix(acc + r.a + r.b);\n}\n"
    }
    printf "typedef uint64_t (*fn_t)(uint64_t);\n"
    printf "static const fn_t table[%d] = {\n", N
    for (i = 0; i < N; i++) printf "    f_%d,\n", i
    printf "};\n"
    print "struct node { struct node *next; uint64_t v; char *name; };"
    print "int main(void) {"
    print "    uint64_t total = 0; struct node *list = NULL; size_t i;"
    printf "    for (i = 0; i < %d; i++) {\n", N
    print "        uint64_t r = table[i](i * 0x9e3779b97f4a7c15ULL + 12345);"
    print "        total = mix(total ^ r);"
    print "        struct node *nd = malloc(sizeof *nd);"
    print "        char name[32]; snprintf(name, sizeof name, \"n%zu-%llx\", i, (unsigned long long)(r & 0xffff));"
    print "        nd->v = r; nd->name = strdup(name); nd->next = list; list = nd;"
    print "        if (i % 250 == 249) printf(\"f_%zu %016llx %016llx\\n\", i, (unsigned long long)r, (unsigned long long)total);"
    print "    }"
    print "    size_t count = 0, namelen = 0;"
    print "    while (list) { struct node *nx = list->next; count++; namelen += strlen(list->name);"
    print "        free(list->name); free(list); list = nx; }"
    print "    printf(\"functions %zu names %zu total %016llx\\n\", count, namelen, (unsigned long long)total);"
    print "    return 0;"
    print "}"
}' >big.c

echo "generated big.c: $(wc -l <big.c) lines, $(grep -c '^__attribute__' big.c) functions"
"$cc" -O2 -Wall -Wno-unused -o prog big.c
./prog
