// ft_mutex, ft_once and ft_event (DESIGN.md §4.4): exclusion, try/timed
// locking, the 1 ms handoff (M2), misuse, threads without a thread state,
// and parked lockers letting a stop-the-world through.
#include <pthread.h>
#include <stdatomic.h>

#include "harness.h"

#define WAIT_LIMIT_S 30  // only turns a hang into a failure

static void
sleep_detached_us(long usec)
{
    FT_BEGIN_ALLOW_THREADS
    usleep((useconds_t)usec);
    FT_END_ALLOW_THREADS
}

static uint8_t
mutex_bits(ft_mutex *mutex)
{
    // pairs: the lock protocol's release stores (a snapshot for the test)
    return ft_atomic_load_acquire_u8(&mutex->bits);
}

// Polls (detached) until the mutex shows a parked waiter.
static bool
wait_until_parked(ft_mutex *mutex)
{
    for (long i = 0; i < WAIT_LIMIT_S * 10000L; i++) {
        if (mutex_bits(mutex) & FT_MUTEX_PARKED) {
            return true;
        }
        sleep_detached_us(100);
    }
    return false;
}

// ------------------------------------------------------------ counter
typedef struct counter_shared {
    ft_mutex mutex;
    int64_t count;       // guarded by: mutex
    int64_t iterations;  // immutable while workers run
} counter_shared;

static void
count_under_lock(counter_shared *shared)
{
    for (int64_t i = 0; i < shared->iterations; i++) {
        ft_mutex_lock(&shared->mutex);
        shared->count++;
        ft_mutex_unlock(&shared->mutex);
        if ((i & 63) == 0) {
            ft_safepoint();  // lets the GIL switch in the GIL build
        }
    }
}

static void
counter_worker(void *arg)
{
    count_under_lock(arg);
}

static void *
counter_raw_worker(void *arg)
{
    count_under_lock(arg);  // no thread state: parks on the fallback word
    return NULL;
}

FT_TEST(mutex_counter_exact)
{
    enum { THREADS = 4 };
    counter_shared shared = {.mutex = FT_MUTEX_INIT, .iterations = ft_test_scale(100000)};
    ft_thread *threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        threads[i] = ft_thread_start(counter_worker, &shared);
        FT_REQUIRE(threads[i] != NULL, "ft_thread_start: %s", ft_err_message());
    }
    for (int i = 0; i < THREADS; i++) {
        FT_EXPECT_EQ(ft_thread_join(threads[i]), 0, "join");
    }
    FT_EXPECT_EQ(shared.count, THREADS * shared.iterations, "lost update under ft_mutex");
    FT_EXPECT_EQ(mutex_bits(&shared.mutex), 0, "lock word not reset after contention");
}

// Two registered and two unregistered threads: a thread with no state must
// lock, park and be woken like the others.
FT_TEST(mutex_counter_without_thread_state)
{
    counter_shared shared = {.mutex = FT_MUTEX_INIT, .iterations = ft_test_scale(50000)};
    pthread_t raw[2];
    ft_thread *registered[2];
    for (int i = 0; i < 2; i++) {
        FT_REQUIRE(pthread_create(&raw[i], NULL, counter_raw_worker, &shared) == 0,
                   "pthread_create");
        registered[i] = ft_thread_start(counter_worker, &shared);
        FT_REQUIRE(registered[i] != NULL, "ft_thread_start: %s", ft_err_message());
    }
    for (int i = 0; i < 2; i++) {
        FT_EXPECT_EQ(ft_thread_join(registered[i]), 0, "join");
        FT_BEGIN_ALLOW_THREADS
        pthread_join(raw[i], NULL);
        FT_END_ALLOW_THREADS
    }
    FT_EXPECT_EQ(shared.count, 4 * shared.iterations, "lost update with stateless threads");
    FT_EXPECT_EQ(mutex_bits(&shared.mutex), 0, "lock word not reset");
}

// ------------------------------------------------------------ try / timed
typedef struct probe {
    ft_mutex *mutex;
    int64_t timeout_ns;
    _Atomic(int) started;
    _Atomic(int) result;   // 1 locked, 2 not locked
    _Atomic(int) release;  // main tells a locking worker to unlock
} probe;

static void
try_lock_worker(void *arg)
{
    probe *p = arg;
    bool locked = ft_mutex_try_lock(p->mutex);
    if (locked) {
        ft_mutex_unlock(p->mutex);
    }
    ft_test_store_flag(&p->result, locked ? 1 : 2);
}

static int
run_probe(void (*fn)(void *), probe *p)
{
    ft_thread *t = ft_thread_start(fn, p);
    if (t == NULL) {
        return -1;
    }
    ft_thread_join(t);
    return ft_test_load_flag(&p->result);
}

FT_TEST(mutex_try_lock)
{
    ft_mutex mutex = FT_MUTEX_INIT;
    FT_EXPECT(!ft_mutex_is_locked(&mutex), "fresh mutex is locked");
    FT_EXPECT(ft_mutex_try_lock(&mutex), "try_lock of a free mutex failed");
    FT_EXPECT(ft_mutex_is_locked(&mutex), "try_lock did not lock");
    FT_EXPECT(!ft_mutex_try_lock(&mutex), "try_lock of a held mutex succeeded");
    probe p = {.mutex = &mutex};
    FT_EXPECT_EQ(run_probe(try_lock_worker, &p), 2, "another thread took a held mutex");
    ft_mutex_unlock(&mutex);
    probe q = {.mutex = &mutex};
    FT_EXPECT_EQ(run_probe(try_lock_worker, &q), 1, "another thread failed on a free mutex");
    FT_EXPECT_EQ(mutex_bits(&mutex), 0, "lock word");
}

static void
timed_lock_worker(void *arg)
{
    probe *p = arg;
    ft_test_store_flag(&p->started, 1);
    bool locked = ft_mutex_lock_timed(p->mutex, p->timeout_ns);
    ft_test_store_flag(&p->result, locked ? 1 : 2);
    if (locked) {
        ft_test_wait_flag(&p->release, WAIT_LIMIT_S);
        ft_mutex_unlock(p->mutex);
    }
}

FT_TEST(mutex_timed_lock)
{
    ft_mutex mutex = FT_MUTEX_INIT;
    FT_EXPECT(ft_mutex_lock_timed(&mutex, 1000000), "timed lock of a free mutex failed");
    // Held: a short timed lock gives up (how long it took is not checked).
    probe held = {.mutex = &mutex, .timeout_ns = 20 * 1000000};
    FT_EXPECT_EQ(run_probe(timed_lock_worker, &held), 2, "timed lock of a held mutex");
    FT_EXPECT(!ft_mutex_lock_timed(&mutex, 0), "zero timeout on a held mutex");
    FT_EXPECT(ft_mutex_is_locked(&mutex), "a timeout released the holder's lock");
    // Freed while a timed locker waits: it gets the lock.
    probe freed = {.mutex = &mutex, .timeout_ns = (int64_t)WAIT_LIMIT_S * 1000000000};
    ft_thread *t = ft_thread_start(timed_lock_worker, &freed);
    FT_REQUIRE(t != NULL, "ft_thread_start: %s", ft_err_message());
    FT_EXPECT(wait_until_parked(&mutex), "the timed locker never parked");
    ft_mutex_unlock(&mutex);
    FT_EXPECT(ft_test_wait_flag(&freed.result, WAIT_LIMIT_S), "timed locker hung");
    FT_EXPECT_EQ(ft_test_load_flag(&freed.result), 1, "timed lock failed after the unlock");
    ft_test_store_flag(&freed.release, 1);
    ft_thread_join(t);
    FT_EXPECT_EQ(mutex_bits(&mutex), 0, "lock word after timeouts");
    ft_mutex_lock(&mutex);  // a stale PARKED bit, if any, must not hurt
    ft_mutex_unlock(&mutex);
    FT_EXPECT_EQ(mutex_bits(&mutex), 0, "lock word after a final lock");
}

// ------------------------------------------------------------ handoff (M2)
static void
lock_and_hold_worker(void *arg)
{
    probe *p = arg;
    ft_mutex_lock(p->mutex);
    ft_test_store_flag(&p->result, 1);
    ft_test_wait_flag(&p->release, WAIT_LIMIT_S);
    ft_mutex_unlock(p->mutex);
}

// One try: a waiter parks, we sleep past 1 ms, unlock and at once try to
// barge. Returns 1 for a handoff, 0 for none, -1 for an M2 violation.
static int
handoff_attempt(void)
{
    ft_mutex mutex = FT_MUTEX_INIT;
    probe p = {.mutex = &mutex};
    ft_mutex_lock(&mutex);
    ft_thread *t = ft_thread_start(lock_and_hold_worker, &p);
    if (t == NULL || !wait_until_parked(&mutex)) {
        return -2;
    }
    sleep_detached_us(5000);  // the waiter has now been parked > 1 ms
    uint64_t before = ft_stats_get("mutex_handoffs");
    ft_mutex_unlock(&mutex);
    bool barged = ft_mutex_try_lock(&mutex);
    bool locked_after = barged || ft_mutex_is_locked(&mutex);
    if (barged) {
        ft_mutex_unlock(&mutex);
    }
    ft_test_wait_flag(&p.result, WAIT_LIMIT_S);
    ft_test_store_flag(&p.release, 1);
    ft_thread_join(t);  // folds the waiter's counters into the totals
    bool handed = ft_stats_get("mutex_handoffs") > before;
    if (handed && (barged || !locked_after)) {
        return -1;
    }
    return handed ? 1 : 0;
}

FT_TEST(mutex_handoff_after_1ms)
{
    int handoffs = 0;
    for (int attempt = 0; attempt < 20 && handoffs == 0; attempt++) {
        int r = handoff_attempt();
        FT_REQUIRE(r != -2, "could not set up a parked waiter");
        FT_EXPECT(r != -1, "the byte showed unlocked after a handoff (M2)");
        handoffs += r == 1;
    }
    FT_EXPECT(handoffs > 0, "a waiter parked for > 1 ms was never handed the lock");
}

// ------------------------------------------------------------ misuse
static void
unlock_free_mutex(void *arg)
{
    ft_mutex *mutex = arg;
    ft_mutex_unlock(mutex);
}

FT_TEST(mutex_unlock_unlocked_is_fatal)
{
    ft_mutex free_mutex = FT_MUTEX_INIT;
    FT_EXPECT(ft_test_expect_death(unlock_free_mutex, &free_mutex,
                                   "unlocking an ft_mutex that is not locked"),
              "unlock of a free mutex did not abort with the message");
    // Unlocked with the PARKED bit left by a waiter: still not locked.
    ft_mutex parked_only = {FT_MUTEX_PARKED};
    FT_EXPECT(ft_test_expect_death(unlock_free_mutex, &parked_only,
                                   "unlocking an ft_mutex that is not locked"),
              "unlock of a free, parked-bit mutex did not abort");
}

// ------------------------------------------------------------ stop-the-world
FT_TEST(mutex_parked_locker_lets_the_world_stop)
{
    ft_mutex mutex = FT_MUTEX_INIT;
    probe p = {.mutex = &mutex};
    ft_mutex_lock(&mutex);
    ft_thread *t = ft_thread_start(lock_and_hold_worker, &p);
    FT_REQUIRE(t != NULL, "ft_thread_start: %s", ft_err_message());
    FT_EXPECT(wait_until_parked(&mutex), "the locker never parked");
    // The parked locker detached, so a pause does not wait for it.
    FT_EXPECT(ft_gc_collect() >= 0, "collection failed: %s", ft_err_message());
    ft_mutex_unlock(&mutex);
    FT_EXPECT(ft_test_wait_flag(&p.result, WAIT_LIMIT_S), "locker hung after the pause");
    ft_test_store_flag(&p.release, 1);
    ft_thread_join(t);
}

// ------------------------------------------------------------ ft_once
typedef struct once_shared {
    ft_once once;
    _Atomic(int) calls;
    int value;  // written by the successful initializer
} once_shared;

static int
init_fails_first(void *arg)
{
    once_shared *s = arg;
    // relaxed: counted only by the single runner at a time
    int n = atomic_fetch_add_explicit(&s->calls, 1, memory_order_relaxed) + 1;
    sleep_detached_us(2000);  // racing callers park meanwhile
    if (n == 1) {
        return -1;
    }
    s->value = 42;
    return 0;
}

FT_TEST(once_failing_initializer_retries)
{
    once_shared s = {.once = FT_ONCE_INIT};
    FT_EXPECT_EQ(ft_once_call(&s.once, init_fails_first, &s), -1, "first (failing) run");
    FT_EXPECT_EQ(ft_once_call(&s.once, init_fails_first, &s), 0, "retry");
    FT_EXPECT_EQ(ft_once_call(&s.once, init_fails_first, &s), 0, "after success");
    // relaxed: single-threaded here
    FT_EXPECT_EQ(atomic_load_explicit(&s.calls, memory_order_relaxed), 2, "initializer runs");
    FT_EXPECT_EQ(s.value, 42, "initialized value");
}

typedef struct once_caller {
    once_shared *shared;
    int seen;  // written by the worker, read after join
} once_caller;

static void
once_worker(void *arg)
{
    once_caller *c = arg;
    while (ft_once_call(&c->shared->once, init_fails_first, c->shared) != 0) {
    }
    c->seen = c->shared->value;  // ordered by ft_once's acquire
}

FT_TEST(once_racing_callers)
{
    enum { THREADS = 4 };
    once_shared s = {.once = FT_ONCE_INIT};
    once_caller callers[THREADS];
    ft_thread *threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        callers[i] = (once_caller){.shared = &s};
        threads[i] = ft_thread_start(once_worker, &callers[i]);
        FT_REQUIRE(threads[i] != NULL, "ft_thread_start: %s", ft_err_message());
    }
    for (int i = 0; i < THREADS; i++) {
        ft_thread_join(threads[i]);
        FT_EXPECT_EQ(callers[i].seen, 42, "a caller returned before initialization");
    }
    // relaxed: read after every join
    FT_EXPECT_EQ(atomic_load_explicit(&s.calls, memory_order_relaxed), 2,
                 "one failed run, then exactly one good run");
}

// ------------------------------------------------------------ ft_event
typedef struct event_shared {
    ft_event event;
    int data;              // written before ft_event_set
    _Atomic(int) waiting;  // waiters about to wait
    int seen[3];           // per waiter, read after join
} event_shared;

typedef struct event_waiter {
    event_shared *shared;
    int index;
} event_waiter;

static void
event_worker(void *arg)
{
    event_waiter *w = arg;
    // relaxed: a count the main thread polls
    atomic_fetch_add_explicit(&w->shared->waiting, 1, memory_order_relaxed);
    ft_event_wait(&w->shared->event);
    w->shared->seen[w->index] = w->shared->data;  // ordered by the event
}

FT_TEST(event_set_wakes_all_waiters)
{
    event_shared s = {.event = FT_EVENT_INIT};
    FT_EXPECT(!ft_event_is_set(&s.event), "fresh event is set");
    FT_EXPECT(!ft_event_wait_timed(&s.event, 1000000), "timed wait on an unset event");
    event_waiter waiters[3];
    ft_thread *threads[3];
    for (int i = 0; i < 3; i++) {
        waiters[i] = (event_waiter){&s, i};
        threads[i] = ft_thread_start(event_worker, &waiters[i]);
        FT_REQUIRE(threads[i] != NULL, "ft_thread_start: %s", ft_err_message());
    }
    // relaxed: a count we poll; the event carries the data
    for (int i = 0;
         i < WAIT_LIMIT_S * 1000 && atomic_load_explicit(&s.waiting, memory_order_relaxed) < 3;
         i++) {
        sleep_detached_us(1000);
    }
    sleep_detached_us(2000);  // most likely parked by now; either way must work
    s.data = 7;
    ft_event_set(&s.event);
    for (int i = 0; i < 3; i++) {
        ft_thread_join(threads[i]);
        FT_EXPECT_EQ(s.seen[i], 7, "a waiter returned before the set");
    }
    FT_EXPECT(ft_event_is_set(&s.event), "set event reads unset");
    FT_EXPECT(ft_event_wait_timed(&s.event, 1000000), "timed wait on a set event");
    ft_event_wait(&s.event);  // returns at once
    ft_event_set(&s.event);   // setting twice is harmless
    FT_EXPECT(ft_event_is_set(&s.event), "set twice");
}
