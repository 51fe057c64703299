/* Compiler helpers: branch hints, inlining control, symbol visibility. */
#ifndef MX_COMPILER_H
#define MX_COMPILER_H

#define MX_LIKELY(x) __builtin_expect(!!(x), 1)
#define MX_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MX_NOINLINE __attribute__((noinline))
#define MX_INLINE static inline __attribute__((always_inline))
#define MX_COLD __attribute__((cold, noinline))
#define MX_NORETURN __attribute__((noreturn))
#define MX_EXPORT __attribute__((visibility("default")))
#define MX_TLS __thread __attribute__((tls_model("initial-exec")))
#define MX_ALIGNED(n) __attribute__((aligned(n)))

/* ThreadSanitizer builds (gcc defines the first, clang has the second). */
#if defined(__SANITIZE_THREAD__)
#define MX_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MX_TSAN 1
#endif
#endif
#ifndef MX_TSAN
#define MX_TSAN 0
#endif

#endif
