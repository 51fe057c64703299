#!/usr/bin/env python3
"""Allocation-heavy, deterministic Python workload for the malloc-x preload tests.

Run with PYTHONMALLOC=malloc so that every Python object goes through malloc/free.  Everything
printed is independent of hash seeds, thread scheduling and addresses: sets and dicts are
sorted before they are printed or hashed, threads combine their results with order-free
operations, and only sha256 digests and counts are printed.  The last section forks (a
multiprocessing pool and a bare os.fork) while other threads are allocating.

Usage: workload.py [SCALE]   (SCALE defaults to 1; 2 doubles the work)
"""
import gc
import hashlib
import json
import queue
import random
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def n(x):
    return max(1, int(x * SCALE))


def digest(obj):
    """sha256 of a canonical JSON encoding (sets become sorted lists)."""
    def canon(o):
        if isinstance(o, (set, frozenset)):
            return sorted(canon(x) for x in o)
        if isinstance(o, dict):
            return {str(k): canon(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [canon(x) for x in o]
        return o
    data = json.dumps(canon(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


def report(section, **fields):
    print(section + ": " + " ".join(f"{k}={v}" for k, v in fields.items()), flush=True)


def words(rng, count, lo=3, hi=12):
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(lo, hi)))
            for _ in range(count)]


# --- 1. millions of small objects: dicts, lists, tuples, strings, sets -------------------------
def small_objects():
    rng = random.Random(1)
    count = n(300_000)
    records = []
    for i in range(count):
        records.append({"id": i, "name": "item-%d" % (i * 7919 % 1000003),
                        "tags": [i % 7, i % 11, i % 13], "pair": (i, -i)})
    index = {r["name"]: r for r in records}
    groups = {}
    for r in records:
        groups.setdefault(r["id"] % 1000, []).append(r["id"])
    uniq = {r["name"][:7] for r in records}
    strings = [("%08x" % (i * 2654435761 % (1 << 32))) * (1 + i % 5) for i in range(count)]
    total_len = sum(len(s) for s in strings)
    # Free half of everything in an interleaved pattern, then rebuild.
    del strings[::2]
    for k in list(index)[::3]:
        del index[k]
    rebuilt = [s.upper() + s[::-1] for s in strings[: n(200_000)]]
    floats = [rng.random() * 1e6 for _ in range(n(300_000))]
    report("objects", records=len(records), index=len(index), groups=len(groups),
           uniq=len(uniq), total_len=total_len, rebuilt=digest(rebuilt[:5000]),
           floatsum=f"{sum(sorted(floats)):.6f}",
           groups_digest=digest({k: sum(v) for k, v in groups.items()}),
           index_digest=digest(sorted(index)[:20000]))
    del records, index, groups, uniq, strings, rebuilt, floats


# --- 2. json dumps / loads round trips ----------------------------------------------------------
def json_roundtrips():
    rng = random.Random(2)
    doc = {"users": [{"id": i, "name": w, "score": rng.randint(0, 10**9),
                      "ratio": round(rng.random(), 6), "friends": list(range(i % 17)),
                      "meta": {"active": i % 3 == 0, "note": w * (i % 4)}}
                     for i, w in enumerate(words(rng, n(20_000)))]}
    text = json.dumps(doc, sort_keys=True)
    first = hashlib.sha256(text.encode()).hexdigest()
    for _ in range(n(4)):
        doc = json.loads(text)
        doc["users"].append({"id": len(doc["users"]), "name": "x", "score": 0, "ratio": 0.5,
                             "friends": [], "meta": {"active": False, "note": ""}})
        text = json.dumps(doc, sort_keys=True, indent=1)
    report("json", first=first, last=hashlib.sha256(text.encode()).hexdigest(),
           users=len(doc["users"]), chars=len(text))


# --- 3. regular expressions ---------------------------------------------------------------------
def regexes():
    rng = random.Random(3)
    lines = []
    for i in range(n(80_000)):
        w = words(rng, 4)
        lines.append(f"{i:07d} {w[0]}@{w[1]}.example.org GET /{w[2]}/{i % 97}?q={w[3]} "
                     f"status={200 + (i % 5) * 100} bytes={rng.randint(0, 99999)}")
    text = "\n".join(lines)
    email = re.compile(r"(\w+)@(\w+)\.example\.org")
    req = re.compile(r"GET (/\w+/(\d+))\?q=(\w+) status=(\d+) bytes=(\d+)")
    domains = {}
    for m in email.finditer(text):
        domains[m.group(2)[:2]] = domains.get(m.group(2)[:2], 0) + 1
    status = {}
    byte_sum = 0
    for m in req.finditer(text):
        status[m.group(4)] = status.get(m.group(4), 0) + 1
        byte_sum += int(m.group(5))
    swapped = re.sub(r"(\w+)@(\w+)", r"\2#\1", text)
    split = re.split(r"[ /?=]+", text[: 2_000_000])
    report("regex", domains=digest(domains), status=digest(status), bytes=byte_sum,
           swapped=hashlib.sha256(swapped.encode()).hexdigest(), split=len(split))


# --- 4. sorting ---------------------------------------------------------------------------------
def sorting():
    rng = random.Random(4)
    ints = [rng.randint(-10**12, 10**12) for _ in range(n(300_000))]
    strs = words(rng, n(200_000), 1, 20)
    tuples = [(s[:2], len(s), s) for s in strs]
    a = sorted(ints)
    b = sorted(strs, key=lambda s: (s[::-1], len(s)))
    c = sorted(tuples, reverse=True)
    ints.sort(key=abs)
    report("sort", ints=digest(a[::97]), strs=digest(b[::53]), tuples=digest(c[::41]),
           byabs=digest(ints[::89]), median=a[len(a) // 2])


# --- 5. threads: ThreadPoolExecutor, threading.Thread and queue.Queue ---------------------------
def pool_task(seed):
    rng = random.Random(seed)
    d = {}
    for i in range(n(60_000)):
        key = "k%d" % rng.randint(0, 20_000)
        d.setdefault(key, []).append(i)
    s = {x for v in d.values() for x in v[:2]}
    text = json.dumps(sorted(d.items()))
    del d
    return seed, len(s), hashlib.sha256(text.encode()).hexdigest()


def threads():
    with ThreadPoolExecutor(max_workers=6) as ex:
        results = sorted(ex.map(pool_task, range(12)))
    pool_digest = digest(results)

    # Producers build objects and hand them to consumers, which free them: every object is
    # allocated in one thread and released in another.
    nprod, ncons, items = 4, 4, n(20_000)
    work = queue.Queue(maxsize=1000)
    done = queue.Queue()
    lock = threading.Lock()
    totals = {"count": 0, "sum": 0, "xor": 0}

    def producer(pid):
        rng = random.Random(100 + pid)
        for i in range(items):
            payload = {"pid": pid, "i": i, "data": [rng.randint(0, 255) for _ in range(8)],
                       "text": "p%d-%d" % (pid, i) * (1 + i % 3)}
            work.put(payload)

    def consumer():
        count = acc = x = 0
        while True:
            item = work.get()
            if item is None:
                break
            count += 1
            acc += sum(item["data"]) + len(item["text"])
            x ^= hash_int(item["pid"], item["i"], item["data"])
            del item
        with lock:
            totals["count"] += count
            totals["sum"] += acc
            totals["xor"] ^= x
        done.put(count)

    def hash_int(pid, i, data):
        h = hashlib.sha256(("%d:%d:%s" % (pid, i, data)).encode()).digest()
        return int.from_bytes(h[:8], "little")

    prods = [threading.Thread(target=producer, args=(p,)) for p in range(nprod)]
    cons = [threading.Thread(target=consumer) for _ in range(ncons)]
    for t in prods + cons:
        t.start()
    for t in prods:
        t.join()
    for _ in cons:
        work.put(None)
    for t in cons:
        t.join()
    consumed = sum(done.get() for _ in cons)

    # Threads that each build and tear down their own structures, repeatedly.
    out = [None] * 8

    def churn(tid):
        acc = 0
        for round_ in range(n(8)):
            lst = [[j] * (j % 9) for j in range(4000 + tid * 100 + round_)]
            st = {str(j) for j in range(5000)}
            dd = {j: str(j) * 3 for j in range(3000)}
            acc += sum(len(x) for x in lst) + len(st) + sum(len(v) for v in dd.values())
            del lst, st, dd
        out[tid] = acc

    churners = [threading.Thread(target=churn, args=(t,)) for t in range(8)]
    for t in churners:
        t.start()
    for t in churners:
        t.join()
    report("threads", pool=pool_digest, produced=nprod * items, consumed=consumed,
           count=totals["count"], sum=totals["sum"], xor="%016x" % totals["xor"],
           churn=digest(out))


# --- 6. fork while other threads allocate: multiprocessing (fork) pool and a bare os.fork() -----
def fork_task(i):
    d = {str(j): [j] * (j % 7) for j in range(n(8_000) + i)}
    return hashlib.sha256(json.dumps(sorted(d.items())).encode()).hexdigest()


def forks():
    import multiprocessing
    import os
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            d = {i: str(i) * 5 for i in range(5000)}
            lst = [list(range(i % 50)) for i in range(2000)]
            del d, lst

    churners = [threading.Thread(target=churn) for _ in range(3)]
    for t in churners:
        t.start()
    results = []
    try:
        for _ in range(2):
            with multiprocessing.get_context("fork").Pool(4) as pool:
                results.append(digest(pool.map(fork_task, range(16))))
            pid = os.fork()
            if pid == 0:
                blocks = [bytearray(1000) for _ in range(10000)]
                os._exit(len(blocks) % 256)
            _, status = os.waitpid(pid, 0)
            results.append(os.waitstatus_to_exitcode(status))
    finally:
        stop.set()
        for t in churners:
            t.join()
    report("fork", pools=digest(results[0::2]), children=results[1::2])


def main():
    sections = [small_objects, json_roundtrips, regexes, sorting, threads, forks]
    for section in sections:
        section()
        gc.collect()
    print("done", flush=True)


if __name__ == "__main__":
    main()
