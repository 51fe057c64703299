#!/usr/bin/env bash
# Count, for smaller versions of the workloads, the instructions each allocator's process
# executes and the cache misses it makes, in valgrind's cache simulator (callgrind).
#
# usage: bench/profile.sh [--only REGEX] [--keep DIR] [--jobs N]
#   --only RE   profile only the configurations whose label matches RE (grep -E)
#   --keep DIR  keep each run's callgrind.out in DIR, for callgrind_annotate
#   --jobs N    runs at a time (default: the number of processors)
# Environment: MALLOCX_LIB as in run.sh.
#
# Why: wall times on this shared machine move by 10% and more from one run to the next;
# these counts are the same at every run, and they tell apart what a time cannot: a read
# that misses the cache stops the program until the line arrives, a write that misses
# waits in the store buffer while the program goes on.
#
# Writes bench/results/profile.md (tables, ratios peer / malloc-x) and profile.tsv (counts).
# Takes about 5 minutes on 2 cores: callgrind runs a program 50 to 100 times slower.
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

only=
keep=
jobs=$(nproc)
while [ $# -gt 0 ]; do
    case "$1" in
    --only) only=$2; shift ;;
    --keep) keep=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "profile.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
start_epoch=$(date +%s)
log() { printf '[%4ds] %s\n' $(($(date +%s) - start_epoch)) "$*" >&2; }

# shellcheck source=bench/common.sh
. "$bench_dir/common.sh"
bench_install_missing libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4 valgrind python3 \
    sqlite3 cmake gcc make
bench_build
bench_select_allocators

# The caches of one core of this machine (AMD EPYC, Zen 4): 32 KiB 8-way L1 for data and for
# instructions, and a 1 MiB 8-way L2, simulated as the last level. valgrind 3.19 does not read
# them from this CPU (it assumes a 256 MiB direct-mapped last level), so they are given here.
cache_opts=(--I1=32768,8,64 --D1=32768,8,64 --LL=1048576,8,64)

# Each entry: LABEL|THREADS|COMMAND, the runner's labels with smaller counts. Leading NAME=VALUE
# words of a command go into its environment (valgrind profiles the first program it starts,
# so not through env).
B=$bin_dir
configs=(
    "fastpath pair 32B|1|$B/fastpath pair 1 32 2000000"
    "fastpath fifo 64B x1000|1|$B/fastpath fifo 1 64 2000000 1000"
    "larson 16B-1KiB|1|$B/larson 1 16 1024 2000000"
    "larson 16B-1KiB|2|$B/larson 2 16 1024 2000000"
    "larson 16B-8KiB|2|$B/larson 2 16 8192 1000000"
    "larson 512B x10000|1|$B/larson 1 512 512 2000000 10000"
    "prodcons batch 100|2|$B/prodcons 2 100 256 400000"
    "churn|2|$B/churn 2 200 2000 512"
    "sizes sweep|1|$B/sizes sweep 1 1"
    "latency|1|$B/latency 1 200000 10000"
    "python3|-|PYTHONMALLOC=malloc /usr/bin/python3 $bench_dir/py_alloc.py 1"
    "sqlite3|-|/usr/bin/sqlite3 :memory: .parameter\\ set\\ @rows\\ 20000 .read\\ $bench_dir/sqlite_load.sql"
)
bench_keep_configs "$only"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -z "$keep" ] || mkdir -p "$keep"

# One run: the process under callgrind, its totals from valgrind's summary lines.
profile_one() {
    local n=$1 label=$2 threads=$3 cmd=$4 name=$5 lib=$6 out=/dev/null status=0
    local environment=()
    [ "$lib" = - ] || environment=("LD_PRELOAD=$lib")
    [ -z "$keep" ] || out=$keep/callgrind.out.$(tr ' /' '__' <<<"$label")-t$threads-$name
    eval "argv=($cmd)"
    while [[ ${argv[0]} =~ ^[A-Z_]+= ]]; do
        environment+=("${argv[0]}")
        argv=("${argv[@]:1}")
    done
    env "${environment[@]}" valgrind --tool=callgrind --cache-sim=yes "${cache_opts[@]}" \
        --callgrind-out-file="$out" --log-file="$tmp/$n.log" "${argv[@]}" \
        >/dev/null 2>"$tmp/$n.err" || status=$?
    local ir d1 ll
    ir=$(sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' "$tmp/$n.log" | tr -d ,)
    d1=$(sed -n 's/.*D1 *misses: *[0-9,]* *( *\([0-9,]*\) rd *+ *\([0-9,]*\) wr).*/\1\t\2/p' \
        "$tmp/$n.log" | tr -d ,)
    ll=$(sed -n 's/.*LLd misses: *[0-9,]* *( *\([0-9,]*\) rd *+ *\([0-9,]*\) wr).*/\1\t\2/p' \
        "$tmp/$n.log" | tr -d ,)
    if [ "$status" != 0 ] || [ -z "$ir" ] || [ -z "$d1" ] || [ -z "$ll" ]; then
        log "FAILED: $label t=$threads $name (status $status): $(tail -2 "$tmp/$n.err")"
        [ "$status" != 0 ] || status=1
        ir=0 d1=$'0\t0' ll=$'0\t0'
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$threads" "$name" "$status" "$ir" "$d1" \
        "$ll" >"$tmp/$n.row"
}

log "profiling ${#configs[@]} configurations x ${#names[@]} allocators, $jobs at a time"
n=0
for c in "${configs[@]}"; do
    label=${c%%|*}
    rest=${c#*|}
    threads=${rest%%|*}
    cmd=${rest#*|}
    for i in "${!names[@]}"; do
        n=$((n + 1))
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
            wait -n
        done
        profile_one "$n" "$label" "$threads" "$cmd" "${names[$i]}" "${libs[$i]}" &
    done
done
wait

tsv=$results_dir/profile.tsv
printf 'label\tthreads\tallocator\tstatus\tinstructions\td1_read_misses\td1_write_misses' >"$tsv"
printf '\tll_read_misses\tll_write_misses\n' >>"$tsv"
for k in $(seq 1 "$n"); do
    cat "$tmp/$k.row" >>"$tsv"
done
bench_write_versions "$tmp/versions"
python3 "$bench_dir/report.py" profile --raw "$tsv" --versions "$tmp/versions" \
    --names "${names[*]}" --elapsed $(($(date +%s) - start_epoch)) \
    --valgrind "$(valgrind --version)" >"$results_dir/profile.md"
log "done: $results_dir/profile.md, profile.tsv"
