// runtime/config.h: validates the build switches that CMake writes into the
// generated ftrt_config.h. Every file that tests a switch includes this one,
// so a missing or contradictory switch is a compile error, not a silent
// mismatch between a library and its consumer.
#ifndef FT_RUNTIME_CONFIG_H
#define FT_RUNTIME_CONFIG_H

#include "ftrt_config.h"

#if !defined(FT_GIL) || (FT_GIL != 0 && FT_GIL != 1)
#  error "FT_GIL must be 0 or 1 (ftrt_config.h)"
#endif
#if !defined(FT_REFCOUNT_ATOMIC) || !defined(FT_OPTIMISTIC_READS)
#  error "ftrt_config.h is incomplete"
#endif
#if FT_GIL && FT_REFCOUNT_ATOMIC
#  error "the GIL build counts plainly; FT_REFCOUNT_ATOMIC needs FT_GIL=0"
#endif
#if !defined(FT_SHARDED_RC) || (FT_SHARDED_RC && !FT_REFCOUNT_BIASED)
#  error "FT_SHARDED_RC must be defined, and is 1 only with biased counting"
#endif
#if FT_GIL && FT_OPTIMISTIC_READS
#  error "FT_OPTIMISTIC_READS is a free-threaded switch"
#endif
#if FT_TSAN && FT_ASAN
#  error "one sanitizer at a time"
#endif
#if !defined(__x86_64__) || !defined(__linux__)
#  error "ftrt v1 supports Linux x86-64 only (DESIGN.md §1)"
#endif

// A constant ft_init() compares with the library's own, so a caller compiled
// with other switches gets RuntimeError instead of misread headers.
#define FT_ABI_KEY                                                             \
    (0x46540000u | (FT_GIL << 0) | (FT_REFCOUNT_ATOMIC << 1) |                 \
     (FT_OPTIMISTIC_READS << 2) | (FT_DEBUG << 3) | (FT_STATS << 4) |       \
     (FT_SHARDED_RC << 5))

#define FT_NOINLINE __attribute__((noinline))
#define FT_LIKELY(x) __builtin_expect(!!(x), 1)
#define FT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define FT_CACHE_LINE 64
#define FT_API __attribute__((visibility("default")))

#endif
