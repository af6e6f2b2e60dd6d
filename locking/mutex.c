// locking/mutex.c: the slow paths of the 1-byte ft_mutex, internal locks and
// the debug lock-rank witness.
//
// Invariant: bit LOCKED is set exactly while some thread owns the mutex, and
// bit PARKED is set whenever a waiter may be queued on the mutex's address
// (M1: it is set before the waiter enqueues). A thread owns the mutex from
// its acquire CAS setting LOCKED, or from reading HANDOFF in its park word,
// until its unlock; after a handoff the byte never shows unlocked (M2).
//
// How: lock is one CAS (locking.h). The slow path barges (any thread may
// take an unlocked byte, even with waiters parked), spins a bounded number
// of rounds only while nobody is parked, then sets PARKED and parks on the
// byte's address, validating under the bucket lock that the byte still reads
// LOCKED|PARKED. Unlock is one CAS that fails only when PARKED is set; then
// unlock_slow wakes the first waiter under the bucket lock and, still under
// it, writes the byte: unlocked (PARKED kept if more wait) and WOKEN, or, if
// that waiter has waited over 1 ms since it first parked for this
// acquisition, LOCKED for it and HANDOFF, so a waiter cannot starve behind
// bargers.
//
// Why the invariant holds: while LOCKED|PARKED is set only the owner writes
// the byte (lockers park without writing, the PARKED CAS needs PARKED clear),
// so decide_unlock()'s plain stores race with nothing; a locker that sets
// PARKED after the unlocker's CAS failed is ordered by the bucket lock: its
// validation sees the unlocker's store, or the unlocker finds its entry.
//
// Origin: WebKit's WTF::Lock (barging, 1 ms fair handoff) and CPython's
// PyMutex (Python/lock.c), re-derived; we differ in detaching before parking
// (ft_mutex_lock) and in a non-detaching variant for internal locks.
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "locking/locking_internal.h"

// Spin rounds before parking, only while nobody is parked (DESIGN.md §4.4).
enum { SPIN_ROUNDS = 40, PAUSES_PER_ROUND = 30 };
// A waiter parked longer than this is handed the lock on unlock.
#define HANDOFF_AFTER_NS 1000000

// How a spin round waits: SPIN_DEFAULT, unless FT_MUTEX_SPIN=yield|pause
// (read once) overrides it, which bench_locking_mutex uses to compare them.
enum { SPIN_UNKNOWN = 0, SPIN_YIELD = 1, SPIN_PAUSE = 2 };
// sched_yield() rounds. bench_locking_mutex --reps 7, release-ft, 2-vCPU
// Intel Xeon VM shared with other jobs (load 1.3-2.7), ns per contended
// lock+unlock, median [min-max], yield vs pause (30 pauses per round,
// leaving early on unlock), two runs:
//   2 threads: 46.9 [41.6-58.3] vs 65.5 [47.4-81.9];  37.3 vs 48.1
//   4 threads: 43.4 [26.1-46.6] vs 61.3 [50.3-202];   28.6 vs 50.4
// Pause rounds keep both cores hammering the lock's line; a yield lets the
// owner finish. Re-measure on other hosts (DESIGN.md §4.4: they disagree).
#define SPIN_DEFAULT SPIN_YIELD
static _Atomic(int) spin_policy;  // atomic: first slow path (relaxed) / all (relaxed)

static int
current_spin_policy(void)
{
    // relaxed: every thread computes the same value from the environment
    int policy = ft_atomic_load_relaxed_int(&spin_policy);
    if (FT_UNLIKELY(policy == SPIN_UNKNOWN)) {
        const char *env = getenv("FT_MUTEX_SPIN");
        policy = SPIN_DEFAULT;
        if (env != NULL && strcmp(env, "pause") == 0) {
            policy = SPIN_PAUSE;
        } else if (env != NULL && strcmp(env, "yield") == 0) {
            policy = SPIN_YIELD;
        }
        ft_atomic_store_relaxed_int(&spin_policy, policy);  // relaxed: see above
    }
    return policy;
}

// One round: a sched_yield(), or up to PAUSES_PER_ROUND pauses that end
// early once the byte reads unlocked.
static void
spin_round(int policy, const ft_mutex *mutex)
{
    if (policy != SPIN_PAUSE) {
        sched_yield();
        return;
    }
    for (int i = 0; i < PAUSES_PER_ROUND; i++) {
        ft_cpu_relax();
        // relaxed: a hint; the caller's CAS decides
        if (!(ft_atomic_load_relaxed_u8(&mutex->bits) & FT_MUTEX_LOCKED)) {
            return;
        }
    }
}

// ------------------------------------------------------------ witness
#if FT_DEBUG
// Internal locks the thread holds, in acquisition order (K2: ranks never
// decrease along it).
enum { WITNESS_DEPTH = 16 };
typedef struct witness_entry {
    const ft_mutex *mutex;
    ft_lock_rank rank;
} witness_entry;
static __thread witness_entry witness_held[WITNESS_DEPTH];  // owner only
static __thread int witness_count;                          // owner only

static const char *
rank_name(ft_lock_rank rank)
{
    static const char *const names[] = {
        [FT_RANK_NONE] = "NONE",
        [FT_RANK_OBJECT] = "OBJECT",
        [FT_RANK_WORLD] = "WORLD",
        [FT_RANK_QSBR_ORPHANS] = "QSBR_ORPHANS",
        [FT_RANK_THREADS] = "THREADS",
        [FT_RANK_GC_LIST] = "GC_LIST",
        [FT_RANK_BRC_BUCKET] = "BRC_BUCKET",
        [FT_RANK_PARKING] = "PARKING",
    };
    if ((unsigned)rank < sizeof(names) / sizeof(names[0])) {
        return names[rank];
    }
    return "?";
}

// Ranks only rise; equal ranks are allowed (two GC lists, lower slot first).
static void
witness_check(const ft_mutex *mutex, ft_lock_rank rank, bool check_order)
{
    for (int i = 0; i < witness_count; i++) {
        const witness_entry *e = &witness_held[i];
        FT_FATAL_IF(e->mutex == mutex, "internal lock %p (rank %s) taken twice by one thread",
                    (const void *)mutex, rank_name(rank));
        FT_FATAL_IF(check_order && rank != FT_RANK_NONE && e->rank > rank,
                    "lock-rank violation: taking %s lock %p while holding %s lock %p (K2)",
                    rank_name(rank), (const void *)mutex, rank_name(e->rank),
                    (const void *)e->mutex);
    }
    FT_FATAL_IF(witness_count == WITNESS_DEPTH, "more than %d internal locks held at once",
                WITNESS_DEPTH);
}

static void
witness_push(const ft_mutex *mutex, ft_lock_rank rank)
{
    witness_held[witness_count++] = (witness_entry){mutex, rank};
}

static void
witness_pop(const ft_mutex *mutex, ft_lock_rank rank)
{
    for (int i = witness_count - 1; i >= 0; i--) {
        if (witness_held[i].mutex == mutex) {
            memmove(&witness_held[i], &witness_held[i + 1],
                    (size_t)(witness_count - 1 - i) * sizeof(witness_entry));
            witness_count--;
            return;
        }
    }
    ft_fatal("unlocking internal lock %p (rank %s) that this thread does not hold",
             (const void *)mutex, rank_name(rank));
}

int
ft_witness_held_count(void)
{
    return witness_count;
}
#else
static inline void
witness_check(const ft_mutex *mutex, ft_lock_rank rank, bool check_order)
{
    (void)mutex;
    (void)rank;
    (void)check_order;
}
static inline void
witness_push(const ft_mutex *mutex, ft_lock_rank rank)
{
    (void)mutex;
    (void)rank;
}
static inline void
witness_pop(const ft_mutex *mutex, ft_lock_rank rank)
{
    (void)mutex;
    (void)rank;
}
int
ft_witness_held_count(void)
{
    return 0;
}
#endif

// ------------------------------------------------------------ lock
static bool
still_locked_and_parked(const void *addr, void *arg)
{
    (void)arg;
    // relaxed: runs under the bucket lock, which orders it against
    // decide_unlock()'s store (M3)
    return ft_atomic_load_relaxed_u8(&((const ft_mutex *)addr)->bits) ==
           (FT_MUTEX_LOCKED | FT_MUTEX_PARKED);
}

// Parks once; returns FT_PARK_* and counts it. since_ns: when this
// acquisition first parked, so the 1 ms handoff counts every park of it.
static int
park_on(ft_mutex *mutex, int64_t deadline_ns, bool detach, int64_t since_ns)
{
    int result =
        ft_parking_park_since(mutex, still_locked_and_parked, NULL, deadline_ns, detach, since_ns);
    if (result != FT_PARK_AGAIN) {
        FT_STAT_ADD(mutex_parks, 1);
    }
    if (result == FT_PARK_HANDOFF) {
        FT_STAT_ADD(mutex_handoffs, 1);
    }
    return result;
}

// Returns true once the caller owns the mutex, false if deadline_ns
// (absolute, -1 for none) passed first. One loop on purpose: each branch
// re-reads the byte, and splitting it would re-read it in several places.
static bool
lock_slow(ft_mutex *mutex, bool detach, int64_t deadline_ns)
{
    FT_STAT_ADD(mutex_slow, 1);
    int policy = current_spin_policy();
    int spins = 0;
    int64_t first_park_ns = -1;
    for (;;) {
        FT_YIELD_POINT();
        // relaxed: a snapshot; every transition below is a CAS
        uint8_t bits = ft_atomic_load_relaxed_u8(&mutex->bits);
        if (!(bits & FT_MUTEX_LOCKED)) {
            // pairs: release in ft_mutex_unlock() / decide_unlock()
            if (ft_atomic_cas_acquire_u8(&mutex->bits, &bits, bits | FT_MUTEX_LOCKED)) {
                return true;
            }
            continue;
        }
        if (!(bits & FT_MUTEX_PARKED) && spins < SPIN_ROUNDS) {
            spins++;
            spin_round(policy, mutex);
            continue;
        }
        if (deadline_ns >= 0 && ft_monotonic_ns() >= deadline_ns) {
            return false;
        }
        // Set PARKED before parking (M1), or an unlock between our check and
        // our enqueue would take the fast path and wake nobody.
        // relaxed: the bucket lock orders it against the unlocker's unpark (M3)
        if (!(bits & FT_MUTEX_PARKED) &&
            !ft_atomic_cas_relaxed_u8(&mutex->bits, &bits, bits | FT_MUTEX_PARKED)) {
            continue;
        }
        if (first_park_ns < 0) {
            first_park_ns = ft_monotonic_ns();
        }
        int result = park_on(mutex, deadline_ns, detach, first_park_ns);
        if (result == FT_PARK_HANDOFF) {
            return true;  // M2: the byte stayed LOCKED for us
        }
        if (result == FT_PARK_TIMEOUT) {
            return false;
        }
    }
}

void
ft_mutex_lock_slow(ft_mutex *mutex)
{
    lock_slow(mutex, true, -1);
}

bool
ft_mutex_try_lock(ft_mutex *mutex)
{
    return ft_mutex_try_lock_inline(mutex);
}

bool
ft_mutex_lock_timed(ft_mutex *mutex, int64_t timeout_ns)
{
    if (ft_mutex_try_lock_inline(mutex)) {
        return true;
    }
    if (timeout_ns <= 0) {
        return false;
    }
    int64_t now = ft_monotonic_ns();
    int64_t deadline = timeout_ns > INT64_MAX - now ? -1 : now + timeout_ns;
    return lock_slow(mutex, true, deadline);
}

bool
ft_mutex_is_locked(const ft_mutex *mutex)
{
    // relaxed: a snapshot for assertions and tests
    return (ft_atomic_load_relaxed_u8(&mutex->bits) & FT_MUTEX_LOCKED) != 0;
}

// ------------------------------------------------------------ unlock
// Runs under the bucket lock of the mutex, with the byte LOCKED|PARKED, so
// nobody else writes the byte (see the invariant).
static int
decide_unlock(void *arg, int64_t waited_ns, bool more)
{
    ft_mutex *mutex = arg;
    uint8_t parked = more ? FT_MUTEX_PARKED : 0;
    if (waited_ns > HANDOFF_AFTER_NS) {
        // The waiter owns it from its park-word read (release in
        // ft_parking_unpark_one()); the byte only keeps LOCKED (M2).
        // pairs: acquire CAS of the locker after the waiter's unlock
        ft_atomic_store_release_u8(&mutex->bits, FT_MUTEX_LOCKED | parked);
        return FT_PARK_HANDOFF;
    }
    // pairs: acquire CAS in ft_mutex_lock() / lock_slow() / try-lock
    ft_atomic_store_release_u8(&mutex->bits, parked);
    return FT_PARK_WOKEN;
}

void
ft_mutex_unlock_slow(ft_mutex *mutex)
{
    FT_YIELD_POINT();
    // relaxed: a snapshot; the CAS or the bucket lock decides
    uint8_t bits = ft_atomic_load_relaxed_u8(&mutex->bits);
    for (;;) {
        FT_FATAL_IF(!(bits & FT_MUTEX_LOCKED),
                    "unlocking an ft_mutex that is not locked (mutex %p)", (void *)mutex);
        if (bits & FT_MUTEX_PARKED) {
            ft_parking_unpark_one(mutex, decide_unlock, mutex);
            return;
        }
        // pairs: acquire CAS in ft_mutex_lock() / lock_slow() / try-lock
        if (ft_atomic_cas_release_u8(&mutex->bits, &bits, FT_MUTEX_UNLOCKED)) {
            return;
        }
    }
}

// ------------------------------------------------------------ internal locks
void
ft_mutex_lock_internal(ft_mutex *mutex, ft_lock_rank rank)
{
    witness_check(mutex, rank, true);
    uint8_t expected = FT_MUTEX_UNLOCKED;
    // pairs: release in ft_mutex_unlock() / decide_unlock()
    if (!ft_atomic_cas_acquire_u8(&mutex->bits, &expected, FT_MUTEX_LOCKED)) {
        lock_slow(mutex, false, -1);
    }
    witness_push(mutex, rank);
}

bool
ft_mutex_try_lock_internal(ft_mutex *mutex, ft_lock_rank rank)
{
    // A try-lock cannot deadlock, so only a double acquisition is checked.
    witness_check(mutex, rank, false);
    if (!ft_mutex_try_lock_inline(mutex)) {
        return false;
    }
    witness_push(mutex, rank);
    return true;
}

void
ft_mutex_unlock_internal(ft_mutex *mutex, ft_lock_rank rank)
{
    witness_pop(mutex, rank);
    ft_mutex_unlock(mutex);
}
