/* tests/model/mutex.pml: the ft_mutex protocol (DESIGN.md §4.4), for spin.
 *
 * Checked: mutual exclusion; the byte reads LOCKED whenever someone owns
 * the mutex, in particular after a handoff (M2); PARKED is set whenever a
 * waiter is queued (M1); no lost wake-up: no waiter sleeps forever (spin
 * reports it as an invalid end state, since the monitor then never sees
 * every thread finish); no unlock of an unlocked byte; at the end the
 * queue is empty and the byte reads 0 (a stale PARKED may remain only
 * after a timeout, and is cleared by the next unlock).
 *
 * Model: NTHREADS threads each run ROUNDS lock/unlock pairs on one mutex
 * (thread 0 with a deadline when TIMEOUTS is defined, as
 * ft_mutex_lock_timed). Each C atomic is one Promela step (d_step); plain
 * accesses under the bucket lock are separate steps. Nondeterminism stands
 * for what the model leaves out: whether a waiter waited over 1 ms
 * (HANDOFF vs WOKEN), when a deadline passes, and the bounded spin (a
 * locker that sees LOCKED may go straight to parking; spinning only
 * re-reads the byte, which the loop already does). Detaching while parked
 * and the parking lot's other addresses are not modelled (one address per
 * bucket; `more` is then "another waiter queued").
 *
 * States and labels -> C (locking/mutex.c, locking/parking.c,
 * locking/locking.h, locking/locking_internal.h):
 *   bits                     ft_mutex.bits (LOCKED 1, PARKED 2)
 *   bucket_lock              bucket.lock (ft_rawlock; its own protocol is
 *                            Drepper's, taken here as an atomic test-and-set)
 *   queue/qlen/queued[]      bucket.head/tail FIFO, ft_parking_waiter.queued
 *   park_word[]              ft_thread.park_word (0 waiting, 1 WOKEN,
 *                            2 HANDOFF)
 *   fast_lock:               ft_mutex_lock() CAS 0 -> LOCKED (locking.h)
 *   slow_load:               lock_slow() relaxed load of the byte
 *   barge:                   lock_slow() CAS v -> v|LOCKED (barging)
 *   deadline:                lock_slow() deadline check (timed lock only)
 *   set_parked:              lock_slow() CAS v -> v|PARKED (M1)
 *   park_validate:           ft_parking_park_since(): bucket lock, validate
 *                            still_locked_and_parked() (M3), else AGAIN
 *   park_enqueue:            park_word = 0; enqueue_lock_held(); unlock
 *   park_sleep:              sleep_queued() -> wait_for_word() acquire load
 *   park_timeout:            finish_timeout(): dequeue ourselves (TIMEOUT)
 *                            or wait for the unparker's word (M4)
 *   handed_off:              lock_slow() returns on FT_PARK_HANDOFF (M2)
 *   fast_unlock:             ft_mutex_unlock() CAS LOCKED -> 0 (locking.h)
 *   slow_unlock:             ft_mutex_unlock_slow(): fatal if not LOCKED;
 *                            PARKED -> unpark, else CAS v -> 0
 *   unpark_dequeue:          ft_parking_unpark_one(): bucket lock, first
 *                            waiter, `more`, unlink_lock_held()
 *   decide:                  decide_unlock() store_release of the byte,
 *                            under the bucket lock (HANDOFF keeps LOCKED)
 *   unpark_wake:             wake_word(): store_release(park_word), after
 *                            the bucket unlock
 *
 * Run: spin -a mutex.pml && gcc -O2 -DSAFETY -o pan pan.c && ./pan
 * (tests/model/check.sh mutex; also with -DTIMEOUTS). */

#ifndef NTHREADS
#define NTHREADS 3
#endif
#ifndef ROUNDS
#define ROUNDS 2
#endif

#define LOCKED 1
#define PARKED 2

#define WOKEN 1      /* FT_PARK_WOKEN (park_word value) */
#define HANDOFF 2    /* FT_PARK_HANDOFF (park_word value) */
#define TIMEOUT 3    /* FT_PARK_TIMEOUT */
#define AGAIN 4      /* FT_PARK_AGAIN */
#define NOBODY 255

byte bits;
bool bucket_lock;
byte queue[NTHREADS];
byte qlen;
bool queued[NTHREADS];
byte park_word[NTHREADS];
byte owners;        /* ghost: threads that own the mutex now */
byte finished;      /* ghost: threads done with all rounds */

inline cas(expect, desired, ok)
{
    d_step {
        if
        :: bits == expect -> bits = desired; ok = true
        :: else -> expect = bits; ok = false
        fi
    }
}

inline rawlock_lock()
{
    atomic { !bucket_lock -> bucket_lock = true }
}

inline rawlock_unlock()
{
    bucket_lock = false
}

/* unlink_lock_held() of the waiter at queue[at] */
inline unlink(at)
{
    d_step {
        queued[queue[at]] = false;
        i = at;
        do
        :: i + 1 < qlen -> queue[i] = queue[i + 1]; i++
        :: else -> break
        od;
        qlen--;
        queue[qlen] = 0;
        i = 0
    }
}

inline own()
{
    d_step {
        assert(bits & LOCKED);
        assert(owners == 0);
        owners++
    }
}

/* ft_parking_park_since(&bits, still_locked_and_parked, ...) -> r */
inline park(me, timed, r)
{
    r = 0;
park_validate:
    atomic { !bucket_lock -> bucket_lock = true };   /* rawlock_lock() */
    if
    :: bits != (LOCKED | PARKED) ->
        rawlock_unlock();
        r = AGAIN
    :: else ->
park_enqueue:
        d_step {
            assert(bits & PARKED);   /* M1 */
            park_word[me] = 0;
            queue[qlen] = me;
            qlen++;
            queued[me] = true
        }
        rawlock_unlock();
park_sleep:
        if
        :: park_word[me] != 0 -> r = park_word[me]
        :: timed ->
park_timeout:
            atomic { !bucket_lock -> bucket_lock = true };
            if
            :: queued[me] ->
                i = 0;
                do
                :: queue[i] == me -> break
                :: else -> i++
                od;
                unlink(i);
                rawlock_unlock();
                r = TIMEOUT
            :: else ->
                rawlock_unlock();
                park_word[me] != 0;   /* M4: the unparker's store is coming */
                r = park_word[me]
            fi
        fi
    fi
}

/* lock_slow(): got is true once we own the mutex, false on timeout */
inline lock_slow(me, timed, got)
{
    do
    :: true ->
slow_load:
        b = bits;
        if
        :: !(b & LOCKED) ->
barge:
            cas(b, b | LOCKED, got);
            if
            :: got -> break
            :: else -> skip
            fi
        :: else ->
            if
            :: timed ->
deadline:
                got = false;
                break
            :: true -> skip
            fi;
            if
            :: !(b & PARKED) ->
set_parked:
                cas(b, b | PARKED, got)
            :: else -> got = true
            fi;
            if
            :: got ->
                park(me, timed, r);
                if
                :: r == HANDOFF ->
handed_off:
                    assert(bits & LOCKED);   /* M2 */
                    got = true;
                    break
                :: r == TIMEOUT ->
                    got = false;
                    break
                :: else -> skip   /* WOKEN or AGAIN: compete again */
                fi
            :: else -> skip
            fi
        fi
    od
}

/* ft_parking_unpark_one(&bits, decide_unlock, ...) */
inline unpark_one()
{
    w = NOBODY;
unpark_dequeue:
    atomic { !bucket_lock -> bucket_lock = true };
    if
    :: qlen > 0 ->
        w = queue[0];
        unlink(0);
        more = qlen > 0
    :: else -> more = false
    fi;
decide:
    if
    :: w != NOBODY ->   /* waited over 1 ms: hand the lock over */
        bits = LOCKED | (more -> PARKED : 0);
        r = HANDOFF
    :: true ->
        bits = (more -> PARKED : 0);
        r = WOKEN
    fi;
    rawlock_unlock();
unpark_wake:
    if
    :: w != NOBODY -> park_word[w] = r
    :: else -> skip
    fi
}

inline unlock()
{
    d_step {
        assert(owners == 1);
        owners--
    }
fast_unlock:
    b = LOCKED;
    cas(b, 0, ok);
    if
    :: ok -> skip
    :: else ->
slow_unlock:
        b = bits;
        do
        :: true ->
            assert(b & LOCKED);   /* ft_fatal: unlocking an unlocked mutex */
            if
            :: b & PARKED ->
                unpark_one();
                break
            :: else ->
                cas(b, 0, ok);
                if
                :: ok -> break
                :: else -> skip
                fi
            fi
        od
    fi
}

proctype thread(byte me; bool timed)
{
    byte b, r, w, i, round;
    bool ok, got, more;
    do
    :: round < ROUNDS ->
fast_lock:
        b = 0;
        cas(b, LOCKED, got);
        if
        :: !got -> lock_slow(me, timed, got)
        :: else -> skip
        fi;
        if
        :: got ->
            own();
            unlock()
        :: else -> skip   /* timed out */
        fi;
        round++
    :: else -> break
    od;
    finished++
}

/* Waits for every thread: if one sleeps forever, this never returns and
 * spin reports an invalid end state. */
active proctype monitor()
{
    finished == NTHREADS;
    assert(qlen == 0);
    assert(owners == 0);
#ifdef TIMEOUTS
    assert(bits == 0 || bits == PARKED);
#else
    assert(bits == 0);
#endif
}

init
{
    byte n;
    atomic {
        n = 0;
        do
        :: n < NTHREADS ->
#ifdef TIMEOUTS
            run thread(n, n == 0);
#else
            run thread(n, false);
#endif
            n++
        :: else -> break
        od
    }
}
