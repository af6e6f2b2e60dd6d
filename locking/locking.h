// locking/locking.h: the 1-byte ft_mutex, once, events and critical sections.
//
// ft_mutex.bits
//   bit | name             | set by                          | cleared by
//   0   | FT_MUTEX_LOCKED  | lock CAS, or unlock_slow handoff | ft_mutex_unlock()/unlock_slow
//   1   | FT_MUTEX_PARKED  | lock_slow before parking (M1)   | unpark of the last waiter
//
// Critical-section semantics users accept (DESIGN.md §4.5): a section is
// atomic only until the thread blocks. Anything that can detach -- a
// contended lock (also in a nested section or a destructor run by
// ft_decref), FT_BEGIN_ALLOW_THREADS, ft_safepoint(), ft_thread_join -- may
// let another thread in; re-validate after. Nested single sections are not
// two-object atomicity (use FT_CS_BEGIN2). Sections are LIFO. A section
// protects its object's fields, not objects reachable from it, and lock-free
// readers ignore it. In the GIL build sections compile to a brace pair.
#ifndef FT_LOCKING_LOCKING_H
#define FT_LOCKING_LOCKING_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/atomic.h"
#include "runtime/config.h"
#include "runtime/runtime.h"

// Whether critical sections take object locks (the FT build), and whether
// the build itself is the global-lock one (STYLE.md rule 11: FT_GIL is read
// here, in runtime/config.h, runtime/atomic.h and refcount/refcount.h only).
#define FT_CS_ENABLED (!FT_GIL)
#define FT_GIL_BUILD FT_GIL

typedef struct ft_mutex {
    _Atomic(uint8_t) bits;   // atomic: lock protocol (acquire / release)
} ft_mutex;
static_assert(sizeof(ft_mutex) == 1, "ft_mutex lives in every object header");

#define FT_MUTEX_UNLOCKED 0u
#define FT_MUTEX_LOCKED 1u
#define FT_MUTEX_PARKED 2u
#define FT_MUTEX_INIT {0}

FT_API void ft_mutex_lock_slow(ft_mutex *mutex);
FT_API void ft_mutex_unlock_slow(ft_mutex *mutex);

// Locks, detaching while it waits (releases critical sections, lets a
// stop-the-world proceed, drops the GIL).
static inline void
ft_mutex_lock(ft_mutex *mutex)
{
    uint8_t expected = FT_MUTEX_UNLOCKED;
    // pairs: release in ft_mutex_unlock() / ft_mutex_unlock_slow()
    if (!ft_atomic_cas_acquire_u8(&mutex->bits, &expected, FT_MUTEX_LOCKED)) {
        ft_mutex_lock_slow(mutex);
    }
}

// Unlocking a mutex that is not locked is fatal in every build.
static inline void
ft_mutex_unlock(ft_mutex *mutex)
{
    uint8_t expected = FT_MUTEX_LOCKED;
    // pairs: acquire in ft_mutex_lock() / ft_mutex_lock_slow()
    if (!ft_atomic_cas_release_u8(&mutex->bits, &expected, FT_MUTEX_UNLOCKED)) {
        ft_mutex_unlock_slow(mutex);
    }
}

FT_API bool ft_mutex_try_lock(ft_mutex *mutex);
// Waits at most timeout_ns (detached). Returns true if locked.
FT_API bool ft_mutex_lock_timed(ft_mutex *mutex, int64_t timeout_ns);
FT_API bool ft_mutex_is_locked(const ft_mutex *mutex);

// One-time initialization: init(arg) runs once; a failing init (-1) resets
// the flag so a later caller retries. Returns init's result or 0.
typedef struct ft_once {
    _Atomic(uint8_t) state;   // atomic: 0 new, 1 running, 2 done (release/acquire)
} ft_once;
#define FT_ONCE_INIT {0}
FT_API int ft_once_call(ft_once *once, int (*init)(void *), void *arg);

// A one-shot event: set once, waited on by many (detached while waiting).
typedef struct ft_event {
    _Atomic(uint8_t) state;   // atomic: setter (release) / waiters (acquire)
} ft_event;
#define FT_EVENT_INIT {0}
FT_API void ft_event_set(ft_event *event);
FT_API bool ft_event_is_set(const ft_event *event);
FT_API void ft_event_wait(ft_event *event);
FT_API bool ft_event_wait_timed(ft_event *event, int64_t timeout_ns);

// ------------------------------------------------------------ critical sections
// FT_CS_BEGIN(obj) needs the complete ft_object type (refcount/refcount.h,
// which ftrt.h includes) where it is expanded.
struct ft_object;
typedef struct ft_cs {
    uintptr_t prev;     // owner only: previous top | FT_CS_INACTIVE
    ft_mutex *m1;       // owner only: NULL = owns nothing (C2)
    ft_mutex *m2;       // owner only: second mutex of a two-object section
} ft_cs;
#define FT_CS_INACTIVE ((uintptr_t)1)
static_assert(_Alignof(ft_cs) >= 4, "ft_cs pointers keep two tag bits");

FT_API void ft_cs_begin(ft_cs *cs, struct ft_object *obj);
FT_API void ft_cs_begin2(ft_cs *cs, struct ft_object *a, struct ft_object *b);
FT_API void ft_cs_end(ft_cs *cs);
// Same, on a bare mutex (for runtime-owned structures).
FT_API void ft_cs_begin_mutex(ft_cs *cs, ft_mutex *mutex);

#if !FT_GIL && !FT_DEBUG
// Inline fast paths (STYLE rule 4): one CAS and a push to begin, one CAS and
// a pop to end; everything else -- contention, recursion on a held mutex,
// two-object sections, resuming a suspended outer section -- goes out of
// line. Measured: the out-of-line pair cost an own-list append about 8 ns
// of its ~36 ns (bench_objects_containers, release-ft). Debug builds always
// take the out-of-line path, which asserts the caller is attached and is not
// a pause's requester; a requester that reaches this fast path has found
// the mutex free, so it cannot block on a stopped thread (T4's hazard).
static inline void
ft_cs_begin_fast(ft_cs *cs, ft_mutex *mutex)
{
    uint8_t expected = FT_MUTEX_UNLOCKED;
    // pairs: release in ft_mutex_unlock() / ft_mutex_unlock_slow()
    if (FT_LIKELY(ft_atomic_cas_acquire_u8(&mutex->bits, &expected, FT_MUTEX_LOCKED))) {
        cs->m1 = mutex;
        cs->m2 = NULL;
        cs->prev = ft_tls.cs_top;
        ft_tls.cs_top = (uintptr_t)cs;
        return;
    }
    ft_cs_begin_mutex(cs, mutex);
}

static inline void
ft_cs_end_fast(ft_cs *cs)
{
    if (FT_LIKELY(cs->m1 != NULL && cs->m2 == NULL && (cs->prev & FT_CS_INACTIVE) == 0)) {
        ft_mutex_unlock(cs->m1);
        ft_tls.cs_top = cs->prev;
        return;
    }
    ft_cs_end(cs);
}
#else
#  define ft_cs_begin_fast(cs, mutex) ft_cs_begin_mutex((cs), (mutex))
#  define ft_cs_end_fast(cs) ft_cs_end(cs)
#endif

#if FT_GIL
#  define FT_CS_BEGIN(obj)                                                     \
    {                                                                          \
        (void)(obj);
#  define FT_CS_BEGIN2(a, b)                                                   \
    {                                                                          \
        (void)(a);                                                             \
        (void)(b);
#  define FT_CS_END() }
#else
// Nested sections declare the same frame name in nested blocks on purpose
// (FT_CS_END finds the innermost one); silence -Wshadow for that line only.
#  define FT_CS_FRAME_DECL                                                     \
    _Pragma("GCC diagnostic push")                                             \
    _Pragma("GCC diagnostic ignored \"-Wshadow\"")                            \
    ft_cs ft_cs_frame_;                                                        \
    _Pragma("GCC diagnostic pop")
#  define FT_CS_BEGIN(obj)                                                     \
    {                                                                          \
        FT_CS_FRAME_DECL                                                       \
        ft_cs_begin_fast(&ft_cs_frame_, &((struct ft_object *)(obj))->ob_mutex);
#  define FT_CS_BEGIN2(a, b)                                                   \
    {                                                                          \
        FT_CS_FRAME_DECL                                                       \
        ft_cs_begin2(&ft_cs_frame_, (struct ft_object *)(a),                   \
                     (struct ft_object *)(b));
#  define FT_CS_END()                                                          \
    ft_cs_end_fast(&ft_cs_frame_);                                             \
    }
#endif

#endif
