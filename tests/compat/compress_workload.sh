#!/bin/sh
# Multi-threaded compressors for the malloc-x compat tests: generates a deterministic ~50 MB
# file (log-like text with pseudo-random fields), compresses it with `xz -T2 -4` (12 MiB
# blocks, so both threads work; the default preset 6 takes more than twice as long) and with
# `pigz -p 2`, decompresses both (xz multi-threaded too), and prints the checksums of the
# input, of each compressed stream (xz -T2 and pigz write the same bytes for the same input
# and settings, whatever the timing of their threads) and of each round trip.  Run it in an
# empty directory.
#
# xz closes stderr before it exits (tuklib_exit), so malloc-x's MALLOCX_SHOW_STATS report cannot
# appear for it (pigz's does).  For run_compare.sh's proof run the script also prints, on
# stderr, a "malloc-x " line when the dynamic loader lists LD_PRELOAD's library among xz's.
#   compress_workload.sh [MEGABYTES]
set -eu
mb=${1:-50}
export LC_ALL=C

awk -v MB="$mb" 'BEGIN {
    split("GET POST PUT DELETE HEAD PATCH", verb, " ")
    split("/index.html /api/v1/items /api/v1/users /static/app.js /login /search?q= /img/", path, " ")
    x = 20240601
    target = MB * 1048576
    while (bytes < target) {
        x = (x * 48271) % 2147483647
        y = (x * 69069 + 1) % 4294967296  # both products stay below 2^53
        ip = x % 509
        line = sprintf("%010d 10.%d.%d.%d %s %s%x %d %d \"agent-%d\"\n",
            1700000000 + n * 3 + x % 3, ip % 7, ip % 61, ip % 251,
            verb[1 + x % 6], path[1 + int(x / 7) % 7], y % 4096,
            (x % 10 < 8) ? 200 : 404 + x % 3, x % 100000, x % 37)
        printf "%s", line
        bytes += length(line)
        n++
    }
}' >data
echo "input: $(wc -c <data) bytes, $(wc -l <data) lines, sha256 $(sha256sum <data | cut -c1-64)"

xz -T2 -4 -c data >data.xz
echo "xz -T2 -4: $(wc -c <data.xz) bytes, sha256 $(sha256sum <data.xz | cut -c1-64)"
xz -T2 -d -c data.xz >data.xz.out
cmp data data.xz.out
echo "xz round trip: sha256 $(sha256sum <data.xz.out | cut -c1-64)"
xz -l --robot data.xz | awk '$1 == "totals" { print "xz -l: streams", $2, "blocks", $3 }'
rm -f data.xz.out

pigz -p 2 -6 -n -c data >data.gz
echo "pigz -p 2: $(wc -c <data.gz) bytes, sha256 $(sha256sum <data.gz | cut -c1-64)"
pigz -p 2 -d -c data.gz >data.gz.out
cmp data data.gz.out
echo "pigz round trip: sha256 $(sha256sum <data.gz.out | cut -c1-64)"
pigz -p 2 -t data.gz && echo "pigz -t: ok"

if [ -n "${MALLOCX_SHOW_STATS:-}" ] && [ -n "${LD_PRELOAD:-}" ]; then
    LD_TRACE_LOADED_OBJECTS=1 xz | grep -F "$(basename "$LD_PRELOAD")" \
        | sed 's/^[[:space:]]*/malloc-x (proof, not statistics): xz loads /' >&2 || true
fi
