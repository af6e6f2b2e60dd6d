// runtime/world.c: stop-the-world (FT build; the collector, fork and
// out-of-memory fallbacks).
//
// Invariant (T1-T3): while the world is stopped, every registered thread but
// the requester is SUSPENDED with world_parked set, so none touches an
// object; each thread is counted once per pause because only a CAS moves it
// out of DETACHED, and only the requester that parked it releases it.
//
// How: the requester takes world_mutex (a detaching lock, so a rival
// requester can stop it meanwhile), then never detaches until
// ft_world_start() (gh-118332). Under threads_mutex it CASes every DETACHED
// thread to SUSPENDED (free for blocked threads) and sets FT_EB_WORLD in
// every ATTACHED one, which parks itself at its next safepoint (T5 bounds the
// wait). It rescans until nobody is pending, waiting on world_generation,
// which parkers bump. With a global lock (GIL build or FT_ENABLE_GIL=1) the
// GIL holder is alone attached already, so a pause only counts its depth.
//
// Origin: CPython's _PyEval_StopTheWorld (Python/pystate.c), re-derived; we
// differ in waiting for threads released by the last pause before the next
// (gh-151518) and in never letting the requester take object locks (T4).
#include <sched.h>
#include <time.h>

#include "runtime/runtime_internal.h"

#define rt ft_runtime_state

bool
ft_world_is_requester(void)
{
    // relaxed: only compared with ourselves, and only we store ourselves there
    ft_thread *requester = ft_atomic_load_relaxed_ptr(&rt.world_requester);
    return requester != NULL && requester == ft_tls.thread;
}

typedef struct scan_result {
    ft_thread *self;
    int pending;
} scan_result;

static void
suspend_or_signal(ft_thread *t, void *arg)
{
    scan_result *scan = arg;
    if (t == scan->self || t->world_parked) {
        return;
    }
    uint32_t expected = FT_THREAD_DETACHED;
    // pairs: release store in detach_state() (thread.c)
    if (ft_atomic_cas_acq_rel_u32(&t->state, &expected, FT_THREAD_SUSPENDED)) {
        t->world_parked = 1;
        return;
    }
    if (expected == FT_THREAD_ATTACHED) {
        // pairs: acquire load in ft_safepoint_slow()
        ft_atomic_or_release_u32(t->eval_breaker, FT_EB_WORLD);
    }
    scan->pending++;   // attached, or suspended for microseconds by a merger
}

static bool
generation_unchanged(const void *addr, void *arg)
{
    // relaxed: validated under the bucket lock; a bump is followed by unpark
    return ft_atomic_load_relaxed_u32((const _Atomic(uint32_t) *)addr) ==
           (uint32_t)(uintptr_t)arg;
}

static void
any_attach_waiting(ft_thread *t, void *arg)
{
    if (t->attach_waiting && t->released_by_pause) {
        *(bool *)arg = true;
    }
}

// gh-151518: back-to-back pauses can re-suspend a thread the last pause just
// released before it runs; give such threads up to 1 ms to attach.
static void
let_released_threads_attach(void)
{
    int64_t limit = ft_monotonic_ns() + 1000000;
    for (;;) {
        bool waiting = false;
        ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
        ft_threads_foreach_locked(any_attach_waiting, &waiting);
        ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
        if (!waiting || ft_monotonic_ns() > limit) {
            return;
        }
        sched_yield();
    }
}

void
ft_world_stop(void)
{
    FT_FATAL_IF(!ft_tls.attached, "ft_world_stop from a detached thread");
    if (ft_world_is_requester() || ft_gil_is_enabled()) {
        rt.world_depth++;   // requester only / GIL holder only
        return;
    }
    int64_t start = ft_monotonic_ns();
    ft_mutex_lock(&rt.world_mutex);
    let_released_threads_attach();
    ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    rt.world_requested = 1;
    // relaxed: see ft_world_is_requester()
    ft_atomic_store_relaxed_ptr(&rt.world_requester, ft_tls.thread);
    for (;;) {
        scan_result scan = {ft_tls.thread, 0};
        ft_threads_foreach_locked(suspend_or_signal, &scan);
        if (scan.pending == 0) {
            break;
        }
        // relaxed: re-validated under the bucket lock by the park
        uint32_t gen = ft_atomic_load_relaxed_u32(&rt.world_generation);
        ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
        ft_parking_park(&rt.world_generation, generation_unchanged,
                        (void *)(uintptr_t)gen, ft_monotonic_ns() + 1000000, false);
        ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    }
    rt.world_stopped = 1;
    rt.world_depth = 1;
    rt.world_start_ns = start;
    ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
}

static void
release_thread(ft_thread *t, void *arg)
{
    (void)arg;
    // pairs: acquire load in ft_safepoint_slow()
    ft_atomic_and_release_u32(t->eval_breaker, ~(uint32_t)FT_EB_WORLD);
    t->released_by_pause = 0;
    if (t->world_parked) {
        t->world_parked = 0;
        t->released_by_pause = 1;
        // pairs: acquire CAS in attach_state() (thread.c)
        ft_atomic_store_release_u32(&t->state, FT_THREAD_DETACHED);
        ft_parking_unpark_all(&t->state);
    }
}

void
ft_world_start(void)
{
    if (--rt.world_depth > 0) {
        return;
    }
    // relaxed: see ft_world_is_requester()
    if (ft_gil_is_enabled() && ft_atomic_load_relaxed_ptr(&rt.world_requester) == NULL) {
        return;   // a pause under a global lock only counted its depth
    }
    FT_FATAL_IF(!ft_world_is_requester(), "ft_world_start by a thread that did not stop the world");
    ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    rt.world_requested = 0;
    rt.world_stopped = 0;
    // relaxed: see ft_world_is_requester()
    ft_atomic_store_relaxed_ptr(&rt.world_requester, NULL);
    ft_threads_foreach_locked(release_thread, NULL);
    ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    FT_STAT_ADD(world_pauses, 1);
    FT_STAT_ADD(world_ns, (uint64_t)(ft_monotonic_ns() - rt.world_start_ns));
    ft_mutex_unlock(&rt.world_mutex);
}

// At a safepoint with FT_EB_WORLD: park until the requester restarts us.
void
ft_world_park_self(void)
{
    ft_thread *t = ft_tls.thread;
    ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    if (!rt.world_requested || ft_world_is_requester()) {
        // pairs: release fetch_or in suspend_or_signal() (only the bit matters)
        ft_atomic_and_acq_rel_u32(&ft_tls.eval_breaker, ~(uint32_t)FT_EB_WORLD);
        ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
        return;
    }
    // pairs: release fetch_or in suspend_or_signal()
    ft_atomic_and_acq_rel_u32(&ft_tls.eval_breaker, ~(uint32_t)FT_EB_WORLD);
    ft_thread_park_for_world_locked(t);
    // The requester re-reads thread states under threads_mutex, which
    // orders the rest; the bump only wakes it.
    // pairs: relaxed validation in generation_unchanged()
    ft_atomic_add_release_u32(&rt.world_generation, 1);
    ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    ft_parking_unpark_all(&rt.world_generation);
    ft_thread_reattach_after_world(t);
}

void
ft_world_after_fork_child(void)
{
    rt.world_requested = 0;
    rt.world_stopped = 0;
    // relaxed: the child is single-threaded
    ft_atomic_store_relaxed_ptr(&rt.world_requester, NULL);
    rt.world_depth = 0;
    // relaxed: the child is single-threaded
    ft_atomic_store_relaxed_u8(&rt.world_mutex.bits, 0);
    ft_atomic_store_relaxed_u8(&rt.threads_mutex.bits, 0);
}
