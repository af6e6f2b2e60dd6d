// runtime/safepoint.c: the eval-breaker slow path and schedule fuzzing.
//
// ft_safepoint() is one relaxed load of the thread's eval-breaker word; when
// a bit is set this slow path re-reads it with acquire (so it sees what the
// setter published before its release fetch_or) and serves each request.
// Bits are set by anyone and cleared by their owner, or by the subsystem
// that serves them (ft_brc_merge_own clears FT_EB_BRC, and so on).
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "runtime/runtime_internal.h"

void
ft_safepoint_slow(void)
{
    if (!ft_tls.attached) {
        return;
    }
    FT_YIELD_POINT();
    // Setters: suspend_or_signal() (world.c), gil.c, brc.c, qsbr.c, collect.c.
    // pairs: release fetch_or of each setter
    uint32_t bits = ft_atomic_load_acquire_u32(&ft_tls.eval_breaker);
    if (bits & FT_EB_WORLD) {
        ft_world_park_self();
    }
    if (bits & FT_EB_GIL_DROP) {
        // ft_gil_take() clears the request when we get the lock back.
        bool was = ft_thread_detach_for_block();
        ft_thread_attach_after_block(was);
    }
    if (bits & FT_EB_BRC) {
        ft_brc_merge_own();
    }
    if (bits & FT_EB_QSBR) {
        ft_qsbr_safepoint();
    }
    if (bits & FT_EB_SHARD) {
        ft_shard_safepoint();
    }
    if (bits & FT_EB_GC) {
        ft_gc_safepoint();
    }
}

// ------------------------------------------------------------ schedule fuzzing
int ft_fuzz_sched_enabled;              // immutable after ft_init
static uint64_t fuzz_seed;              // immutable after ft_init
static __thread uint64_t fuzz_state;    // owner only

void
ft_fuzz_configure_from_env(void)
{
#if FT_DEBUG
    const char *spec = getenv("FT_FUZZ_SCHED");
    ft_fuzz_sched_enabled = spec != NULL && *spec != '\0';
    if (ft_fuzz_sched_enabled) {
        fuzz_seed = strtoull(spec, NULL, 0);
    }
#endif
}

void
ft_yield_point_slow(void)
{
    if (fuzz_state == 0) {
        fuzz_state = fuzz_seed ^ ((uint64_t)ft_tls.tid * 0x9e3779b97f4a7c15ULL) ^ 1;
    }
    uint64_t x = fuzz_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    fuzz_state = x;
    unsigned pick = (unsigned)(x % 64);
    if (pick < 8) {
        sched_yield();
    } else if (pick == 8) {
        struct timespec ts = {0, 20000 + (long)(x >> 40) % 80000};
        nanosleep(&ts, NULL);
    }
}
