"""Allocation-heavy Python workload for the allocator benchmarks.

Run with PYTHONMALLOC=malloc so that every object allocation goes to the C
allocator instead of CPython's own small-object allocator (pymalloc); then the
interpreter is a large real program whose allocations are dominated by small,
short-lived objects with a long-lived minority.

usage: python3 py_alloc.py [SCALE]
Prints one result line like the C workloads. Deterministic: seeded PRNG.
"""

import random
import sys
import time


class Node:
    # Plain class with a __dict__ on purpose: instance dicts are allocations too.
    def __init__(self, key, payload):
        self.key = key
        self.payload = payload
        self.children = []


def build_tree(rng, count):
    # A tree of objects built and dropped: many small allocations with
    # pointer-chasing lifetimes, the shape of an AST or a DOM.
    root = Node(0, "root")
    nodes = [root]
    for i in range(1, count):
        parent = nodes[rng.randrange(len(nodes))]
        child = Node(i, "n%d" % i)
        parent.children.append(child)
        nodes.append(child)
    return root, nodes


def churn_dict(rng, rounds, width):
    # A cache that keeps replacing entries: dict resizes, string keys,
    # tuples and lists of varying length.
    cache = {}
    for i in range(rounds):
        key = "k%d" % rng.randrange(width)
        cache[key] = (i, [i] * rng.randrange(1, 12), str(i) * rng.randrange(1, 6))
        if len(cache) > width // 2:
            for k in list(cache)[: width // 8]:
                del cache[k]
    return len(cache)


def text_work(rng, lines):
    # String building and splitting: many short strings of random lengths,
    # joined into long ones and taken apart again.
    words = ["".join(chr(97 + rng.randrange(26)) for _ in range(rng.randrange(1, 12)))
             for _ in range(2000)]
    total = 0
    for _ in range(lines):
        line = " ".join(rng.choice(words) for _ in range(rng.randrange(5, 40)))
        parts = line.split()
        total += len(sorted(set(parts)))
    return total


def main():
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    rng = random.Random(12345)
    start = time.perf_counter()
    checksum = 0
    for _ in range(scale):
        for _ in range(2):
            root, nodes = build_tree(rng, 60000)
            checksum += len(nodes) + len(root.children)
            del root, nodes
        checksum += churn_dict(rng, 150000, 20000)
        checksum += text_work(rng, 10000)
    seconds = time.perf_counter() - start
    print("py_alloc scale=%d checksum=%d seconds=%.3f" % (scale, checksum, seconds))


if __name__ == "__main__":
    main()
