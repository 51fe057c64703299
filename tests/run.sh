#!/usr/bin/env bash
# Installs what the tests need (Debian 12), builds malloc-x in Release and in Debug (internal
# assertions on), and runs every test: all of them against the Release build, and the unit,
# API, options, abort and stress tests again against the Debug build.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake gcc g++ make libc6-dev libcmocka-dev python3 sqlite3 git
          perl xz-utils pigz coreutils bash libpython3.11-testsuite
          clang libclang-rt-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
cmake -S . -B build-debug -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-debug -j"$jobs"

status=0
ctest --test-dir build --output-on-failure --no-tests=error -j2 || status=1
MX_STRESS_SCALE=0.25 ctest --test-dir build-debug --output-on-failure --no-tests=error -j2 \
    -L 'unit|api|options|memory|stats|abort|stress|robust' \
    || status=1

# The MALLOCX_SECURE build (guard pages, random free-list order): its own tests and the API,
# abort, stress and out-of-memory tests again (with guard pages, pages fit the runs left at the
# limit differently: a block of the largest medium classes needs one slice more).
cmake -S . -B build-secure -DCMAKE_BUILD_TYPE=Release -DMALLOCX_SECURE=ON >/dev/null
cmake --build build-secure -j"$jobs"
ctest --test-dir build-secure --output-on-failure --no-tests=error -j2 \
    -L 'secure|unit|api|abort|stress|robust' || status=1

# Sanitizer and fuzzing builds (tests/sanitize, tests/fuzz), with clang in their own build
# directories. ASan+UBSan: the unit and stress tests through the mx_ API and the fuzz seeds,
# then 60 s of fuzzing; TSan: the stress test. About 2.5 minutes on 2 cores, builds included.
for s in asan:address tsan:thread; do
    CC=clang CXX=clang++ cmake -S . -B "build-${s%%:*}" -DCMAKE_BUILD_TYPE=Debug \
        -DMALLOCX_SANITIZE="${s#*:}" >/dev/null
    cmake --build "build-${s%%:*}" -j"$jobs"
done
ctest --test-dir build-asan --output-on-failure --no-tests=error -LE '^fuzz$' || status=1
ctest --test-dir build-tsan --output-on-failure --no-tests=error || status=1
ctest --test-dir build-asan --output-on-failure --no-tests=error -L '^fuzz$' || status=1
exit $status
