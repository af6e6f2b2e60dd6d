// stress_locking_gil: the global lock (DESIGN.md §4.7) in the GIL build and
// in the FT build started with FT_ENABLE_GIL=1 (set below before main).
// Oracles: two CPU-bound threads that only call ft_safepoint() both make
// progress (forced switching); a detached or parked thread never keeps an
// attached one from running; threads that exit with a drop request pending
// do not hang the holder (L4). Waits are bounded only to turn a hang into a
// failure; nothing is timed.
#include <stdatomic.h>
#include <stdlib.h>

#include "harness.h"

#define WAIT_LIMIT_S 60

__attribute__((constructor)) static void
enable_gil(void)
{
    setenv("FT_ENABLE_GIL", "1", 1);  // the FT build reads it at ft_init
}

static int64_t
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

// ------------------------------------------------------------ forced switching
typedef struct spinner_shared {
    _Atomic(uint64_t) counter[2];  // atomic: each spinner bumps its own (relaxed)
    _Atomic(int) done[2];          // a spinner saw the other advance enough
    int64_t target;
} spinner_shared;

typedef struct spinner {
    spinner_shared *shared;
    int index;
    int64_t seen_changes;  // owner only; read after join
    bool timed_out;        // owner only; read after join
} spinner;

// CPU-bound: never blocks, never detaches; only ft_safepoint() can switch.
static void
spinner_worker(void *arg)
{
    spinner *s = arg;
    spinner_shared *sh = s->shared;
    int other = 1 - s->index;
    // relaxed: progress counters, compared only for change
    uint64_t last = atomic_load_explicit(&sh->counter[other], memory_order_relaxed);
    int64_t give_up = now_s() + WAIT_LIMIT_S;
    for (uint64_t i = 1;; i++) {
        atomic_store_explicit(&sh->counter[s->index], i, memory_order_relaxed);
        ft_safepoint();
        uint64_t seen = atomic_load_explicit(&sh->counter[other], memory_order_relaxed);
        if (seen != last) {
            last = seen;
            if (++s->seen_changes == sh->target) {
                ft_test_store_flag(&sh->done[s->index], 1);
            }
        }
        if (ft_test_load_flag(&sh->done[0]) && ft_test_load_flag(&sh->done[1])) {
            return;  // both saw progress: keep running until then
        }
        if ((i & 1023) == 0 && now_s() > give_up) {
            s->timed_out = true;
            return;
        }
    }
}

static void
run_spinners(uint64_t interval_us)
{
    uint64_t saved = ft_get_switch_interval();
    ft_set_switch_interval(interval_us);
    spinner_shared sh = {.target = ft_test_scale(40) + 2};
    spinner spinners[2];
    ft_thread *threads[2];
    uint64_t forced = ft_stats_get("gil_forced_switches");
    for (int i = 0; i < 2; i++) {
        spinners[i] = (spinner){.shared = &sh, .index = i};
        threads[i] = ft_thread_start(spinner_worker, &spinners[i]);
        FT_REQUIRE(threads[i] != NULL, "ft_thread_start: %s", ft_err_message());
    }
    for (int i = 0; i < 2; i++) {
        ft_thread_join(threads[i]);
    }
    ft_set_switch_interval(saved);
    for (int i = 0; i < 2; i++) {
        FT_EXPECT(!spinners[i].timed_out,
                  "spinner %d starved: saw %" PRId64 " of %" PRId64 " changes", i,
                  spinners[i].seen_changes, sh.target);
    }
    // Neither thread ever blocks, so only forced switches let both run.
    FT_EXPECT(ft_stats_get("gil_forced_switches") > forced, "no forced switch happened");
}

FT_TEST(gil_cpu_bound_threads_both_progress)
{
    FT_REQUIRE(ft_gil_is_enabled(), "the GIL is not on (FT_ENABLE_GIL=1 ignored?)");
    run_spinners(1000);
    run_spinners(5000);  // the default interval
}

// ------------------------------------------------------------ detached threads
typedef struct blocker {
    ft_mutex *mutex;       // NULL: block in FT_BEGIN_ALLOW_THREADS instead
    _Atomic(int) blocked;  // about to block (detached, or parking)
    _Atomic(int) release;
} blocker;

// Detaches, then blocks outside the runtime until released.
static void
detached_blocker(void *arg)
{
    blocker *b = arg;
    FT_BEGIN_ALLOW_THREADS
    ft_test_store_flag(&b->blocked, 1);
    for (int i = 0; i < WAIT_LIMIT_S * 1000 && !ft_test_load_flag(&b->release); i++) {
        usleep(1000);
    }
    FT_END_ALLOW_THREADS
}

// Blocks in ft_mutex_lock (which parks detached) until the mutex is freed.
static void
parked_blocker(void *arg)
{
    blocker *b = arg;
    ft_test_store_flag(&b->blocked, 1);
    ft_mutex_lock(b->mutex);
    ft_mutex_unlock(b->mutex);
}

typedef struct runner {
    _Atomic(int) done;
    int64_t work;
} runner;

// Attached work that needs the GIL.
static void
attached_runner(void *arg)
{
    runner *r = arg;
    for (int64_t i = 0; i < r->work; i++) {
        ft_object *obj = ft_int_new(1000 + i);
        if (obj != NULL) {
            ft_decref(obj);
        }
        ft_safepoint();
    }
    ft_test_store_flag(&r->done, 1);
}

// With `b` blocked, another attached thread must run to completion.
static void
expect_runner_finishes(blocker *b, const char *what)
{
    FT_EXPECT(ft_test_wait_flag(&b->blocked, WAIT_LIMIT_S), "%s: never blocked", what);
    usleep(2000);  // attached; a blocked thread holding the GIL would show next
    runner r = {.work = ft_test_scale(20000)};
    ft_thread *t = ft_thread_start(attached_runner, &r);
    FT_REQUIRE(t != NULL, "ft_thread_start: %s", ft_err_message());
    FT_EXPECT(ft_test_wait_flag(&r.done, WAIT_LIMIT_S), "%s: an attached thread could not run",
              what);
    // The main thread itself ran attached meanwhile (ft_test_wait_flag
    // re-attaches every 100 us), so it also took the GIL repeatedly.
    ft_thread_join(t);
}

FT_TEST(gil_detached_thread_never_blocks_attached)
{
    FT_REQUIRE(ft_gil_is_enabled(), "the GIL is not on");
    blocker b = {.mutex = NULL};
    ft_thread *t = ft_thread_start(detached_blocker, &b);
    FT_REQUIRE(t != NULL, "ft_thread_start: %s", ft_err_message());
    expect_runner_finishes(&b, "thread blocked in FT_BEGIN_ALLOW_THREADS");
    ft_test_store_flag(&b.release, 1);
    ft_thread_join(t);
}

FT_TEST(gil_parked_locker_never_blocks_attached)
{
    FT_REQUIRE(ft_gil_is_enabled(), "the GIL is not on");
    ft_mutex mutex = FT_MUTEX_INIT;
    ft_mutex_lock(&mutex);
    blocker b = {.mutex = &mutex};
    ft_thread *t = ft_thread_start(parked_blocker, &b);
    FT_REQUIRE(t != NULL, "ft_thread_start: %s", ft_err_message());
    for (int i = 0; i < WAIT_LIMIT_S * 1000; i++) {
        // pairs: the lock protocol's stores (a snapshot)
        if (ft_atomic_load_acquire_u8(&mutex.bits) & FT_MUTEX_PARKED) {
            break;
        }
        FT_BEGIN_ALLOW_THREADS
        usleep(1000);
        FT_END_ALLOW_THREADS
    }
    expect_runner_finishes(&b, "thread parked in ft_mutex_lock");
    ft_mutex_unlock(&mutex);
    ft_thread_join(t);
}

// ------------------------------------------------------------ exits (L4)
typedef struct exiter_shared {
    _Atomic(int) finished;
} exiter_shared;

static void
short_spinner(void *arg)
{
    exiter_shared *s = arg;
    for (int i = 0; i < 2000; i++) {
        ft_safepoint();
    }
    // relaxed: a count the main thread polls
    atomic_fetch_add_explicit(&s->finished, 1, memory_order_relaxed);
}

// The main thread spins attached (so exiting threads get drop requests from
// it) while short threads come and go; everyone must finish.
FT_TEST(gil_exiting_threads_do_not_hang_the_holder)
{
    FT_REQUIRE(ft_gil_is_enabled(), "the GIL is not on");
    enum { ROUNDS = 8, PER_ROUND = 4 };
    uint64_t saved = ft_get_switch_interval();
    ft_set_switch_interval(200);
    exiter_shared s = {0};
    int64_t give_up = now_s() + WAIT_LIMIT_S;
    bool hung = false;
    for (int round = 0; round < ROUNDS && !hung; round++) {
        ft_thread *threads[PER_ROUND];
        for (int i = 0; i < PER_ROUND; i++) {
            threads[i] = ft_thread_start(short_spinner, &s);
            FT_REQUIRE(threads[i] != NULL, "ft_thread_start: %s", ft_err_message());
        }
        // relaxed: polled count
        while (atomic_load_explicit(&s.finished, memory_order_relaxed) < (round + 1) * PER_ROUND) {
            ft_safepoint();
            if (now_s() > give_up) {
                hung = true;
                break;
            }
        }
        for (int i = 0; i < PER_ROUND; i++) {
            ft_thread_join(threads[i]);
        }
    }
    ft_set_switch_interval(saved);
    FT_EXPECT(!hung, "short threads never finished while the main thread spun");
    // relaxed: read after every join
    FT_EXPECT_EQ(atomic_load_explicit(&s.finished, memory_order_relaxed), ROUNDS * PER_ROUND,
                 "finished threads");
}
