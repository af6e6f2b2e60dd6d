// runtime/runtime.h: thread states, safepoints, errors, memory, statistics.
// Public part of the runtime subsystem (prefixes ft_thread_, ft_err_, ft_mem_,
// ft_stats_). Included by include/ftrt.h; compiles alone.
#ifndef FT_RUNTIME_RUNTIME_H
#define FT_RUNTIME_RUNTIME_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/atomic.h"
#include "runtime/config.h"

typedef struct ft_thread ft_thread;

// ------------------------------------------------------------ lifecycle
// ft_init() registers and attaches the calling thread ("main"). Returns 0,
// or -1 with the error set (already initialized, switch mismatch, no memory).
FT_API int ft_init_checked(uint32_t abi_key);
#define ft_init() ft_init_checked(FT_ABI_KEY)
// ft_fini() runs a final collection and tears down. Requires every thread
// started with ft_thread_start() to have been joined; otherwise it sets
// RuntimeError and does nothing.
FT_API void ft_fini(void);
// Runs fn(arg) on a new thread, attached. Returns the handle, or NULL with
// MemoryError / RuntimeError set (no thread is left behind).
FT_API ft_thread *ft_thread_start(void (*fn)(void *), void *arg);
// Waits (detached) for the thread to finish and frees its handle. 0 or -1.
FT_API int ft_thread_join(ft_thread *thread);
// Registers a thread the runtime did not start (0 or -1) and unregisters it.
FT_API int ft_thread_register(void);
FT_API void ft_thread_unregister(void);

FT_API void ft_attach(void);
FT_API void ft_detach(void);
#define FT_BEGIN_ALLOW_THREADS                                                 \
    {                                                                          \
        ft_detach();
#define FT_END_ALLOW_THREADS                                                   \
    ft_attach();                                                               \
    }

// GIL build: the switch interval in microseconds (default 5000). Also applies
// to the FT build running with FT_ENABLE_GIL=1.
FT_API void ft_set_switch_interval(uint64_t usec);
FT_API uint64_t ft_get_switch_interval(void);
// Whether a global lock serializes attached threads (GIL build, or FT build
// started with FT_ENABLE_GIL=1).
FT_API int ft_gil_is_enabled(void);
// e.g. "ftrt 0.1.0 build=ft refcount=biased optimistic_reads=on ..."
FT_API const char *ft_build_info(void);

// ------------------------------------------------------------ errors
typedef enum ft_err_kind {
    FT_ERR_NONE = 0,
    FT_ERR_TYPE,
    FT_ERR_INDEX,
    FT_ERR_KEY,
    FT_ERR_MEMORY,
    FT_ERR_VALUE,
    FT_ERR_RUNTIME,
} ft_err_kind;
FT_API int ft_err_occurred(void);   // the kind, or 0
FT_API const char *ft_err_message(void);
FT_API const char *ft_err_kind_name(int kind);   // "TypeError", ...
FT_API void ft_err_clear(void);
FT_API void ft_err_set(int kind, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
FT_API void ft_err_no_memory(void);   // MemoryError "out of memory"

// ------------------------------------------------------------ memory
FT_API void *ft_mem_alloc(size_t size);   // NULL on failure, no error set
FT_API void *ft_mem_calloc(size_t count, size_t size);
FT_API void *ft_mem_realloc(void *p, size_t size);
FT_API void ft_mem_free(void *p);
FT_API size_t ft_mem_usable_size(const void *p);
// Fault injection (debug builds; a no-op returning -1 otherwise): fail the
// k-th allocation from now (k >= 1), or stop failing (k == 0). The
// environment FT_FAIL_ALLOC=<k> | every:<k> | random:<p>:<seed> is read at
// ft_init and printed. Returns 0, or -1 when fault injection is compiled out.
FT_API int ft_mem_fail_after(int64_t k);
// Allocations failed by injection so far (debug builds).
FT_API uint64_t ft_mem_failures_injected(void);
// Distinct allocation sites (callers of ft_mem_*) that injection has failed
// since the process started (debug builds; 0 otherwise).
FT_API int ft_mem_fault_sites_hit(void);

// ------------------------------------------------------------ statistics
FT_API int64_t ft_live_objects(void);
FT_API void ft_stats_json(FILE *out);
// One counter by name (as in ft_stats_json), summed over live and exited
// threads; 0 for an unknown name.
FT_API uint64_t ft_stats_get(const char *name);

// Hot per-thread counters (DESIGN.md §4.12). Each thread bumps its own with a
// relaxed load and store (a plain add on x86-64); ft_stats_json() reads them
// with relaxed loads, so no lock and no race. objects_allocated/freed are not
// statistics but ft_live_objects(): they are counted in every build
// (FT_COUNT_INC). The lock fast paths are not counted (no `mutex_fast`,
// `cs_begin` per call): callgrind put the statistics at 2.7-5.5% of the
// instructions of container workloads, over the 1% budget, and the slow
// paths (mutex_slow, parks, handoffs, cs_suspensions) carry the story.
#define FT_HOT_STATS(X)                                                        \
    X(rc_owner_incref)                                                         \
    X(rc_owner_decref)                                                         \
    X(rc_shared_incref)                                                        \
    X(rc_shared_decref)                                                        \
    X(rc_sharded_incref)                                                       \
    X(rc_sharded_decref)                                                       \
    X(read_optimistic)                                                         \
    X(read_fallback)                                                           \
    X(objects_allocated)                                                       \
    X(objects_freed)
typedef struct ft_hot_stats {
#define FT_STAT_FIELD(name) _Atomic(uint64_t) name;
    FT_HOT_STATS(FT_STAT_FIELD)
#undef FT_STAT_FIELD
} ft_hot_stats;

// ------------------------------------------------------------ thread-local state
// Thread ids are serials from 1, never reused; a thread with no state has
// FT_TID_NONE, which no object holds (DESIGN.md §4.2).
#define FT_TID_NONE UINTPTR_MAX

// Eval-breaker bits: set by anyone (fetch_or release), cleared by the owner.
enum {
    FT_EB_WORLD = 1u << 0,     // a stop-the-world is requested
    FT_EB_GIL_DROP = 1u << 1,  // another thread waited a whole switch interval
    FT_EB_BRC = 1u << 2,       // objects queued to us for merging
    FT_EB_QSBR = 1u << 3,      // report quiescence / process deferred frees
    FT_EB_GC = 1u << 4,        // an automatic collection is due
    FT_EB_SHARD = 1u << 5,     // sharded-count candidates or suspects wait for a pause
};

typedef struct ft_tls_state {
    uintptr_t tid;                     // owner only (others read obj->tid)
    _Atomic(uint32_t) eval_breaker;    // atomic: anyone sets (release) / owner
    uint32_t attached;                 // owner only
    ft_thread *thread;                 // owner only
    uintptr_t cs_top;                  // owner only: ft_cs * | INACTIVE bit
    uint64_t *shard_tab;               // owner only (a pause's requester while we are stopped)
    uint32_t shard_cap;                // owner only: entries in shard_tab
    ft_hot_stats stats;                // atomic: owner writes / ft_stats_json reads
} ft_tls_state;

extern __thread ft_tls_state ft_tls __attribute__((tls_model("initial-exec")));

// relaxed: the owner is the only writer; readers only sum.
#define FT_COUNT_INC(name)                                                     \
    ft_atomic_store_relaxed_u64(                                               \
        &ft_tls.stats.name, ft_atomic_load_relaxed_u64(&ft_tls.stats.name) + 1)
#if FT_STATS
#  define FT_STAT_INC(name) FT_COUNT_INC(name)
#else
#  define FT_STAT_INC(name) ((void)0)
#endif

FT_API void ft_safepoint_slow(void);
#if FT_DEBUG
// Schedule fuzzing (FT_FUZZ_SCHED=<seed>, debug and sanitizer builds only).
FT_API extern int ft_fuzz_sched_enabled;
FT_API void ft_yield_point_slow(void);
#endif

// Where an interpreter polls its eval breaker: one relaxed load (plus, in
// debug builds under FT_FUZZ_SCHED, a seeded chance to yield).
static inline void
ft_safepoint(void)
{
#if FT_DEBUG
    if (FT_UNLIKELY(ft_fuzz_sched_enabled)) {
        ft_yield_point_slow();
    }
#endif
    // relaxed: a hint; ft_safepoint_slow() re-reads it with acquire.
    if (FT_UNLIKELY(ft_atomic_load_relaxed_u32(&ft_tls.eval_breaker) != 0)) {
        ft_safepoint_slow();
    }
}

static inline uintptr_t
ft_thread_current_tid(void)
{
    return ft_tls.tid;
}

#endif
