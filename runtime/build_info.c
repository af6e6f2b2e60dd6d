// runtime/build_info.c: the one-line description of this build, embedded in
// benchmark JSON so every figure names the mechanism that produced it.
#include "runtime/runtime_internal.h"

#if FT_GIL_BUILD
#  define BUILD_NAME "gil"
#  define REFCOUNT_NAME "plain"
#elif FT_REFCOUNT_ATOMIC
#  define BUILD_NAME "ft"
#  define REFCOUNT_NAME "atomic"
#else
#  define BUILD_NAME "ft"
#  define REFCOUNT_NAME "biased"
#endif
#if FT_TSAN
#  define SANITIZE_NAME "thread"
#elif FT_ASAN
#  define SANITIZE_NAME "address"
#else
#  define SANITIZE_NAME "none"
#endif
#if FT_ALLOC_MIMALLOC
#  define ALLOC_NAME "mimalloc-2.0"
#else
#  define ALLOC_NAME "libc"
#endif

#if FT_OPTIMISTIC_READS
#  define READS_NAME "on"
#else
#  define READS_NAME "off"
#endif
#if FT_SHARDED_RC
#  define SHARDED_NAME "on"
#else
#  define SHARDED_NAME "off"
#endif
#if FT_STATS
#  define STATS_NAME "on"
#else
#  define STATS_NAME "off"
#endif

#define INFO                                                                   \
    "ftrt " FT_VERSION_STRING " build=" BUILD_NAME " refcount=" REFCOUNT_NAME  \
    " optimistic_reads=" READS_NAME " sharded_rc=" SHARDED_NAME               \
    " stats=" STATS_NAME                                                       \
    " sanitize=" SANITIZE_NAME " alloc=" ALLOC_NAME " cc=" FT_COMPILER_STRING  \
    " type=" FT_BUILD_TYPE_STRING

const char *
ft_build_info(void)
{
    // The FT build may run with a global lock (FT_ENABLE_GIL=1): say so.
    if (!FT_GIL_BUILD && ft_gil_is_enabled()) {
        return INFO " runtime_gil=on";
    }
    return INFO;
}
