#!/usr/bin/env bash
# Count the instructions one warm malloc(SIZE) and the matching free execute,
# for each allocator, by single-stepping a probe program in gdb.
#
# usage: bench/count_instructions.sh [--size N] [--pairs K] [LIB.so | - ]...
#   "-" (or no library at all) means the system allocator (glibc).
# Output, one line per library:
#   <lib|glibc> <size> <malloc> <free> <total> [<mean per pair over K pairs>]
# The first three figures are for one marked pair. An allocator with sharded
# free lists refills its allocation list every so many calls, and one pair
# may land on that refill; with --pairs K (K > 1) the next K pairs are
# stepped as well and their mean, which includes the amortised refills, is
# printed as a fourth figure.
#
# Why gdb: it needs no PMU access (this often runs in a VM where perf
# counters are missing) and no valgrind, and a single-stepped count is exact
# and repeatable. The probe warms the allocator up with 1000 pairs first, so
# the count is the fast path, not first-call initialisation. The counts
# include the call instruction's target PLT stub and the return, the same
# few instructions for every allocator.
set -euo pipefail

size=32
pairs=1
while [ $# -gt 0 ]; do
    case "$1" in
    --size) size=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    *) break ;;
    esac
done
[ $# -gt 0 ] || set -- -
command -v gdb >/dev/null || { echo "count_instructions.sh: gdb not found" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The markers are empty noinline functions: the script stops at each one's
# entry and counts the instructions stepped between them.
cat >"$work/probe.c" <<EOF
#include <stdlib.h>

__attribute__((noinline)) void probe_before_malloc(void) { __asm__ volatile(""); }
__attribute__((noinline)) void probe_before_free(void) { __asm__ volatile(""); }
__attribute__((noinline)) void probe_done(void) { __asm__ volatile(""); }
__attribute__((noinline)) void probe_pairs_done(void) { __asm__ volatile(""); }

int main(void)
{
    void *volatile keep;
    for (int i = 0; i < 1000; i++) {
        keep = malloc($size);
        free(keep);
    }
    probe_before_malloc();
    keep = malloc($size);
    probe_before_free();
    free(keep);
    probe_done();
    for (int i = 0; i < $pairs - 1; i++) {
        keep = malloc($size);
        free(keep);
    }
    probe_pairs_done();
    return 0;
}
EOF
cc -O1 -g0 -o "$work/probe" "$work/probe.c"

cat >"$work/steps.py" <<'EOF'
import gdb

def stop_address(name):
    return int(gdb.parse_and_eval("(long)&" + name))

def steps_until(target):
    # stepi enters calls (malloc, free, PLT stubs); count until the pc is at
    # the entry of the next marker.
    n = 0
    while int(gdb.parse_and_eval("$pc")) != target:
        gdb.execute("stepi", to_string=True)
        n += 1
    return n

gdb.execute("break probe_before_malloc", to_string=True)
gdb.execute("run", to_string=True)
free_marker = stop_address("probe_before_free")
done_marker = stop_address("probe_done")
gdb.execute("finish", to_string=True)
in_malloc = steps_until(free_marker)
gdb.execute("finish", to_string=True)
in_free = steps_until(done_marker)
# The remaining pairs, if any, counted as one stretch (loop overhead included).
pairs_marker = stop_address("probe_pairs_done")
gdb.execute("finish", to_string=True)
rest = steps_until(pairs_marker)
print("STEPS %d %d %d" % (in_malloc, in_free, rest))
gdb.execute("kill", to_string=True)
EOF

for lib in "$@"; do
    env_cmd=(-ex "unset environment LD_PRELOAD")
    label=glibc
    if [ "$lib" != "-" ] && [ -n "$lib" ]; then
        env_cmd=(-ex "set environment LD_PRELOAD=$lib")
        label=$lib
    fi
    # startup-with-shell off: the preload must reach the probe, not a shell.
    out=$(env -u LD_PRELOAD gdb -nx -batch -ex "set startup-with-shell off" \
        -ex "set pagination off" "${env_cmd[@]}" -x "$work/steps.py" "$work/probe" 2>&1 |
        grep '^STEPS' || true)
    if [ -z "$out" ]; then
        echo "$label $size ? ? ?"
        continue
    fi
    read -r _ m f rest <<<"$out"
    if [ "$pairs" -gt 1 ]; then
        # The marked pair plus the K-1 stepped after it.
        mean=$(awk -v a=$((m + f)) -v r="$rest" -v k="$pairs" 'BEGIN { printf "%.1f", (a + r) / k }')
        echo "$label $size $m $f $((m + f)) $mean"
    else
        echo "$label $size $m $f $((m + f))"
    fi
done
