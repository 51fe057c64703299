#!/bin/sh
# run_compare.sh LIB NAME -- command [args...]
#
# Runs a real program twice, once plainly and once with LD_PRELOAD=LIB, each in a fresh empty
# working directory (the same path, recreated, so outputs that mention the directory agree),
# and fails unless
#   - both runs exit with the same status (a signal counts as 128+N),
#   - both runs print the same stdout,
#   - the preloaded run wrote no stderr line that the plain run did not write,
#   - a third run, preloaded with MALLOCX_SHOW_STATS=1, printed on stderr a line beginning with
#     "malloc-x " (proof that the program really ran on malloc-x).
#   - the plain run exits with status 0 (unless RUN_COMPARE_ALLOW_FAILURE=1).
# Every check is made and every failure is reported before the script exits non-zero.
#
# LIB may be "none" to run the command plainly both times (checks the workload is deterministic;
# the proof run is then skipped).  Standard input of every run is /dev/null.  Each run is
# killed after RUN_COMPARE_TIMEOUT seconds (default 90; status 124 then means it hung).
set -eu

usage() {
    echo "usage: $0 LIB NAME -- command [args...]" >&2
    exit 2
}

[ $# -ge 4 ] || usage
lib=$1
name=$2
[ "$3" = "--" ] || usage
shift 3

if [ "$lib" != none ]; then
    case $lib in
        /*) ;;
        *) if dir=$(cd "$(dirname "$lib")" 2>/dev/null && pwd); then
               lib=$dir/$(basename "$lib")
           fi ;;
    esac
    if [ ! -r "$lib" ]; then
        echo "$name: FAIL: preload library $lib does not exist or is unreadable" >&2
        exit 1
    fi
fi
if ! command -v "$1" >/dev/null 2>&1; then
    echo "$name: FAIL: program '$1' not found (install it)" >&2
    exit 1
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/mx-preload-$name.XXXXXX")
cleanup() { rm -rf "$root"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
work=$root/work
run_timeout=${RUN_COMPARE_TIMEOUT:-90}

# run_one TAG PRELOAD SHOW_STATS command...: runs the command in a fresh $work, leaves
# $root/TAG.out, $root/TAG.err, $root/TAG.status and $root/TAG.secs.
run_one() {
    tag=$1 preload=$2 show=$3
    shift 3
    rm -rf "$work"
    mkdir "$work"
    t0=$(date +%s.%N)
    if [ "$preload" = none ]; then
        set -- env -u LD_PRELOAD -u MALLOCX_SHOW_STATS "$@"
    elif [ "$show" = 1 ]; then
        set -- env LD_PRELOAD="$preload" MALLOCX_SHOW_STATS=1 "$@"
    else
        set -- env -u MALLOCX_SHOW_STATS LD_PRELOAD="$preload" "$@"
    fi
    if (cd "$work" && exec timeout -k 10 "$run_timeout" "$@") \
        >"$root/$tag.out" 2>"$root/$tag.err" </dev/null; then
        st=0
    else
        st=$?
    fi
    t1=$(date +%s.%N)
    echo "$st" >"$root/$tag.status"
    if [ "$st" = 124 ] || [ "$st" = 137 ]; then
        echo "$name: $tag run killed after ${run_timeout}s (hung or far too slow): $*" >&2
    fi
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }' >"$root/$tag.secs"
    rm -rf "$work"
}

show_file() { # show_file TITLE FILE: at most 40 lines of FILE
    echo "---- $1 ($(wc -l <"$2") lines; first 40) ----" >&2
    head -n 40 "$2" >&2
}

failures=0
fail() {
    echo "$name: FAIL: $*" >&2
    failures=$((failures + 1))
}

run_one plain none 0 "$@"
run_one preload "$lib" 0 "$@"

plain_st=$(cat "$root/plain.status")
preload_st=$(cat "$root/preload.status")
echo "$name: plain run: status $plain_st, $(cat "$root/plain.secs") s," \
     "$(wc -l <"$root/plain.out") stdout lines"
echo "$name: preloaded run ($lib): status $preload_st, $(cat "$root/preload.secs") s," \
     "$(wc -l <"$root/preload.out") stdout lines"

if [ "$plain_st" != "$preload_st" ]; then
    fail "exit status differs: plain $plain_st, preloaded $preload_st"
    show_file "plain stderr" "$root/plain.err"
    show_file "preloaded stderr" "$root/preload.err"
fi

if ! cmp -s "$root/plain.out" "$root/preload.out"; then
    fail "stdout differs (plain vs preloaded); first differences:"
    diff -u --label plain --label preloaded "$root/plain.out" "$root/preload.out" \
        | head -n 60 >&2 || true
fi

# stderr lines of the preloaded run that the plain run did not print.  (grep -f with an empty
# pattern file matches nothing, so -v then keeps every line.)
if grep -Fxv -f "$root/plain.err" "$root/preload.err" >"$root/extra.err"; then
    fail "the preloaded run wrote to stderr what the plain run did not:"
    show_file "extra stderr lines" "$root/extra.err"
fi

# A workload that fails without the preload is broken (or its environment is), and equal
# failures would otherwise pass.  RUN_COMPARE_ALLOW_FAILURE=1 accepts them.
if [ "$plain_st" != 0 ]; then
    if [ "${RUN_COMPARE_ALLOW_FAILURE:-0}" = 1 ]; then
        echo "$name: note: the plain run exited with status $plain_st (allowed)" >&2
    else
        fail "the plain run itself (no preload) exited with status $plain_st:" \
             "the workload or its environment is broken"
        show_file "plain stderr" "$root/plain.err"
    fi
fi

if [ "$lib" = none ]; then
    echo "$name: LIB=none: proof run skipped"
else
    run_one proof "$lib" 1 "$@"
    if grep -q '^malloc-x ' "$root/proof.err"; then
        echo "$name: proof run ($(cat "$root/proof.secs") s): $(grep -c '^malloc-x ' "$root/proof.err")" \
             "'malloc-x ' stats line(s), first: $(grep -m1 '^malloc-x ' "$root/proof.err")"
    else
        fail "with MALLOCX_SHOW_STATS=1 the preloaded run printed no stderr line beginning" \
             "with 'malloc-x ': the program did not run on $lib (status $(cat "$root/proof.status"))"
        show_file "proof-run stderr" "$root/proof.err"
    fi
fi

if [ "$failures" -ne 0 ]; then
    echo "$name: $failures check(s) failed" >&2
    exit 1
fi
echo "$name: PASS"
