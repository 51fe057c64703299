#!/usr/bin/env bash
# Benchmark malloc-x against glibc and the Debian-packaged peers, in one run.
#
# usage: bench/run.sh [--quick] [--runs N] [--only REGEX] [--no-count]
#   --quick     3 runs of a reduced set of smaller configurations (< 3 min)
#   --runs N    runs per (workload, allocator); default 7 (3 with --quick)
#   --only RE   run only the configurations whose label matches RE (grep -E)
#   --no-count  skip the fast-path instruction count (bench/results/fastpath.md)
# Environment:
#   COUNT_FASTPATH=/path/to/tool  use that tool for the instruction count
#       (called as TOOL --size N LIB...); otherwise bench/count_instructions.sh
#   MALLOCX_LIB=/path/libmalloc-x.so  benchmark this build instead of building
#
# What it does: installs missing peers with apt-get, builds malloc-x
# (Release) into bench/build/malloc-x, compiles the workloads into
# bench/build/bin, then runs every configuration under every allocator via
# LD_PRELOAD (glibc: none), allocators interleaved (A B C D E, B C D E A, ...:
# the order turns by one at every run, so that each allocator takes each place
# after the previous workload equally often) and runs interleaved too, so that
# drift in the machine's speed hits all allocators alike. Each process is
# measured from outside by bench/runwrap.c (wall time, peak RSS from wait4).
# bench/report.py then writes the medians and ratios to
# bench/results/latest.md and bench/chart.py the chart
# bench/results/latest.svg. Raw measurements stay in bench/results/raw.tsv.
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

quick=0
runs=
only=
do_count=1
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --runs) runs=$2; shift ;;
    --only) only=$2; shift ;;
    --no-count) do_count=0 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
if [ -z "$runs" ]; then
    runs=$([ $quick = 1 ] && echo 3 || echo 7)
fi
start_epoch=$(date +%s)
log() { printf '[%4ds] %s\n' $(($(date +%s) - start_epoch)) "$*" >&2; }

# ------------------------------------------------ packages, build, allocators
# shellcheck source=bench/common.sh
. "$bench_dir/common.sh"
bench_install_missing libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4 gdb python3 sqlite3 \
    cmake gcc make
bench_build
bench_select_allocators

# ---------------------------------------------------------- configurations
# Each entry: LABEL|THREADS|COMMAND. THREADS is "-" where it does not apply.
# Parameters are chosen so one run takes ~0.5-3 s (full) or ~0.2-1 s (quick).
configs=()
add() { configs+=("$1|$2|$3"); }
B=$bin_dir
if [ $quick = 1 ]; then
    add "fastpath pair 32B" 1 "$B/fastpath pair 1 32 50000000"
    add "fastpath fifo 64B x1000" 1 "$B/fastpath fifo 1 64 30000000 1000"
    add "larson 16B-1KiB" 8 "$B/larson 8 16 1024 10000000"
    add "prodcons batch 100" 2 "$B/prodcons 2 100 256 4000000"
    add "churn" 8 "$B/churn 8 1600 1000 512"
    add "cache-scratch" 2 "$B/cache_scratch scratch 2 8000 10000 8"
    add "sizes realloc" 1 "$B/sizes realloc 1 1"
    add "sizes large" 1 "$B/sizes large 1 1"
    add "phases 256MiB" 2 "$B/phases 2 256"
    add "latency" 2 "$B/latency 2 500000 10000"
    add "python3" - "env PYTHONMALLOC=malloc /usr/bin/python3 $bench_dir/py_alloc.py 1"
    add "sqlite3" - "/usr/bin/sqlite3 :memory: .parameter\\ set\\ @rows\\ 150000 .read\\ $bench_dir/sqlite_load.sql"
else
    for t in 1 2 8; do
        add "fastpath pair 32B" $t "$B/fastpath pair $t 32 100000000"
    done
    add "fastpath pair 512B" 1 "$B/fastpath pair 1 512 100000000"
    add "fastpath lifo 64B x1000" 1 "$B/fastpath lifo 1 64 80000000 1000"
    add "fastpath fifo 64B x1000" 1 "$B/fastpath fifo 1 64 80000000 1000"
    add "fastpath fifo 64B x1000" 8 "$B/fastpath fifo 8 64 80000000 1000"
    for t in 1 2 8; do
        add "larson 16B-1KiB" $t "$B/larson $t 16 1024 20000000"
    done
    for t in 2 8; do
        add "larson 16B-8KiB" $t "$B/larson $t 16 8192 10000000"
    done
    # One size and 10,000 slots: a steady population of like objects replaced at random, which
    # keeps every page of the class full but the one a free just went to.
    for t in 1 2; do
        add "larson 512B x10000" $t "$B/larson $t 512 512 20000000 10000"
    done
    add "prodcons batch 1" 2 "$B/prodcons 2 1 256 10000000"
    add "prodcons batch 100" 2 "$B/prodcons 2 100 256 10000000"
    add "prodcons batch 1" 8 "$B/prodcons 8 1 256 10000000"
    add "prodcons batch 1000" 8 "$B/prodcons 8 1000 256 10000000"
    for t in 1 2 8; do
        add "churn" $t "$B/churn $t 2000 2000 512"
    done
    for t in 1 2 8; do
        add "cache-scratch" $t "$B/cache_scratch scratch $t 20000 10000 8"
    done
    for t in 2 8; do
        add "cache-thrash" $t "$B/cache_scratch thrash $t 20000 10000 8"
    done
    add "sizes sweep" 1 "$B/sizes sweep 1 2"
    add "sizes sweep" 2 "$B/sizes sweep 2 2"
    add "sizes realloc" 1 "$B/sizes realloc 1 3"
    add "sizes large" 1 "$B/sizes large 1 2"
    add "phases 512MiB" 1 "$B/phases 1 512"
    add "phases 512MiB" 2 "$B/phases 2 512"
    for t in 1 2 8; do
        add "latency" $t "$B/latency $t $((2000000 / t)) 10000"
    done
    add "python3" - "env PYTHONMALLOC=malloc /usr/bin/python3 $bench_dir/py_alloc.py 2"
    add "sqlite3" - "/usr/bin/sqlite3 :memory: .parameter\\ set\\ @rows\\ 300000 .read\\ $bench_dir/sqlite_load.sql"
fi
bench_keep_configs "$only"

# ------------------------------------------------------------------ runs
raw=$results_dir/raw.tsv
fail_dir=$results_dir/failures
rm -rf "$fail_dir"
mkdir -p "$fail_dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'run\tlabel\tthreads\tallocator\twall_s\tmaxrss_kb\tstatus\tresult\n' >"$raw"
log "running ${#configs[@]} configurations x ${#names[@]} allocators x $runs runs"
timeout_s=$([ $quick = 1 ] && echo 60 || echo 300)
for run in $(seq 1 "$runs"); do
    ci=0
    for c in "${configs[@]}"; do
        ci=$((ci + 1))
        label=${c%%|*}
        rest=${c#*|}
        threads=${rest%%|*}
        cmd=${rest#*|}
        # The command string is split on spaces; "\ " keeps a space inside
        # one argument (the sqlite3 dot-commands).
        eval "argv=($cmd)"
        for k in "${!names[@]}"; do
            i=$(((k + run - 1) % ${#names[@]}))
            name=${names[$i]}
            status=0
            "$bin_dir/runwrap" "$tmp/report" "$timeout_s" "${libs[$i]}" -- "${argv[@]}" \
                >"$tmp/out" 2>"$tmp/err" || status=$?
            measured=$(cat "$tmp/report" 2>/dev/null || echo "wall_s=0 maxrss_kb=0 status=$status")
            wall=$(sed -n 's/.*wall_s=\([^ ]*\).*/\1/p' <<<"$measured")
            rss=$(sed -n 's/.*maxrss_kb=\([^ ]*\).*/\1/p' <<<"$measured")
            # The workloads print one line starting with their own name; the
            # real programs' whole output is kept for the comparison below.
            result=$(grep -E '^(fastpath|larson|prodcons|churn|cache_scratch|sizes|phases|latency|py_alloc) ' \
                "$tmp/out" | head -1 || true)
            if [ "$label" = sqlite3 ]; then
                result="sqlite3 md5=$(md5sum <"$tmp/out" | cut -c1-12)"
            fi
            if [ "$status" != 0 ] || [ -z "$result" ]; then
                [ "$status" != 0 ] || status=1
                f="$fail_dir/$(tr ' /' '__' <<<"$label")-t$threads-$name-run$run.txt"
                { echo "command: LD_PRELOAD=${libs[$i]} $cmd"; echo "status: $status";
                  echo "--- stdout"; cat "$tmp/out"; echo "--- stderr"; cat "$tmp/err"; } >"$f"
                log "FAILED: $label t=$threads $name (status $status), see $f"
            fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$label" "$threads" "$name" \
                "$wall" "$rss" "$status" "$result" >>"$raw"
        done
    done
    log "run $run/$runs done"
done

# Untimed runs: every configuration whose label starts with WORKLOAD once more per allocator,
# with ARG appended to its command. Their rows go to raw.tsv with ARG in the run column, and
# report.py takes from them only the figures ARG asks for (UNTIMED_PREFIX there).
untimed_runs() {
    local workload=$1 arg=$2 c label rest threads cmd i status result
    for c in "${configs[@]}"; do
        label=${c%%|*}
        rest=${c#*|}
        threads=${rest%%|*}
        cmd=${rest#*|}
        [[ $label == "$workload"* ]] || continue
        eval "argv=($cmd $arg)"
        for i in "${!names[@]}"; do
            status=0
            "$bin_dir/runwrap" "$tmp/report" "$timeout_s" "${libs[$i]}" -- "${argv[@]}" \
                >"$tmp/out" 2>"$tmp/err" || status=$?
            result=$(grep -E "^$workload " "$tmp/out" | head -1 || true)
            [ -n "$result" ] || [ "$status" != 0 ] || status=1
            [ "$status" = 0 ] ||
                log "FAILED: $label t=$threads ${names[$i]} ($arg run, status $status)"
            printf '%s\t%s\t%s\t%s\t0\t0\t%s\t%s\n' "$arg" "$label" "$threads" "${names[$i]}" \
                "$status" "$result" >>"$raw"
        done
    done
    log "$arg runs of the $workload workloads done"
}

# phases, counting the OS pages that the blocks left after the free phase overlap (phases.c):
# the floor RSS after freeing for that allocator's layout. Counting allocates and sorts inside
# the process, so these runs' times and RSS stay out of the tables.
untimed_runs phases floor
# larson, counting live bytes (larson.c): how much RSS each allocator adds over the blocks the
# program holds, which the peak RSS alone does not say because the blocks waiting in mailboxes
# depend on how the threads were scheduled. Three rounds, for medians: with 8 threads one run's
# count moved by 10 to 25% from the next.
for _ in 1 2 3; do
    untimed_runs larson live
done
rmdir "$fail_dir" 2>/dev/null || true

# ------------------------------------------------------- fast-path count
fastpath_md=$results_dir/fastpath.md
if [ $do_count = 1 ]; then
    if [ -n "${COUNT_FASTPATH:-}" ]; then
        counter=("$COUNT_FASTPATH")
        counter_desc="$COUNT_FASTPATH"
    else
        counter=("$bench_dir/count_instructions.sh" --pairs 16)
        counter_desc="bench/count_instructions.sh --pairs 16 (gdb single-step)"
    fi
    log "counting fast-path instructions with $counter_desc"
    count_libs=()
    for l in "${libs[@]}"; do
        # Both counters take "" / "-" for the system allocator differently;
        # pass what each expects.
        if [ "$l" = - ]; then
            if [ -n "${COUNT_FASTPATH:-}" ]; then count_libs+=(""); else count_libs+=(-); fi
        else
            count_libs+=("$l")
        fi
    done
    : >"$tmp/counts"
    for size in 16 32 128 512 1024; do
        "${counter[@]}" --size "$size" "${count_libs[@]}" >>"$tmp/counts" 2>"$tmp/count_err" ||
            log "instruction count for size $size failed: $(head -3 "$tmp/count_err")"
    done
    python3 "$bench_dir/report.py" fastpath --counts "$tmp/counts" --counter "$counter_desc" \
        --names "${names[*]}" --libs "${libs[*]}" >"$fastpath_md"
fi

# ----------------------------------------------------------------- report
versions=$tmp/versions
bench_write_versions "$versions"
elapsed=$(($(date +%s) - start_epoch))
python3 "$bench_dir/report.py" table --raw "$raw" --versions "$versions" \
    --mode "$([ $quick = 1 ] && echo quick || echo full)" --runs "$runs" \
    --elapsed "$elapsed" --names "${names[*]}" \
    --fastpath "$([ -f "$fastpath_md" ] && echo "$fastpath_md" || echo '')" \
    --medians "$results_dir/medians.tsv" >"$results_dir/latest.md"
python3 "$bench_dir/chart.py" "$results_dir/medians.tsv" "$results_dir/latest.svg"
log "done in ${elapsed}s: $results_dir/latest.md, latest.svg, fastpath.md"
