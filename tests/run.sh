#!/usr/bin/env bash
# Installs what the tests need (Debian 12), builds malloc-x in Release and in Debug (internal
# assertions on), and runs every test: all of them against the Release build, and the unit,
# API, abort and stress tests again against the Debug build.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake gcc g++ make libc6-dev libcmocka-dev python3 sqlite3 git)
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
    -L 'unit|api|abort|stress' \
    || status=1
exit $status
