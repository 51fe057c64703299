#!/bin/sh
# Self-test of cpython_regrtest.py, independent of malloc-x and of CPython's test suite: a fake
# "python" prints regrtest-like summaries and JUnit XML, and behaves differently when
# LD_PRELOAD is set (to glibc's own libc.so.6, harmless) as FAKE_MODE asks.  Identical results
# must pass; each kind of difference must fail with its message.
#   cpython_selftest.sh PYTHON3 path/to/cpython_regrtest.py
set -eu
python=$1
wrapper=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mx-cpython-selftest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
libc=
for f in /lib/x86_64-linux-gnu/libc.so.6 /usr/lib/x86_64-linux-gnu/libc.so.6 /lib/*/libc.so.6; do
    if [ -r "$f" ]; then libc=$f; break; fi
done
[ -n "$libc" ] || { echo "selftest: cannot find libc.so.6" >&2; exit 1; }

fake=$tmp/python
cat >"$fake" <<'FAKE'
#!/bin/sh
# -c PROBE names...: the module probe; -m test --junit-xml FILE names...: a fake regrtest run.
[ "$1" = -c ] && exit 0
xml=$4
pre=${LD_PRELOAD:+yes}
[ -z "${MALLOCX_SHOW_STATS:-}" ] || echo "malloc-x 0.0.0: fake stats" >&2
mode=${FAKE_MODE:-same}
[ "$pre" = yes ] || mode=same
case $mode in
    crash) echo "[1/2] test_a"; exit 139 ;;
    stderr) echo "Fatal Python error: fake" >&2 ;;
esac
b=ok; status=0
[ "$mode" = module ] && { b=failed; status=2; }
c='<testcase name="t.B.test_y" />'
[ "$mode" = case ] && c='<testcase name="t.B.test_y"><skipped>fake</skipped></testcase>'
echo "<testsuites><testsuite><testcase name=\"t.A.test_x\" />$c</testsuite></testsuites>" >"$xml"
echo "0:00:00 load avg: 0.$$ [1/2] test_a"
echo
if [ "$b" = ok ]; then
    echo "== Tests result: SUCCESS =="; echo; echo "All 2 tests OK."; echo
    echo "Total duration: 0.$$ sec"; echo "Tests result: SUCCESS"
else
    echo "== Tests result: FAILURE =="; echo; echo "1 test OK."; echo
    echo "1 test failed:"; echo "    test_b"; echo
    echo "Total duration: 0.$$ sec"; echo "Tests result: FAILURE"
fi
exit $status
FAKE
chmod +x "$fake"

failures=0
expect() { # expect pass|fail MESSAGE MODE
    want=$1 msg=$2
    if FAKE_MODE=$3 "$python" "$wrapper" "$libc" selftest "$fake" test_a test_b \
        >"$tmp/out" 2>"$tmp/err"; then got=pass; else got=fail; fi
    if [ "$got" != "$want" ]; then
        echo "selftest: FAIL: expected $want, got $got for mode $3" >&2
        sed 's/^/    /' "$tmp/out" "$tmp/err" >&2
        failures=$((failures + 1))
    elif [ -n "$msg" ] && ! grep -qF -- "$msg" "$tmp/err"; then
        echo "selftest: FAIL: '$msg' missing from the wrapper's stderr for mode $3" >&2
        sed 's/^/    /' "$tmp/err" >&2
        failures=$((failures + 1))
    else
        echo "selftest: ok ($want): mode $3"
    fi
}
expect pass "" same
expect fail "summary 'failed' differs" module
expect fail "exit status differs" module
expect fail "1 test case(s) with a different outcome" case
expect fail "wrote to stderr what the plain run did not" stderr
expect fail "no regrtest summary" crash

if [ "$failures" -ne 0 ]; then
    echo "selftest: $failures failure(s)" >&2
    exit 1
fi
echo "selftest: all checks passed"
