#!/usr/bin/python3
"""Runs CPython's own regression tests plainly and under LD_PRELOAD=LIB, and compares results.

    cpython_regrtest.py LIB NAME PYTHON [-jN] test_a test_b ...

Both runs are `PYTHON -m test --junit-xml FILE [-jN] test_a ...` with PYTHONMALLOC=malloc (so
every Python object is a malloc block), each in a fresh directory that is also its TMPDIR.  Raw
stdout cannot be compared (it holds timings and load averages), so the check is on results:

  - the same exit status;
  - the same per-module summary: which modules passed, failed, were skipped, altered the
    environment or ran no tests ("N tests OK.", "N tests failed:" ... lines of regrtest);
  - the same outcome (ok / skipped / failure / error) for every test case in the JUnit XML;
  - no stderr line in the preloaded run that the plain run did not print (CPython's tests check
    that child interpreters write nothing to stderr, so a noisy allocator would also fail them);
  - a third, short run (the first module only) with MALLOCX_SHOW_STATS=1 prints a stderr line
    beginning with "malloc-x ": proof that the interpreter really ran on LIB.  It is kept short
    because the statistics on stderr make some tests fail by design.

Some tests may fail or be skipped without the preload on a given machine: that is allowed, as
long as the preloaded run gets exactly the same results.  A run without a regrtest summary
(a crash or a hang of the runner itself) fails.  LIB "none" runs plainly twice (checks that the
comparison is stable) and skips the proof run.  Each run is killed after CPYTHON_COMPAT_TIMEOUT
seconds (default 300).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

SUMMARY_GROUPS = (
    ("failed", re.compile(r"^\d+ tests? failed:$")),
    ("env_changed", re.compile(r"^\d+ tests? altered the execution environment:$")),
    ("skipped", re.compile(r"^\d+ tests? skipped:$")),
    ("rerun", re.compile(r"^\d+ re-run tests?:$")),
    ("no_tests", re.compile(r"^\d+ tests? run no tests:$")),
    ("omitted", re.compile(r"^\d+ tests? omitted:$")),
)
OK_LINE = re.compile(r"^(?:All )?(\d+) tests? OK\.$")


def fail(name, failures, msg):
    print(f"{name}: FAIL: {msg}", file=sys.stderr)
    failures.append(msg)


def parse_summary(stdout_text):
    """Returns {"ok_count": n, "result": str, group: sorted module names} or None."""
    lines = stdout_text.splitlines()
    try:
        start = max(i for i, line in enumerate(lines) if line.startswith("== Tests result:"))
    except ValueError:
        return None
    summary = {"ok_count": 0, "result": lines[start].strip("= \n")}
    group = None
    for line in lines[start + 1:]:
        m = OK_LINE.match(line)
        if m:
            summary["ok_count"] = int(m.group(1))
            group = None
            continue
        for key, pattern in SUMMARY_GROUPS:
            if pattern.match(line):
                group = key
                summary[key] = []
                break
        else:
            if group and line.startswith("    ") and line.strip():
                summary[group].extend(line.split())
            elif not line.startswith("    "):
                group = None
        if line.startswith("Tests result:"):
            summary["result"] = line.strip()
    for key, _ in SUMMARY_GROUPS:
        summary[key] = sorted(summary.get(key, []))
    return summary


def parse_junit(path):
    """Returns {test case name: outcome}: ok, skipped, failure, error, expected-failure..."""
    cases = {}
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    for case in root.iter("testcase"):
        outcome = "ok"
        for child in case:
            if child.tag in ("skipped", "failure", "error"):
                outcome = child.tag
            elif child.tag == "output":  # addExpectedFailure
                outcome = "expected-failure"
            elif child.tag == "outcome":  # addUnexpectedSuccess
                outcome = (child.text or "?").lower()
        name = case.get("name", "?")
        # A name can repeat (subtests); keep the worst outcome.
        prev = cases.get(name)
        if prev is None or prev == "ok":
            cases[name] = outcome
    return cases


def run(root, tag, python, lib, show_stats, args, timeout):
    d = os.path.join(root, tag)
    os.makedirs(os.path.join(d, "tmp"))
    env = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and not k.startswith("MALLOCX_")}
    env.update(PYTHONMALLOC="malloc", TMPDIR=os.path.join(d, "tmp"))
    env.pop("PYTHONPATH", None)
    if lib != "none":
        env["LD_PRELOAD"] = lib
    if show_stats:
        env["MALLOCX_SHOW_STATS"] = "1"
    cmd = [python, "-m", "test", "--junit-xml", os.path.join(d, "junit.xml")] + args
    with open(os.path.join(d, "out"), "wb") as out, open(os.path.join(d, "err"), "wb") as err:
        try:
            status = subprocess.run(cmd, cwd=os.path.join(d, "tmp"), env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, timeout=timeout,
                                    start_new_session=True).returncode
        except subprocess.TimeoutExpired:
            status = "timeout"
    if isinstance(status, int) and status < 0:
        status = 128 - status
    with open(os.path.join(d, "out"), errors="replace") as f:
        out_text = f.read()
    with open(os.path.join(d, "err"), errors="replace") as f:
        err_lines = f.read().splitlines()
    return status, out_text, err_lines, os.path.join(d, "junit.xml")


def describe(summary, cases):
    counts = {}
    for outcome in (cases or {}).values():
        counts[outcome] = counts.get(outcome, 0) + 1
    case_text = ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "none"
    return (f"{summary['result']}; modules: {summary['ok_count']} OK, "
            f"{len(summary['failed'])} failed {summary['failed']}, "
            f"{len(summary['skipped'])} skipped {summary['skipped']}, "
            f"{len(summary['env_changed'])} env-changed {summary['env_changed']}, "
            f"{len(summary['no_tests'])} ran no tests; "
            f"test cases: {len(cases or {})} ({case_text})")


def tail(lines, n=40):
    return "\n".join("    " + line for line in lines[-n:])


def main():
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    lib, name, python = sys.argv[1:4]
    args = sys.argv[4:]
    tests = [a for a in args if not a.startswith("-")]
    timeout = float(os.environ.get("CPYTHON_COMPAT_TIMEOUT", "300"))
    failures = []

    if lib != "none":
        lib = os.path.abspath(lib)
        if not os.access(lib, os.R_OK):
            fail(name, failures, f"preload library {lib} does not exist or is unreadable")
            return 1
    if not shutil.which(python):
        fail(name, failures, f"{python} not found (install python3)")
        return 1
    probe = subprocess.run(
        [python, "-c", "import importlib.util, sys\n"
         "missing = [t for t in sys.argv[1:] if importlib.util.find_spec('test.' + t) is None]\n"
         "print(' '.join(missing)); sys.exit(1 if missing else 0)"] + tests,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
    if probe.returncode != 0:
        fail(name, failures, f"CPython test modules missing ({probe.stdout.strip()}): install the "
             "Debian package libpython3.11-testsuite (apt-get install -y libpython3.11-testsuite)")
        return 1

    root = tempfile.mkdtemp(prefix=f"mx-compat-{name}.")
    try:
        results = {}
        for tag, run_lib in (("plain", "none"), ("preload", lib)):
            status, out_text, err_lines, junit = run(root, tag, python, run_lib, False, args,
                                                     timeout)
            summary = parse_summary(out_text)
            cases = parse_junit(junit)
            results[tag] = (status, summary, cases, err_lines, out_text)
            label = "plain" if tag == "plain" else f"preloaded ({lib})"
            if summary is None:
                fail(name, failures, f"{label} run: status {status}, no regrtest summary "
                     f"(crashed or hung?); last stdout lines:\n"
                     f"{tail(out_text.splitlines())}\n  stderr:\n{tail(err_lines)}")
            else:
                print(f"{name}: {label} run: status {status}; {describe(summary, cases)}")
            if cases is None:
                fail(name, failures, f"{label} run wrote no readable JUnit XML")
        if failures:
            return 1

        p_status, p_sum, p_cases, p_err, p_out = results["plain"]
        m_status, m_sum, m_cases, m_err, m_out = results["preload"]
        if p_status != m_status:
            fail(name, failures, f"exit status differs: plain {p_status}, preloaded {m_status}")
        for key in ["result", "ok_count"] + [k for k, _ in SUMMARY_GROUPS]:
            if p_sum[key] != m_sum[key]:
                fail(name, failures, f"summary '{key}' differs: plain {p_sum[key]}, "
                     f"preloaded {m_sum[key]}")
        diff = sorted(set(p_cases) | set(m_cases))
        diff = [(c, p_cases.get(c, "absent"), m_cases.get(c, "absent")) for c in diff
                if p_cases.get(c) != m_cases.get(c)]
        if diff:
            fail(name, failures, f"{len(diff)} test case(s) with a different outcome "
                 "(case: plain -> preloaded):\n" +
                 "\n".join(f"    {c}: {a} -> {b}" for c, a, b in diff[:40]))
        if p_status != 0 or p_sum["failed"]:
            print(f"{name}: note: without the preload, modules failed: {p_sum['failed']} "
                  f"(allowed: the preloaded run must fail the same way)")
        plain_err = set(p_err)
        extra = [line for line in m_err if line not in plain_err]
        if extra:
            fail(name, failures, "the preloaded run wrote to stderr what the plain run did not:\n"
                 + tail(extra))
        if failures:
            # The failing modules' output, for the report.
            for line in m_out.splitlines():
                if re.match(r"^(FAIL|ERROR): ", line):
                    print(f"{name}: preloaded: {line}", file=sys.stderr)

        if lib == "none":
            print(f"{name}: LIB=none: proof run skipped")
        else:
            status, _, err_lines, _ = run(root, "proof", python, lib, True, tests[:1],
                                          min(timeout, 60))
            stats = [line for line in err_lines if line.startswith("malloc-x ")]
            if stats:
                print(f"{name}: proof run ({tests[0]}, status {status}): {len(stats)} "
                      f"'malloc-x ' stats line(s), first: {stats[0]}")
            else:
                fail(name, failures, "with MALLOCX_SHOW_STATS=1 the preloaded run printed no "
                     f"stderr line beginning with 'malloc-x ' (status {status}):\n"
                     + tail(err_lines))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    if failures:
        print(f"{name}: {len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print(f"{name}: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
