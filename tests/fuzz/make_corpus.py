#!/usr/bin/env python3
"""Writes the seed corpus of the mx_ API fuzzer (tests/fuzz/corpus/) in the input format that
fuzz_alloc.c reads: op byte, slot byte, then the op's operands. Deterministic: rerunning it
rewrites the same files, so the committed corpus can be regenerated after a format change.
Each seed names what it exercises; the fuzzer mutates from there.

    python3 tests/fuzz/make_corpus.py [output-dir]
"""
import os
import random
import sys

# Op numbers, as in fuzz_alloc.c's enum.
(MALLOC, CALLOC, REALLOC, REALLOCARRAY, POSIX_MEMALIGN, ALIGNED_ALLOC, MEMALIGN, VALLOC, FREE,
 FREE2, USABLE, CHECK, INVALID, TRIM) = range(14)
OP_COUNT = 14
KIB = 1024
MIB = 1024 * 1024
EDGE_COUNT = 27  # len(edge_sizes) in fuzz_alloc.c
ELEMENT_COUNT = 14  # len(elements) in draw_element


def le(value, n):
    return bytes((value >> (8 * i)) & 0xFF for i in range(n))


def size(n):
    """The class byte and operand bytes that make draw_size return n."""
    if n <= KIB:
        return bytes([0]) + le(n, 2)
    if n <= 128 * KIB:
        return bytes([140]) + le(n - KIB - 1, 3)
    if n <= 32 * MIB:
        return bytes([210]) + le(n - 128 * KIB - 1, 4)
    assert n <= 64 * MIB
    return bytes([238]) + le(n - 32 * MIB - 1, 4)


def edge(i):
    return bytes([244, i])


def op(code, slot, *operands, high=False):
    """high sets the op byte's top bit: memalign then uses a non-power-of-two alignment, and
    valloc becomes pvalloc."""
    b = code + (OP_COUNT * 10 if high else 0)
    return bytes([b, slot]) + b"".join(operands)


def malloc(slot, n):
    return op(MALLOC, slot, size(n))


def free(slot):
    return op(FREE, slot)


def realloc(slot, n):
    return op(REALLOC, slot, size(n))


def seeds():
    s = {}
    s["malloc-small"] = b"".join(malloc(i, n) for i, n in enumerate([1, 8, 16, 24, 100, 1024]))
    s["malloc-zero"] = malloc(0, 0) + malloc(1, 0) + op(USABLE, 0) + free(0) + free(1)
    s["malloc-medium"] = b"".join(malloc(i, n) for i, n in enumerate([1025, 4096, 65537, 128 * KIB]))
    s["malloc-large"] = malloc(0, 128 * KIB + 1) + malloc(1, 1 * MIB) + malloc(2, 32 * MIB) + \
        op(CHECK, 0) + free(1) + malloc(3, 512 * KIB)
    s["malloc-huge"] = malloc(0, 40 * MIB) + op(USABLE, 0) + free(0) + malloc(1, 64 * MIB)
    s["edges"] = b"".join(op(MALLOC, i, edge(i)) for i in range(EDGE_COUNT) if i < 23)
    s["edges-big"] = b"".join(op(MALLOC, i % 3, edge(i)) for i in range(21, EDGE_COUNT))
    s["free-reuse"] = b"".join(malloc(i, 48) for i in range(32)) + \
        b"".join(free(i) for i in range(0, 32, 2)) + b"".join(malloc(i, 40) for i in range(0, 32, 2))
    s["calloc-reuse"] = malloc(0, 4000) + free(0) + op(CALLOC, 1, bytes([0]), size(4000)) + \
        malloc(2, 300 * KIB) + free(2) + op(CALLOC, 3, bytes([4]), size(300 * KIB))
    s["calloc-elements"] = b"".join(op(CALLOC, i, bytes([i]), size(1000 + 37 * i))
                                    for i in range(ELEMENT_COUNT))
    s["realloc-grow"] = malloc(0, 10) + b"".join(
        realloc(0, n) for n in [20, 100, 1000, 5000, 100 * KIB, 200 * KIB, 4 * MIB, 30 * MIB])
    s["realloc-shrink"] = malloc(0, 30 * MIB) + b"".join(
        realloc(0, n) for n in [20 * MIB, 1 * MIB, 129 * KIB, 64 * KIB, 1000, 16, 1])
    s["realloc-huge"] = malloc(0, 33 * MIB) + realloc(0, 60 * MIB) + realloc(0, 40 * MIB) + \
        realloc(0, 64 * MIB) + realloc(0, 1 * MIB) + realloc(0, 50 * MIB)
    s["realloc-large-in-place"] = malloc(0, 200 * KIB) + realloc(0, 400 * KIB) + \
        realloc(0, 2 * MIB) + realloc(0, 300 * KIB) + malloc(1, 200 * KIB) + realloc(0, 3 * MIB)
    s["realloc-null-zero"] = realloc(0, 100) + realloc(0, 0) + realloc(1, 0) + realloc(1, 5)
    s["reallocarray"] = op(REALLOCARRAY, 0, bytes([3]), size(900)) + \
        op(REALLOCARRAY, 0, bytes([13]), size(70 * KIB)) + op(REALLOCARRAY, 0, bytes([0]), size(0))
    s["posix-memalign-all"] = b"".join(op(POSIX_MEMALIGN, k % 64, bytes([k]), size(100))
                                       for k in range(21))
    s["aligned-alloc-all"] = b"".join(op(ALIGNED_ALLOC, k, bytes([k]), size(3000 + k))
                                      for k in range(21))
    s["memalign-large"] = b"".join(op(MEMALIGN, k, bytes([k]), size(200 * KIB)) for k in range(12, 21))
    s["memalign-odd"] = b"".join(op(MEMALIGN, k, bytes([k]), size(64), high=True) for k in range(2, 21))
    s["aligned-huge"] = op(POSIX_MEMALIGN, 0, bytes([20]), size(33 * MIB)) + \
        op(ALIGNED_ALLOC, 1, bytes([18]), size(1 * MIB)) + realloc(0, 34 * MIB) + realloc(1, 10)
    s["valloc-pvalloc"] = op(VALLOC, 0, bytes([0]), size(1)) + \
        op(VALLOC, 1, bytes([0]), size(5000), high=True) + op(VALLOC, 2, bytes([0]), size(0), high=True)
    # mx_owns on the last byte of a huge block, past the first 64 MiB unit of its mapping.
    s["owns-huge-tail"] = malloc(0, 64 * MIB - 4096) + op(USABLE, 0)
    s["usable"] = b"".join(malloc(i, 1 + 97 * i) + op(USABLE, i) for i in range(10))
    s["trim-live"] = malloc(0, 100) + malloc(1, 70 * KIB) + malloc(2, 2 * MIB) + malloc(3, 50) + \
        free(1) + free(3) + op(TRIM, 0) + malloc(4, 80 * KIB) + op(TRIM, 0)
    for kind in range(9):
        s["invalid-%d" % kind] = malloc(0, 300) + \
            b"".join(op(INVALID, 0, bytes([a, kind, 7, 3])) for a in range(7))
    return s


def random_program(rng, length):
    out = bytearray()
    while len(out) < length:
        r = rng.random()
        slot = rng.randrange(64)
        if r < 0.4:
            n = rng.choice([rng.randrange(0, 1025), rng.randrange(1025, 128 * KIB),
                            rng.randrange(128 * KIB, 4 * MIB)])
            out += malloc(slot, n)
        elif r < 0.6:
            out += free(slot)
        elif r < 0.75:
            out += realloc(slot, rng.choice([rng.randrange(0, 2048), rng.randrange(2048, 300 * KIB)]))
        elif r < 0.85:
            out += op(rng.choice([POSIX_MEMALIGN, ALIGNED_ALLOC, MEMALIGN]), slot,
                      bytes([rng.randrange(21)]), size(rng.randrange(0, 70 * KIB)))
        elif r < 0.92:
            out += op(CALLOC, slot, bytes([rng.randrange(ELEMENT_COUNT)]), size(rng.randrange(0, 5000)))
        else:
            out += op(rng.choice([USABLE, CHECK]), slot)
    return bytes(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    os.makedirs(outdir, exist_ok=True)
    all_seeds = seeds()
    rng = random.Random(0x6D616C6C6F632D78)
    for i in range(8):
        all_seeds["random-%d" % i] = random_program(rng, 200 + 100 * i)
    for name, data in sorted(all_seeds.items()):
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(all_seeds), outdir))


if __name__ == "__main__":
    main()
