#!/bin/sh
# The commands under test are single-quoted on purpose: they expand in the child shells.
# shellcheck disable=SC2016
# Self-test of run_compare.sh, independent of malloc-x: identical runs must pass, and every
# kind of difference (stdout, exit status, new stderr, missing proof line, missing program)
# must fail with its message.  As the preload library it uses glibc's own libc.so.6 (harmless).
#   selftest.sh path/to/run_compare.sh
set -eu
driver=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mx-preload-selftest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

libc=
for f in /lib/x86_64-linux-gnu/libc.so.6 /usr/lib/x86_64-linux-gnu/libc.so.6 /lib/*/libc.so.6 \
         /usr/lib/*/libc.so.6 /lib64/libc.so.6; do
    if [ -r "$f" ]; then libc=$f; break; fi
done
[ -n "$libc" ] || { echo "selftest: cannot find libc.so.6" >&2; exit 1; }

failures=0
# expect pass|fail MESSAGE_SUBSTRING LIB -- command...
expect() {
    want=$1 msg=$2 lib=$3
    shift 4
    if sh "$driver" "$lib" selftest -- "$@" >"$tmp/out" 2>"$tmp/err"; then got=pass; else got=fail; fi
    if [ "$got" != "$want" ]; then
        echo "selftest: FAIL: expected $want, got $got for: $*" >&2
        sed 's/^/    /' "$tmp/out" "$tmp/err" >&2
        failures=$((failures + 1))
    elif [ -n "$msg" ] && ! grep -qF -- "$msg" "$tmp/err"; then
        echo "selftest: FAIL: '$msg' missing from the driver's stderr for: $*" >&2
        sed 's/^/    /' "$tmp/err" >&2
        failures=$((failures + 1))
    else
        echo "selftest: ok ($want): $*"
    fi
}

# A counter outside the working directories lets a command behave differently on each run.
counter=$tmp/counter
bump='n=$(cat "$C" 2>/dev/null || echo 0); n=$((n + 1)); echo $n >"$C"'
fake_stats='[ -z "${MALLOCX_SHOW_STATS:-}" ] || echo "malloc-x 0.0.0: fake stats" >&2'

export C="$counter"
rm -f "$counter"; expect fail "the plain run itself" none -- sh -c 'echo same; exit 3'
RUN_COMPARE_ALLOW_FAILURE=1 expect pass "" none -- sh -c 'echo same; echo also-same >&2; exit 3'
rm -f "$counter"; expect pass "" none -- sh -c 'ls -A; touch left-behind; pwd >/dev/null'
rm -f "$counter"; expect fail "stdout differs" none -- sh -c "$bump; echo run \$n"
rm -f "$counter"; expect fail "exit status differs" none -- sh -c "$bump; exit \$n"
rm -f "$counter"; expect fail "wrote to stderr what the plain run did not" none -- \
    sh -c "$bump; echo out; [ \$n = 1 ] || echo extra >&2"
rm -f "$counter"; expect fail "not found" none -- mx-no-such-program-anywhere
# LD_PRELOAD must be set in the preloaded run only, and MALLOCX_SHOW_STATS in the proof run only.
expect fail "stdout differs" "$libc" -- sh -c 'echo "${LD_PRELOAD:-unset}"'
MALLOCX_SHOW_STATS=1 expect pass "" "$libc" -- \
    sh -c "echo \${MALLOCX_SHOW_STATS:-unset}; $fake_stats"
expect fail "printed no stderr line beginning" "$libc" -- sh -c 'echo hi'
expect pass "" "$libc" -- sh -c "echo hi; $fake_stats"
expect fail "does not exist" "$tmp/no-such-lib.so" -- sh -c 'echo hi'
expect fail "does not exist" no-such-dir/no-such-lib.so -- sh -c 'echo hi'
# A run that hangs is killed and reported.
RUN_COMPARE_TIMEOUT=1 expect fail "killed after 1s" none -- sh -c 'sleep 30'

if [ "$failures" -ne 0 ]; then
    echo "selftest: $failures failure(s)" >&2
    exit 1
fi
echo "selftest: all checks passed"
