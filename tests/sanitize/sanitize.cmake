# Included by the top-level CMakeLists.txt when MALLOCX_SANITIZE is set, after the library
# targets are defined. A sanitizer build is a separate build directory configured with clang
# (tests/run.sh makes build-asan and build-tsan):
#   CC=clang CXX=clang++ cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMALLOCX_SANITIZE=address
#   CC=clang CXX=clang++ cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DMALLOCX_SANITIZE=thread
# address: AddressSanitizer + UndefinedBehaviorSanitizer; thread: ThreadSanitizer. The flags go
# on mx_core (PUBLIC, so every test linking it gets them too); every report aborts
# (-fno-sanitize-recover), so a test with a report fails. The libraries with the standard names
# are left out of the default build: under a sanitizer, malloc must stay the sanitizer's, and
# the tests reach malloc-x through the mx_ API (tests/support/mx_explicit.h). Which tests are
# built is decided in tests/CMakeLists.txt (tests/sanitize and tests/fuzz only).
if(MALLOCX_SANITIZE STREQUAL "address")
  set(MX_SANITIZE_FLAGS -fsanitize=address,undefined)
elseif(MALLOCX_SANITIZE STREQUAL "thread")
  set(MX_SANITIZE_FLAGS -fsanitize=thread)
else()
  message(FATAL_ERROR "MALLOCX_SANITIZE must be address or thread, not '${MALLOCX_SANITIZE}'")
endif()
# -O1 after the build type's flags: a Debug build keeps MX_DEBUG's internal assertions and runs
# at a usable speed under the sanitizer.
list(APPEND MX_SANITIZE_FLAGS -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1)
target_compile_options(mx_core PUBLIC ${MX_SANITIZE_FLAGS})
target_link_options(mx_core PUBLIC ${MX_SANITIZE_FLAGS})
set_target_properties(malloc-x malloc-x-static mx_override PROPERTIES EXCLUDE_FROM_ALL ON)
