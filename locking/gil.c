// locking/gil.c: the global interpreter lock (DESIGN.md §4.7), used by the
// GIL build and by the FT build started with FT_ENABLE_GIL=1.
//
// Invariant (L1-L3): `locked`, `holder`, `last_holder`, `switch_number`,
// `waiters` and every thread's gil_drop_requested change only under `mu`;
// at most one thread holds the GIL, and it is attached; a drop request is
// made only after a waiter waited a whole interval with no switch, and a
// forced drop waits only until another thread took the GIL or no waiter is
// left.
//
// How: attach takes the GIL, detach drops it. A waiter sleeps on `cond` for
// one switch interval at a time; if the interval passes with the GIL still
// held and no switch since (switch_number unchanged), it sets the holder's
// FT_EB_GIL_DROP, and the holder's next ft_safepoint() detaches and
// re-attaches. Without more, the dropper would usually win the race to
// re-take it on a multicore machine, so a dropper that was asked to drop
// waits on `switch_cond` until someone else took the GIL: the waiter goes
// first.
//
// Why the invariant holds: every field change takes `mu`; take() sets
// holder only when `locked` is clear, and the only clear is drop() by the
// holder.
//
// Origin: CPython's Python/ceval_gil.c ("new GIL", 2009), re-derived with
// pthreads and CLOCK_MONOTONIC; we differ in having no eval loop: the
// request lands in the eval-breaker word that ft_safepoint() polls.
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "locking/locking_internal.h"

#define DEFAULT_INTERVAL_US 5000

typedef struct ft_gil {
    pthread_mutex_t mu;             // immutable after static init (re-made only in a fork child)
    pthread_cond_t cond;            // immutable after ft_gil_init; signalled by drop for take
    pthread_cond_t switch_cond;     // immutable after ft_gil_init; broadcast by take for a
                                    // forced dropper
    _Atomic(uint8_t) enabled;       // atomic: ft_gil_init before other threads / all (relaxed)
    bool locked;                    // guarded by: mu
    _Atomic(ft_thread *) holder;    // guarded by: mu for writes; relaxed reads in ft_gil_held_by()
    ft_thread *last_holder;         // guarded by: mu
    uint64_t switch_number;         // guarded by: mu
    int waiters;                    // guarded by: mu
    _Atomic(uint64_t) interval_us;  // atomic: ft_set_switch_interval / take (relaxed: a setting)
} ft_gil;

static ft_gil gil = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .interval_us = DEFAULT_INTERVAL_US,
};
static pthread_once_t conds_once = PTHREAD_ONCE_INIT;

static void
init_conds(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&gil.cond, &attr);
    pthread_cond_init(&gil.switch_cond, &attr);
    pthread_condattr_destroy(&attr);
}

static inline bool
gil_enabled(void)
{
    // relaxed: written by ft_init before any other thread is registered;
    // thread creation orders it for them
    return ft_atomic_load_relaxed_u8(&gil.enabled) != 0;
}

void
ft_gil_init(bool enabled)
{
    pthread_once(&conds_once, init_conds);
    pthread_mutex_lock(&gil.mu);
    ft_atomic_store_relaxed_u8(&gil.enabled, enabled);  // relaxed: see gil_enabled()
    gil.locked = false;
    ft_atomic_store_relaxed_ptr(&gil.holder, NULL);  // relaxed: guarded by mu
    gil.last_holder = NULL;
    gil.switch_number = 0;
    gil.waiters = 0;
    pthread_mutex_unlock(&gil.mu);
}

int
ft_gil_is_enabled(void)
{
    return gil_enabled();
}

void
ft_set_switch_interval(uint64_t usec)
{
    // relaxed: a setting; a take in progress may use the old value once
    ft_atomic_store_relaxed_u64(&gil.interval_us, usec > 0 ? usec : 1);
}

uint64_t
ft_get_switch_interval(void)
{
    return ft_atomic_load_relaxed_u64(&gil.interval_us);  // relaxed: a setting
}

// mu held.
static void
request_drop_locked(ft_thread *holder)
{
    holder->gil_drop_requested = 1;
    // pairs: acquire load in ft_safepoint_slow()
    ft_atomic_or_release_u32(holder->eval_breaker, FT_EB_GIL_DROP);
}

// mu held; t is the calling thread.
static void
clear_drop_request_locked(ft_thread *t)
{
    t->gil_drop_requested = 0;
    // relaxed: our own bit; it carries no data
    ft_atomic_and_relaxed_u32(t->eval_breaker, ~(uint32_t)FT_EB_GIL_DROP);
}

// Waits on cond for one switch interval; returns pthread_cond_timedwait's result.
static int
wait_one_interval_locked(void)
{
    uint64_t us = ft_get_switch_interval();
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(us / 1000000);
    deadline.tv_nsec += (long)(us % 1000000) * 1000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    return pthread_cond_timedwait(&gil.cond, &gil.mu, &deadline);
}

void
ft_gil_take(ft_thread *t)
{
    if (!gil_enabled()) {
        return;
    }
    pthread_mutex_lock(&gil.mu);
    FT_ASSERT(ft_atomic_load_relaxed_ptr(&gil.holder) != t,  // relaxed: guarded by mu
              "taking the GIL it already holds");
    gil.waiters++;
    while (gil.locked) {
        uint64_t seen = gil.switch_number;
        int rc = wait_one_interval_locked();
        if (rc == ETIMEDOUT && gil.locked && seen == gil.switch_number) {
            // L2: a whole interval without a switch.
            request_drop_locked(ft_atomic_load_relaxed_ptr(&gil.holder));  // relaxed: mu
        }
    }
    gil.waiters--;
    gil.locked = true;
    ft_atomic_store_relaxed_ptr(&gil.holder, t);  // relaxed: guarded by mu
    if (gil.last_holder != t) {
        gil.last_holder = t;
        gil.switch_number++;
        FT_STAT_ADD(gil_switches, 1);
    }
    pthread_cond_broadcast(&gil.switch_cond);
    clear_drop_request_locked(t);  // a stale request from our last turn
    pthread_mutex_unlock(&gil.mu);
}

void
ft_gil_drop(ft_thread *t)
{
    if (!gil_enabled()) {
        return;
    }
    pthread_mutex_lock(&gil.mu);
    // relaxed: guarded by mu
    FT_FATAL_IF(!gil.locked || ft_atomic_load_relaxed_ptr(&gil.holder) != t,
                "dropping the GIL without holding it (thread %p)", (void *)t);
    gil.locked = false;
    ft_atomic_store_relaxed_ptr(&gil.holder, NULL);  // relaxed: guarded by mu
    pthread_cond_signal(&gil.cond);
    if (t->gil_drop_requested) {
        // Forced switch (L3): let the waiter that asked go first.
        clear_drop_request_locked(t);
        FT_STAT_ADD(gil_forced_switches, 1);
        while (gil.last_holder == t && gil.waiters > 0) {
            pthread_cond_wait(&gil.switch_cond, &gil.mu);
        }
    }
    pthread_mutex_unlock(&gil.mu);
}

void
ft_gil_thread_exit(ft_thread *t)
{
    if (!gil_enabled()) {
        return;
    }
    pthread_mutex_lock(&gil.mu);
    // L4 (gh-96387): a stale request must not make the exiting thread's last
    // drop wait, and last_holder must not outlive the thread record.
    clear_drop_request_locked(t);
    if (gil.last_holder == t) {
        gil.last_holder = NULL;
    }
    pthread_mutex_unlock(&gil.mu);
}

bool
ft_gil_held_by(ft_thread *t)
{
    // relaxed: exact when t is the caller: only t ever stores t there, and
    // after its own store of NULL (its drop) coherence never lets it read
    // an older value; for another thread it is only a snapshot
    return t != NULL && gil_enabled() && ft_atomic_load_relaxed_ptr(&gil.holder) == t;
}

void
ft_gil_after_fork_child(ft_thread *t)
{
    if (!gil_enabled()) {
        return;
    }
    // Another thread may have held mu at the fork: start from fresh objects.
    pthread_mutex_init(&gil.mu, NULL);
    init_conds();
    gil.locked = true;
    ft_atomic_store_relaxed_ptr(&gil.holder, t);  // relaxed: the child is single-threaded
    gil.last_holder = t;
    gil.waiters = 0;
    t->gil_drop_requested = 0;
    // relaxed: the child is single-threaded
    ft_atomic_and_relaxed_u32(t->eval_breaker, ~(uint32_t)FT_EB_GIL_DROP);
}
