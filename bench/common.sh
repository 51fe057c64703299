# Shared by the benchmark scripts (run.sh, profile.sh), which source it after setting
# bench_dir and defining log(). It installs what is missing, builds malloc-x and the workloads,
# picks the allocators to compare and records their versions.

root_dir=$(dirname "$bench_dir")
build_dir=$bench_dir/build
bin_dir=$build_dir/bin
results_dir=$bench_dir/results
libdir=/usr/lib/x86_64-linux-gnu

# Installs the Debian packages given that are not installed yet; a machine that has them all
# never touches the network.
bench_install_missing() {
    local pkg missing=() sudo_cmd=()
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    log "installing missing packages: ${missing[*]}"
    [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" \
        >/dev/null
}

# Builds malloc-x in Release into bench/build/malloc-x, unless MALLOCX_LIB names a build to
# use, and compiles the workloads into bench/build/bin. Sets mx_lib.
bench_build() {
    local src
    mkdir -p "$bin_dir" "$results_dir"
    if [ -n "${MALLOCX_LIB:-}" ]; then
        mx_lib=$MALLOCX_LIB
    else
        log "building malloc-x (Release)"
        cmake -S "$root_dir" -B "$build_dir/malloc-x" -DCMAKE_BUILD_TYPE=Release \
            -DMALLOCX_BUILD_TESTS=OFF >"$build_dir/cmake.log" 2>&1 ||
            { cat "$build_dir/cmake.log" >&2; exit 1; }
        cmake --build "$build_dir/malloc-x" -j2 >>"$build_dir/cmake.log" 2>&1 ||
            { tail -40 "$build_dir/cmake.log" >&2; exit 1; }
        mx_lib=$build_dir/malloc-x/libmalloc-x.so
    fi
    [ -f "$mx_lib" ] || { echo "$mx_lib not found" >&2; exit 1; }

    log "compiling workloads"
    for src in fastpath larson prodcons churn cache_scratch sizes phases latency; do
        cc -O2 -pthread -Wall -Wextra -o "$bin_dir/$src" "$bench_dir/$src.c"
    done
    cc -O2 -Wall -Wextra -o "$bin_dir/runwrap" "$bench_dir/runwrap.c"
}

# Sets names and libs, the allocators found on this machine (glibc's lib is "-": no preload).
# Order matters only for the tables: malloc-x first, as the reference.
bench_select_allocators() {
    local i
    local all_names=(malloc-x glibc mimalloc jemalloc tcmalloc)
    local all_libs=("$mx_lib" - "$libdir/libmimalloc.so.2" "$libdir/libjemalloc.so.2"
        "$libdir/libtcmalloc_minimal.so.4")
    names=()
    libs=()
    for i in "${!all_names[@]}"; do
        if [ "${all_libs[$i]}" = - ] || [ -f "${all_libs[$i]}" ]; then
            names+=("${all_names[$i]}")
            libs+=("${all_libs[$i]}")
        else
            log "skipping ${all_names[$i]}: ${all_libs[$i]} not found"
        fi
    done
}

# Keeps the entries of configs (LABEL|THREADS|COMMAND) whose label matches the extended regular
# expression given; all of them if it is empty.
bench_keep_configs() {
    local c kept=()
    [ -n "$1" ] || return 0
    for c in "${configs[@]}"; do
        if printf '%s\n' "${c%%|*}" | grep -Eq -- "$1"; then
            kept+=("$c")
        fi
    done
    configs=("${kept[@]}")
}

# Writes one "name<TAB>version" line per allocator to FILE.
bench_write_versions() {
    local mx_version mx_rev changed
    mx_version=$(sed -n 's/^project(malloc-x VERSION \([0-9.]*\).*/\1/p' "$root_dir/CMakeLists.txt")
    mx_rev=$(git -C "$root_dir" rev-parse --short HEAD 2>/dev/null || echo unknown)
    changed=$(git -C "$root_dir" status --porcelain -- src include CMakeLists.txt 2>/dev/null)
    if [ -n "$changed" ]; then
        mx_rev="$mx_rev + uncommitted changes in src/"
    fi
    {
        echo "malloc-x	$mx_version (git $mx_rev)"
        echo "glibc	$(dpkg-query -W -f='${Version}' libc6)"
        echo "mimalloc	$(dpkg-query -W -f='${Version}' libmimalloc2.0 2>/dev/null || echo missing)"
        echo "jemalloc	$(dpkg-query -W -f='${Version}' libjemalloc2 2>/dev/null || echo missing)"
        echo "tcmalloc	$(dpkg-query -W -f='${Version}' libtcmalloc-minimal4 2>/dev/null ||
            echo missing)"
    } >"$1"
}
