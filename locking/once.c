// locking/once.c: one-time initialization (ft_once) and one-shot events
// (ft_event), both a byte plus the parking lot.
//
// Invariant (ft_once): state goes NEW -> RUNNING (exactly one runner, by
// CAS) -> DONE (final) or back to NEW (the initializer failed); a caller
// returns 0 only after reading DONE with acquire, so it sees everything the
// successful initializer wrote. Waiters park only while they read RUNNING
// under the bucket lock, and the runner unparks everyone after its store, so
// no waiter misses the end of a run.
//
// Invariant (ft_event): state goes UNSET -> (WAITERS ->) SET and never back;
// a waiter parks only while it reads WAITERS under the bucket lock, and the
// setter that replaces WAITERS by SET unparks everyone after its exchange.
//
// Origin: CPython's _PyOnceFlag and PyEvent (Python/lock.c), re-derived; we
// differ in the three-value once byte (no separate "has waiters" bit: a run
// ends with one unpark_all, paid once per flag).
#include "locking/locking_internal.h"

enum { ONCE_NEW = 0, ONCE_RUNNING = 1, ONCE_DONE = 2 };
enum { EVENT_UNSET = 0, EVENT_SET = 1, EVENT_WAITERS = 2 };

static bool
byte_equals(const void *addr, void *arg)
{
    // relaxed: runs under the bucket lock, which orders it against the
    // store that precedes the unpark_all
    return ft_atomic_load_relaxed_u8((const _Atomic(uint8_t) *)addr) == (uint8_t)(uintptr_t)arg;
}

// ------------------------------------------------------------ ft_once
static int
run_once(ft_once *once, int (*init)(void *), void *arg)
{
    int result = init(arg);
    // A failing initializer (negative result) lets the next caller retry.
    // pairs: acquire load in ft_once_call()
    ft_atomic_store_release_u8(&once->state, result < 0 ? ONCE_NEW : ONCE_DONE);
    ft_parking_unpark_all(&once->state);
    return result;
}

int
ft_once_call(ft_once *once, int (*init)(void *), void *arg)
{
    for (;;) {
        // pairs: release store in run_once()
        uint8_t state = ft_atomic_load_acquire_u8(&once->state);
        if (state == ONCE_DONE) {
            return 0;
        }
        // pairs: release store in run_once() (a failed runner's writes)
        if (state == ONCE_NEW && ft_atomic_cas_acquire_u8(&once->state, &state, ONCE_RUNNING)) {
            return run_once(once, init, arg);
        }
        if (state == ONCE_RUNNING) {
            ft_parking_park(&once->state, byte_equals, (void *)(uintptr_t)ONCE_RUNNING, -1, true);
        }
    }
}

// ------------------------------------------------------------ ft_event
void
ft_event_set(ft_event *event)
{
    // pairs: acquire loads in event_wait() / ft_event_is_set()
    uint8_t old = ft_atomic_exchange_release_u8(&event->state, EVENT_SET);
    if (old == EVENT_WAITERS) {
        ft_parking_unpark_all(&event->state);
    }
}

bool
ft_event_is_set(const ft_event *event)
{
    // pairs: release exchange in ft_event_set()
    return ft_atomic_load_acquire_u8(&event->state) == EVENT_SET;
}

// deadline_ns: absolute, or -1 for none. Returns whether the event is set.
static bool
event_wait(ft_event *event, int64_t deadline_ns, bool detach)
{
    for (;;) {
        // pairs: release exchange in ft_event_set()
        uint8_t state = ft_atomic_load_acquire_u8(&event->state);
        if (state == EVENT_SET) {
            return true;
        }
        // relaxed: WAITERS only asks the setter to unpark; the data comes
        // with its release exchange
        if (state == EVENT_UNSET &&
            !ft_atomic_cas_relaxed_u8(&event->state, &state, EVENT_WAITERS)) {
            continue;
        }
        int result = ft_parking_park(&event->state, byte_equals, (void *)(uintptr_t)EVENT_WAITERS,
                                     deadline_ns, detach);
        if (result == FT_PARK_TIMEOUT) {
            return ft_event_is_set(event);
        }
    }
}

void
ft_event_wait(ft_event *event)
{
    event_wait(event, -1, true);
}

static int64_t
deadline_after(int64_t timeout_ns)
{
    int64_t now = ft_monotonic_ns();
    return timeout_ns > INT64_MAX - now ? -1 : now + timeout_ns;
}

bool
ft_event_wait_timed(ft_event *event, int64_t timeout_ns)
{
    if (timeout_ns <= 0) {
        return ft_event_is_set(event);
    }
    return event_wait(event, deadline_after(timeout_ns), true);
}

bool
ft_event_wait_timed_internal(ft_event *event, int64_t timeout_ns)
{
    if (timeout_ns <= 0) {
        return ft_event_is_set(event);
    }
    return event_wait(event, deadline_after(timeout_ns), false);
}
