#!/usr/bin/env python3
"""Turn the runner's raw measurements into the markdown results.

usage:
  report.py table --raw raw.tsv --versions FILE --mode quick|full --runs N
                  --elapsed S --names "malloc-x glibc ..." [--fastpath FILE]
                  --medians OUT.tsv                       > latest.md
  report.py fastpath --counts FILE --counter DESC --names "..." --libs "..."
                                                          > fastpath.md
  report.py profile --raw profile.tsv --versions FILE --names "..." --elapsed S
                    --valgrind VERSION                    > profile.md

Only the standard library: the results must be reproducible on a bare
Debian with python3 and nothing else.
"""

import argparse
import datetime
import math
import os
import platform
import re
import statistics
import sys

REFERENCE = "malloc-x"
# Untimed runs (run.sh) by their `run` column, and the prefix of the figures taken from each:
# phases counting the pages its surviving blocks overlap, larson counting its live bytes.
UNTIMED_PREFIX = {"floor": "kept_", "live": "live_"}


def read_raw(path):
    rows = []
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            fields = line.rstrip("\n").split("\t")
            fields += [""] * (len(header) - len(fields))
            rows.append(dict(zip(header, fields)))
    return rows


def config_key(row):
    return (row["label"], row["threads"])


def config_name(key):
    label, threads = key
    return label if threads == "-" else "%s, %s thr" % (label, threads)


def parse_result(text):
    """key=value pairs of a workload's result line, numbers as floats."""
    out = {}
    for m in re.finditer(r"(\w+)=([-0-9.]+)(?=\s|$)", text):
        try:
            out[m.group(1)] = float(m.group(2))
        except ValueError:
            pass
    return out


def machine_lines():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            mem = ", %.0f GiB RAM" % (kib / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        pass
    return "%d cores, %s%s; kernel %s" % (os.cpu_count() or 0, cpu, mem, platform.release())


def write_header(w, title, how_line, versions_path):
    """The title, then date, machine, how the figures were taken and the versions."""
    w("# %s" % title)
    w("")
    w("- Date: %s" % datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    w("- Machine: %s" % machine_lines())
    w(how_line)
    w("- Versions:")
    with open(versions_path) as f:
        for line in f:
            name, _, version = line.rstrip("\n").partition("\t")
            w("  - %s: %s" % (name, version))
    w("")


def geomean(values):
    values = [v for v in values if v > 0]
    if not values:
        return float("nan")
    return math.exp(sum(math.log(v) for v in values) / len(values))


def fmt_ratio(r):
    if r != r:  # NaN
        return "n/a"
    return "%.2f" % r


def table_command(args):
    rows = read_raw(args.raw)
    names = args.names.split()
    peers = [n for n in names if n != REFERENCE]

    # Keep configurations in the order the runner ran them.
    keys = []
    for r in rows:
        k = config_key(r)
        if k not in keys:
            keys.append(k)

    samples = {}   # (key, alloc) -> list of (wall, rss_mib)
    results = {}   # (key, alloc) -> list of parsed result dicts
    failures = []
    for r in rows:
        k = (config_key(r), r["allocator"])
        if r["status"] != "0":
            failures.append(r)
            continue
        if r["run"] in UNTIMED_PREFIX:
            # An untimed run (run.sh): only the counts it was run for are used.
            prefix = UNTIMED_PREFIX[r["run"]]
            kept = [t for t in r["result"].split() if t.startswith(prefix)]
            results.setdefault(k, []).append(" ".join(kept))
            continue
        samples.setdefault(k, []).append((float(r["wall_s"]), float(r["maxrss_kb"]) / 1024.0))
        results.setdefault(k, []).append(r["result"])

    med = {}
    for k, vals in samples.items():
        walls = [v[0] for v in vals]
        rsss = [v[1] for v in vals]
        spread = (max(walls) - min(walls)) / statistics.median(walls) if len(walls) > 1 else 0.0
        med[k] = (statistics.median(walls), statistics.median(rsss), spread, len(vals))

    def ratio(key, alloc, idx):
        a = med.get((key, alloc))
        ref = med.get((key, REFERENCE))
        if a is None or ref is None or ref[idx] <= 0:
            return float("nan")
        return a[idx] / ref[idx]

    out = []
    w = out.append
    write_header(w, "malloc-x benchmark results (%s mode)" % args.mode,
                 "- Runs: %s per (workload, allocator), allocators interleaved in an order that "
                 "turns by one at every run; the runner took %s s" % (args.runs, args.elapsed),
                 args.versions)
    w("**How to read this.** Each cell is the median of the runs of one process, measured from")
    w("outside: wall time (fork to exit) and peak RSS (the kernel's high-water mark from")
    w("`wait4`). The number in parentheses is the **ratio peer / malloc-x** of those medians:")
    w("**above 1.00 the peer is slower (or uses more memory) than malloc-x; below 1.00 the peer")
    w("is better**. In the time table the malloc-x cell also shows ± half the run-to-run range")
    w("of its time, (max - min) / 2 / median: a ratio closer to 1.00 than that is noise.")
    w("")

    def emit_table(title, idx, unit, fmt):
        w("## %s" % title)
        w("")
        head = "| workload | %s |" % REFERENCE + "".join(" %s |" % p for p in peers)
        w(head)
        w("|---|---:|" + "---:|" * len(peers))
        for key in keys:
            ref = med.get((key, REFERENCE))
            if ref is None:
                cell = "FAIL"
            elif idx == 0:
                cell = (fmt % ref[0]) + unit + " ±%.0f%%" % (100 * ref[2] / 2)
            else:
                cell = (fmt % ref[idx]) + unit
            line = "| %s | %s |" % (config_name(key), cell)
            for p in peers:
                m = med.get((key, p))
                if m is None:
                    line += " FAIL |"
                else:
                    line += " %s%s (%s) |" % (fmt % m[idx], unit, fmt_ratio(ratio(key, p, idx)))
            w(line)
        gm = [geomean([ratio(k, p, idx) for k in keys if ratio(k, p, idx) == ratio(k, p, idx)])
              for p in peers]
        w("| **geometric mean of ratios** | 1.00 |" + "".join(" **%s** |" % fmt_ratio(g) for g in gm))
        w("")
        return gm

    gm_time = emit_table("Wall time (median seconds; ratio peer / malloc-x)", 0, " s", "%.3f")
    gm_rss = emit_table("Peak RSS (median MiB; ratio peer / malloc-x)", 1, "", "%.1f")

    w("## Summary: geometric means of the ratios peer / malloc-x")
    w("")
    w("| allocator | time | peak RSS |")
    w("|---|---:|---:|")
    w("| %s | 1.00 | 1.00 |" % REFERENCE)
    for p, gt, gr in zip(peers, gm_time, gm_rss):
        w("| %s | %s | %s |" % (p, fmt_ratio(gt), fmt_ratio(gr)))
    w("")
    w("Above 1.00: malloc-x is faster / leaner than that peer over the whole suite.")
    w("")

    # Workload-specific figures (medians of what the workload printed).
    def metric_table(title, match, fields, note):
        chosen = [k for k in keys if match(k)]
        if not chosen:
            return
        w("## %s" % title)
        w("")
        w(note)
        w("")
        w("| workload | allocator | " + " | ".join(f[1] for f in fields) + " |")
        w("|---|---|" + "---:|" * len(fields))
        for key in chosen:
            for alloc in names:
                res = [parse_result(t) for t in results.get((key, alloc), [])]
                if not res:
                    w("| %s | %s | " % (config_name(key), alloc) + " | ".join("FAIL" for _ in fields) + " |")
                    continue
                cells = []
                for field in fields:
                    # A field of several keys shows their medians in one cell, " / " between.
                    cell_keys = field[0] if isinstance(field[0], tuple) else (field[0],)
                    fmt = field[2] if len(field) > 2 else "%.0f"
                    parts = []
                    for cell_key in cell_keys:
                        vals = [r[cell_key] for r in res if cell_key in r]
                        parts.append(fmt % statistics.median(vals) if vals else "-")
                    cells.append(" / ".join(parts))
                w("| %s | %s | %s |" % (config_name(key), alloc, " | ".join(cells)))
        w("")

    metric_table(
        "Latency percentiles (ns, median over runs)",
        lambda k: k[0].startswith("latency"),
        [("malloc_p50_ns", "malloc p50"), ("malloc_p99_ns", "p99"), ("malloc_p999_ns", "p99.9"),
         ("malloc_max_ns", "max"), ("free_p50_ns", "free p50"), ("free_p99_ns", "p99"),
         ("free_p999_ns", "p99.9"), ("free_max_ns", "max")],
        "Per call, rdtscp before and after, all threads' calls pooled. The timer itself costs "
        "about 20 ns (included). With more threads than cores, max values include preemption.")
    metric_table(
        "Latency by kind of call (p99 / p99.9 in ns, median over runs)",
        lambda k: k[0].startswith("latency"),
        [(("malloc_%s_p99_ns" % kind, "malloc_%s_p999_ns" % kind), label)
         for kind, label in (("small", "malloc small"), ("medium", "medium"), ("large", "large"))]
        + [(("free_%s_p99_ns" % kind, "free_%s_p999_ns" % kind), label)
           for kind, label in (("small", "free small"), ("medium", "medium"), ("large", "large"),
                               ("remote", "remote"))],
        "The calls of the table above by kind: small blocks are 16 to 256 B (90% of the calls), "
        "medium 1 to 16 KiB (9.8%), large 64 KiB to 1 MiB (0.2%); `remote` are the frees of "
        "blocks another thread allocated (1 in 8 with 2 threads or more), whatever their size.")
    metric_table(
        "Memory phases (MiB, median over runs)",
        lambda k: k[0].startswith("phases"),
        [("live_mib", "live"), ("rss_full_mib", "RSS after alloc"),
         ("kept_mib", "live after freeing"), ("kept_pages_mib", "OS pages holding it"),
         ("rss_after_free_mib", "after freeing 90%"), ("rss_idle_mib", "same, +200 ms idle"),
         ("rss_phase3_mib", "after new size mix"), ("peak_mib", "peak (VmHWM)")],
        "RSS from /proc/self/statm at each phase; lower is better in every column but the "
        "three of live data. `live` is the live bytes at the end; `live after freeing` those "
        "phase 2 left (usable sizes), and `OS pages holding it` the OS pages those blocks "
        "overlap where this allocator placed them: RSS after freeing cannot go below that "
        "without moving blocks.")

    metric_table(
        "Larson: live data and RSS (MiB; medians of three untimed runs per allocator)",
        lambda k: k[0].startswith("larson"),
        [("live_peak_mib", "peak live", "%.1f"), ("live_base_rss_mib", "RSS before", "%.1f"),
         ("live_peak_rss_mib", "peak RSS", "%.1f"), ("live_added_pct", "added RSS / live, %")],
        "A run that counts the bytes the program holds (its slots and the blocks waiting in "
        "mailboxes) and samples them and the RSS every millisecond. The blocks in mailboxes "
        "depend on how the threads were scheduled, so peak live data differs between "
        "allocators, and the peak RSS of the tables above with it; `added RSS / live` is what "
        "the workload added to the RSS over its peak live bytes, the allocator's own cost. "
        "Where live data is a few MiB, thread stacks and the sampling itself weigh in.")

    # Output of the real programs must not depend on the allocator.
    mismatches = []
    for key in keys:
        if key[0] not in ("sqlite3", "python3"):
            continue
        seen = {}
        for alloc in names:
            for t in results.get((key, alloc), []):
                norm = re.sub(r"seconds=\S+", "", t).strip()
                seen.setdefault(norm, set()).add(alloc)
        if len(seen) > 1:
            mismatches.append("%s: outputs differ between allocators: %s"
                              % (config_name(key), "; ".join("%s -> %s" % (sorted(v), o)
                                                            for o, v in seen.items())))

    w("## Failures and checks")
    w("")
    if not failures and not mismatches:
        w("None: every run exited 0 and printed its result line; sqlite3 and python3 printed the")
        w("same output under every allocator.")
    for r in failures:
        w("- FAIL: %s under %s, run %s: status %s (details in bench/results/failures/)"
          % (config_name(config_key(r)), r["allocator"], r["run"], r["status"]))
    for m in mismatches:
        w("- MISMATCH: %s" % m)
    w("")

    if args.fastpath and os.path.exists(args.fastpath):
        w("## Fast path: instructions per warm malloc + free")
        w("")
        with open(args.fastpath) as f:
            body = f.read().split("\n", 2)
        w(body[2].strip() if len(body) > 2 else "")
        w("")

    print("\n".join(out))

    with open(args.medians, "w") as f:
        f.write("label\tthreads\tallocator\ttime_s\trss_mib\ttime_ratio\trss_ratio\n")
        for key in keys:
            for alloc in names:
                m = med.get((key, alloc))
                if m is None:
                    continue
                f.write("%s\t%s\t%s\t%.4f\t%.2f\t%.4f\t%.4f\n"
                        % (key[0], key[1], alloc, m[0], m[1], ratio(key, alloc, 0),
                           ratio(key, alloc, 1)))


def fastpath_command(args):
    names = args.names.split()
    libs = args.libs.split()
    label_of = {}
    for n, l in zip(names, libs):
        label_of[l] = n
    label_of["-"] = "glibc"
    label_of["system"] = "glibc"
    label_of["glibc"] = "glibc"
    counts = {}  # (alloc, size) -> (malloc, free, total) or total only
    sizes = []
    with open(args.counts) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            alloc = label_of.get(parts[0], os.path.basename(parts[0]))
            size = parts[1]
            if size not in sizes:
                sizes.append(size)
            counts[(alloc, size)] = parts[2:]
    out = []
    w = out.append
    w("# Fast path: instructions per warm malloc(N) + free")
    w("")
    w("Counted with %s: a probe makes 1000 warm malloc/free pairs, then one more pair is" % args.counter)
    w("single-stepped in gdb. The figures include a few instructions of the probe and the PLT")
    w("stubs, the same for every allocator. Lower is better. Cells are `total` or")
    w("`total (malloc + free)` when the counter reports the two calls separately, and then")
    w("`; mean` is the mean per pair over that pair and the next ones (`--pairs`, loop overhead")
    w("of a few instructions included). One pair can land on the periodic refill of an")
    w("allocator's free list (a slow-path entry every few calls, by design in malloc-x and")
    w("mimalloc), so the mean is the fairer figure when the two disagree.")
    w("")
    w("| size |" + "".join(" %s |" % n for n in names))
    w("|---:|" + "---:|" * len(names))
    for size in sizes:
        line = "| %s |" % size
        for n in names:
            c = counts.get((n, size))
            if c is None:
                line += " ? |"
            elif len(c) >= 4:
                line += " %s (%s + %s); %s |" % (c[2], c[0], c[1], c[3])
            elif len(c) >= 3:
                line += " %s (%s + %s) |" % (c[2], c[0], c[1])
            else:
                line += " %s |" % c[0]
        w(line)
    print("\n".join(out))

# The columns of profile.tsv that become tables, with their titles.
# Instructions in millions, misses in thousands. A geometric mean only for the instructions:
# a workload with few misses makes them at start-up, in the loader as much as the allocator,
# and its ratio would weigh as much as that of one that misses on every call.
PROFILE_METRICS = [
    ("instructions", "Instructions executed", 1e6, "millions"),
    ("d1_read_misses", "L1 data read misses", 1e3, "thousands"),
    ("d1_write_misses", "L1 data write misses", 1e3, "thousands"),
    ("ll_read_misses", "L2 read misses (data)", 1e3, "thousands"),
    ("ll_write_misses", "L2 write misses (data)", 1e3, "thousands"),
]


def profile_command(args):
    rows = read_raw(args.raw)
    names = args.names.split()
    keys = []
    counts = {}
    failed = []
    for r in rows:
        k = config_key(r)
        if k not in keys:
            keys.append(k)
        if r["status"] != "0":
            failed.append("%s, %s (status %s)" % (config_name(k), r["allocator"], r["status"]))
            continue
        counts[(k, r["allocator"])] = {m[0]: float(r[m[0]]) for m in PROFILE_METRICS}

    out = []
    w = out.append
    write_header(w, "malloc-x profiles: instructions and simulated cache misses",
                 "- Counted by: %s, callgrind with its cache simulation: L1 data and instruction "
                 "caches of 32 KiB, 8-way, and a 1 MiB 8-way L2 as the last level, the caches of "
                 "one core here; one run each (the counts repeat); bench/profile.sh took %s s"
                 % (args.valgrind, args.elapsed), args.versions)
    w("**How to read this.** Each cell counts one whole process: the workload's own")
    w("work, the same under every allocator, and the allocator's. The number in parentheses is")
    w("the **ratio peer / malloc-x**: above 1.00 the peer made more. A read that misses stops")
    w("the program until the line arrives; a write that misses waits in the store buffer while")
    w("the program goes on, so read misses are the ones that cost time. The workloads are the")
    w("runner's with smaller counts (bench/profile.sh). What the simulation leaves out:")
    w("")
    w("- prefetches: a line fetched ahead of its use counts as a miss at the use (malloc-x's")
    w("  `malloc` prefetches the next block of the free list, whose link the next `malloc`")
    w("  reads);")
    w("- parallelism: callgrind runs one thread at a time through one simulated cache, so")
    w("  threads neither contend nor move lines between cores;")
    w("- time: a program runs 50 to 100 times slower, so what an allocator does on a timer")
    w("  (purging freed memory after a delay) happens more often per call than in a real run.")
    w("")
    for metric, title, unit, unit_name in PROFILE_METRICS:
        w("## %s (%s; ratio peer / malloc-x)" % (title, unit_name))
        w("")
        w("| workload | " + " | ".join(names) + " |")
        w("|---|" + "---:|" * len(names))
        ratios = {n: [] for n in names}
        for k in keys:
            ref = counts.get((k, REFERENCE))
            line = "| %s |" % config_name(k)
            for n in names:
                c = counts.get((k, n))
                if c is None:
                    line += " failed |"
                    continue
                v = c[metric] / unit
                line += " %.0f" % v if v >= 100 else " %.1f" % v
                if n != REFERENCE and ref is not None and ref[metric] > 0:
                    r = c[metric] / ref[metric]
                    ratios[n].append(r)
                    line += " (%s)" % fmt_ratio(r)
                line += " |"
            w(line)
        if metric == "instructions":
            w("| **geometric mean of ratios** |" + "".join(
                " 1.00 |" if n == REFERENCE else " **%s** |" % fmt_ratio(geomean(ratios[n]))
                for n in names))
        w("")
    if failed:
        w("## Failures")
        w("")
        for f in failed:
            w("- %s" % f)
        w("")
    print("\n".join(out).rstrip("\n"))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table")
    t.add_argument("--raw", required=True)
    t.add_argument("--versions", required=True)
    t.add_argument("--mode", default="full")
    t.add_argument("--runs", default="?")
    t.add_argument("--elapsed", default="?")
    t.add_argument("--names", required=True)
    t.add_argument("--fastpath", default="")
    t.add_argument("--medians", required=True)
    fp = sub.add_parser("fastpath")
    fp.add_argument("--counts", required=True)
    fp.add_argument("--counter", required=True)
    fp.add_argument("--names", required=True)
    fp.add_argument("--libs", required=True)
    pr = sub.add_parser("profile")
    pr.add_argument("--raw", required=True)
    pr.add_argument("--versions", required=True)
    pr.add_argument("--names", required=True)
    pr.add_argument("--elapsed", default="?")
    pr.add_argument("--valgrind", default="valgrind")
    args = ap.parse_args()
    if args.cmd == "table":
        table_command(args)
    elif args.cmd == "fastpath":
        fastpath_command(args)
    else:
        profile_command(args)


if __name__ == "__main__":
    sys.exit(main())
