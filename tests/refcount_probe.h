// tests/refcount_probe.h: helpers shared by the refcount tests (include
// after harness.h). A probe type whose deallocations are counted per object,
// attached waits that do not serve merge requests, and the BRC accounting
// check of DESIGN.md §4.2 (queued == merged_owner + behalf + orphan + in_pause).
#ifndef FT_TESTS_REFCOUNT_PROBE_H
#define FT_TESTS_REFCOUNT_PROBE_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

// 1 where objects can be promoted to sharded counts (refcount/shard.c).
#if FT_SHARDED_RC
#    define SHARDED 1
#else
#    define SHARDED 0
#endif

// Contention-driven promotion needs two threads running at once: true on
// machines with at least two online CPUs.
static inline bool
probe_parallel_cpus(void)
{
    return sysconf(_SC_NPROCESSORS_ONLN) >= 2;
}

typedef struct probe_object {
    ft_object ob_base;
    _Atomic(int) *freed;   // immutable after creation: bumped once by tp_dealloc
    int keep_memory;       // immutable after creation: leave the block allocated
} probe_object;

static _Atomic(int) probe_freed_total;   // atomic: deallocators (relaxed) / main

static void
probe_dealloc(ft_object *obj)
{
    probe_object *probe = (probe_object *)obj;
    if (probe->freed != NULL) {
        // pairs: acquire loads in the checks (through the join or a flag)
        ft_atomic_add_release_int(probe->freed, 1);
    }
    // pairs: as above
    ft_atomic_add_release_int(&probe_freed_total, 1);
    if (!probe->keep_memory) {
        ft_object_free(obj);
    }
}

static const ft_type probe_type = {
    .ob_base = FT_OBJECT_HEAD_INIT(&ft_type_type),
    .tp_name = "refcount_probe",
    .tp_basicsize = sizeof(probe_object),
    .tp_dealloc = probe_dealloc,
};

static inline ft_object *
probe_new(_Atomic(int) *freed)
{
    ft_object *obj = ft_object_new(&probe_type);
    if (obj != NULL) {
        ((probe_object *)obj)->freed = freed;
    }
    return obj;
}

static inline int
probe_freed(_Atomic(int) *freed)
{
    // pairs: release add in probe_dealloc()
    return ft_atomic_load_acquire_int(freed);
}

static inline int64_t
probe_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void
flag_set(_Atomic(int) *flag)
{
    // pairs: acquire load in flag_wait_attached() / flag_wait_detached()
    ft_atomic_store_release_int(flag, 1);
}

static inline bool
flag_is_set(_Atomic(int) *flag)
{
    // pairs: release store in flag_set()
    return ft_atomic_load_acquire_int(flag) != 0;
}

// Waits attached without serving FT_EB_BRC, so an object queued to us stays
// queued until the test merges it; serves pauses and GIL drop requests (the
// others would wait for us forever). False after ~20 s: a hang, not a timing.
static inline bool
flag_wait_attached(_Atomic(int) *flag)
{
    int64_t limit = probe_now_ns() + 20 * (int64_t)1000000000;
    while (!flag_is_set(flag)) {
        // relaxed: a hint; ft_safepoint() re-reads it
        uint32_t bits = ft_atomic_load_relaxed_u32(&ft_tls.eval_breaker);
        if (bits & (FT_EB_WORLD | FT_EB_GIL_DROP)) {
            ft_safepoint();
        }
        if (probe_now_ns() > limit) {
            return false;
        }
        sched_yield();
    }
    return true;
}

// Waits detached (the caller is attached on entry and on return).
static inline bool
flag_wait_detached(_Atomic(int) *flag)
{
    bool ok = true;
    int64_t limit = probe_now_ns() + 20 * (int64_t)1000000000;
    FT_BEGIN_ALLOW_THREADS
    while (!flag_is_set(flag)) {
        if (probe_now_ns() > limit) {
            ok = false;
            break;
        }
        sched_yield();
    }
    FT_END_ALLOW_THREADS
    return ok;
}

static inline int64_t
brc_queued_minus_merged(void)
{
    return (int64_t)ft_stats_get("brc_queued") - (int64_t)ft_stats_get("brc_merged_owner") -
           (int64_t)ft_stats_get("brc_merged_behalf") -
           (int64_t)ft_stats_get("brc_merged_orphan") -
           (int64_t)ft_stats_get("brc_merged_in_pause");
}

static inline void
print_brc_stats(const char *label)
{
    printf("  %s: queued=%llu merged owner=%llu behalf=%llu orphan=%llu in_pause=%llu\n", label,
           (unsigned long long)ft_stats_get("brc_queued"),
           (unsigned long long)ft_stats_get("brc_merged_owner"),
           (unsigned long long)ft_stats_get("brc_merged_behalf"),
           (unsigned long long)ft_stats_get("brc_merged_orphan"),
           (unsigned long long)ft_stats_get("brc_merged_in_pause"));
}

// At quiescence (every other thread joined): drain, then check that every
// queued entry was merged exactly once (gh-115184).
#define EXPECT_BRC_ACCOUNTING()                                                \
    do {                                                                       \
        ft_gc_collect();                                                       \
        FT_EXPECT_EQ(brc_queued_minus_merged(), 0,                             \
                     "queued != merged_owner + behalf + orphan + in_pause");   \
    } while (0)

#endif
