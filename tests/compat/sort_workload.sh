#!/bin/sh
# sort for the malloc-x compat tests: generates 2 million deterministic lines (~50 MB), sorts
# them with `sort -S 50M --parallel=2` (a 50 MB buffer: two sorting threads, and temporary
# files merged at the end) by several keys, and prints line counts and checksums of each
# output.  Run it in an empty directory.
#
# sort, like every coreutils program (and mawk), closes stderr at exit (gnulib's close_stdout),
# before malloc-x's destructor could print its MALLOCX_SHOW_STATS report, and dash leaves with
# _exit.  So for run_compare.sh's proof run (MALLOCX_SHOW_STATS set) the script prints its own
# "malloc-x " line when the dynamic loader lists LD_PRELOAD's library among sort's objects, on
# stderr, which is not compared.
#   sort_workload.sh [SORT] [LINES]
set -eu
sort_bin=${1:-sort}
nlines=${2:-2000000}
export LC_ALL=C
mkdir tmp

awk -v N="$nlines" 'BEGIN {
    split("red green blue cyan magenta yellow black white orange purple", colour, " ")
    x = 987654321
    for (i = 0; i < N; i++) {
        x = (x * 48271) % 2147483647   # MINSTD: the product stays below 2^53
        printf "%s\t%d\t%08x-%d\t%s%d\n", colour[1 + x % 10], x % 100000, x, i,
            substr("abcdefghijklmnopqrstuvwxyz", 1 + x % 26, 1 + x % 17), i % 1000
    }
}' >lines
echo "input: $(wc -l <lines) lines, sha256 $(sha256sum <lines | cut -c1-64)"

sorted() { # sorted NAME sort-options...: runs sort and prints the result's summary
    name=$1
    shift
    "$sort_bin" -S 50M --parallel=2 -T tmp "$@" lines >out
    echo "$name: $(wc -l <out) lines, first [$(head -n 1 out)], sha256 $(sha256sum <out | cut -c1-64)"
}
sorted plain
sorted numeric-key -t "$(printf '\t')" -k2,2n -k3,3
sorted reverse-unique-stable -s -r -u -t "$(printf '\t')" -k4,4
"$sort_bin" -S 50M --parallel=2 -T tmp lines >a
"$sort_bin" -S 50M --parallel=2 -T tmp -m a a | "$sort_bin" -S 50M --parallel=2 -c
echo "merge of a sorted file with itself: sorted"
echo "temporary files left: $(find tmp -type f | wc -l)"

if [ -n "${MALLOCX_SHOW_STATS:-}" ] && [ -n "${LD_PRELOAD:-}" ]; then
    LD_TRACE_LOADED_OBJECTS=1 "$sort_bin" | grep -F "$(basename "$LD_PRELOAD")" \
        | sed 's/^[[:space:]]*/malloc-x (proof, not statistics): sort loads /' >&2 || true
fi
