// locking/locking_internal.h: what the locking files share and the rest of
// the runtime may use beyond runtime_internal.h: the 3-state futex lock of
// the parking buckets, futex wrappers, the debug lock-rank witness, and
// non-detaching variants of the public waits.
#ifndef FT_LOCKING_LOCKING_INTERNAL_H
#define FT_LOCKING_LOCKING_INTERNAL_H

#ifndef FT_BUILD_CORE
#    error "locking_internal.h is private to the ftrt runtime"
#endif

#include <stdbool.h>
#include <stddef.h>  // runtime/atomic.h uses size_t without including it
#include <stdint.h>

#include "locking/locking.h"
#include "runtime/atomic.h"
#include "runtime/config.h"
#include "runtime/runtime_internal.h"


// ------------------------------------------------------------ futex
// Sleeps while *word == expected, until a wake, a signal or deadline_ns
// (absolute CLOCK_MONOTONIC, -1 for none). Spurious returns are allowed:
// callers re-check their condition in a loop.
void ft_futex_wait(_Atomic(uint32_t) *word, uint32_t expected, int64_t deadline_ns);
// Wakes up to `count` threads sleeping on word (private futex: the word is
// not read, so it may already be dead memory).
void ft_futex_wake(_Atomic(uint32_t) *word, int count);

// ------------------------------------------------------------ ft_rawlock
// The lock of a parking bucket: a 3-state futex word, no parking lot, no
// detach, no owner. Held only for a few loads and stores (queue edits).
//
// ft_rawlock.word
//   value | meaning                      | set by
//   0     | unlocked                     | ft_rawlock_unlock()
//   1     | locked, nobody sleeps        | ft_rawlock_lock() CAS
//   2     | locked, sleepers may exist   | a contender's exchange
typedef struct ft_rawlock {
    _Atomic(uint32_t) word;  // atomic: lock protocol (acquire / release)
} ft_rawlock;
#define FT_RAWLOCK_INIT \
    {                   \
        0               \
    }
static_assert(sizeof(ft_rawlock) == 4, "a futex word is 32 bits");

void ft_rawlock_lock_slow(ft_rawlock *lock);
void ft_rawlock_unlock_slow(ft_rawlock *lock);

static inline void
ft_rawlock_lock(ft_rawlock *lock)
{
    uint32_t expected = 0;
    // pairs: release in ft_rawlock_unlock() / ft_rawlock_unlock_slow()
    if (!ft_atomic_cas_acquire_u32(&lock->word, &expected, 1)) {
        ft_rawlock_lock_slow(lock);
    }
}

// Fatal if the lock is not held.
static inline void
ft_rawlock_unlock(ft_rawlock *lock)
{
    uint32_t expected = 1;
    // pairs: acquire in ft_rawlock_lock() / ft_rawlock_lock_slow()
    if (!ft_atomic_cas_release_u32(&lock->word, &expected, 0)) {
        ft_rawlock_unlock_slow(lock);
    }
}

// ------------------------------------------------------------ parking lot
// ft_parking_park() for a waiter that has been waiting since since_ns
// (CLOCK_MONOTONIC; -1: from now): the unparker's decide() sees the time
// since then, so a waiter that keeps losing the race to bargers after each
// wake-up still reaches the handoff threshold.
int ft_parking_park_since(const void *addr, bool (*validate)(const void *addr, void *arg),
                          void *arg, int64_t deadline_ns, bool detach, int64_t since_ns);

// ------------------------------------------------------------ ft_mutex
// ft_mutex_try_lock() inlined, for critical sections' fast path. Barges: a
// waiter may be parked (PARKED set) while the byte is unlocked.
static inline bool
ft_mutex_try_lock_inline(ft_mutex *mutex)
{
    // relaxed: a snapshot; the CAS decides
    uint8_t bits = ft_atomic_load_relaxed_u8(&mutex->bits);
    while (!(bits & FT_MUTEX_LOCKED)) {
        // pairs: release in ft_mutex_unlock() / decide_unlock() (mutex.c)
        if (ft_atomic_cas_acquire_u8(&mutex->bits, &bits, bits | FT_MUTEX_LOCKED)) {
            return true;
        }
    }
    return false;
}

// ------------------------------------------------------------ internal locks
// A try-lock that the witness records, for internal locks that are
// sometimes only tried (the QSBR orphan queue); release it with
// ft_mutex_unlock_internal().
bool ft_mutex_try_lock_internal(ft_mutex *mutex, ft_lock_rank rank);
// Number of internal locks the calling thread holds (debug builds; 0 in
// release builds). Blocking detached with one held breaks K1.
int ft_witness_held_count(void);

// ------------------------------------------------------------ events
// ft_event_wait_timed() without detaching: for runtime code that must not
// detach (a stop-the-world requester waiting on its threads).
bool ft_event_wait_timed_internal(ft_event *event, int64_t timeout_ns);

#endif
