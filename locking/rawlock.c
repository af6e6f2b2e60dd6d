// locking/rawlock.c: the 3-state futex lock of the parking buckets, and the
// futex wrappers the parking lot sleeps on.
//
// Invariant: word == 0 exactly when the lock is free, and whenever a thread
// sleeps in futex_wait on the word, the word is 2, so the unlocker (which
// exchanges it to 0) sees 2 and wakes one sleeper.
//
// How: lock CASes 0 -> 1; a contender spins briefly, then exchanges the word
// to 2 and sleeps while it reads 2; it owns the lock when its exchange
// returns 0 (the word then stays 2, which costs at most one extra wake).
// Unlock exchanges to 0 and wakes one sleeper if it saw 2.
//
// Origin: Drepper, "Futexes Are Tricky" (2011), mutex type 3. We differ only
// in the short spin before sleeping: bucket critical sections are a few
// loads and stores.
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "locking/locking_internal.h"

// Spin rounds before sleeping: a bucket is held for well under a
// microsecond unless its holder was preempted, when spinning cannot help.
enum { RAWLOCK_SPINS = 64 };

void
ft_futex_wait(_Atomic(uint32_t) *word, uint32_t expected, int64_t deadline_ns)
{
    struct timespec rel;
    struct timespec *timeout = NULL;
    if (deadline_ns >= 0) {
        int64_t left = deadline_ns - ft_monotonic_ns();
        if (left <= 0) {
            return;
        }
        rel.tv_sec = (time_t)(left / 1000000000);
        rel.tv_nsec = (long)(left % 1000000000);
        timeout = &rel;
    }
    // EINTR, EAGAIN (word changed) and ETIMEDOUT all mean "re-check".
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, timeout, NULL, 0);
}

void
ft_futex_wake(_Atomic(uint32_t) *word, int count)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

void
ft_rawlock_lock_slow(ft_rawlock *lock)
{
    for (int i = 0; i < RAWLOCK_SPINS; i++) {
        uint32_t expected = 0;
        // relaxed: only a hint for when to try the CAS
        if (ft_atomic_load_relaxed_u32(&lock->word) == 0 &&
            // pairs: release in ft_rawlock_unlock() / ft_rawlock_unlock_slow()
            ft_atomic_cas_acquire_u32(&lock->word, &expected, 1)) {
            return;
        }
        ft_cpu_relax();
    }
    // Announce a sleeper before sleeping, or the unlocker would wake nobody.
    // pairs: release in ft_rawlock_unlock_slow()
    while (ft_atomic_exchange_acquire_u32(&lock->word, 2) != 0) {
        ft_futex_wait(&lock->word, 2, -1);
    }
}

void
ft_rawlock_unlock_slow(ft_rawlock *lock)
{
    // pairs: acquire in ft_rawlock_lock() / ft_rawlock_lock_slow()
    uint32_t old = ft_atomic_exchange_release_u32(&lock->word, 0);
    FT_FATAL_IF(old == 0, "unlocking an ft_rawlock that is not locked (lock %p)", (void *)lock);
    if (old == 2) {
        ft_futex_wake(&lock->word, 1);
    }
}
