// locking/parking.c: the parking lot: threads sleep keyed by an address.
//
// Invariant (M3, M4): a wait entry is in exactly one bucket queue from its
// enqueue until it is dequeued under that bucket's lock, and nobody touches
// it after; park() returns only once its entry is dequeued and, when an
// unparker dequeued it, after reading that unparker's park_word store.
//
// How: 257 static buckets {ft_rawlock, FIFO}, chosen by address. park()
// validates the caller's condition and enqueues an entry that lives on its
// own stack, both under the bucket lock, so a wake-up between the check and
// the enqueue cannot be lost. It then sleeps on its thread's persistent
// park_word (0 waiting, 1 woken, 2 handed off). An unparker dequeues under
// the bucket lock, copies the waiter's park_word pointer, unlocks, and only
// then release-stores the result into that word and futex-wakes it: after
// the unlock it touches no entry, only the persistent word, so a timed-out
// waiter never leaves a dangling entry. A waiter whose deadline passes
// dequeues itself under the bucket lock (TIMEOUT) or, already dequeued,
// waits for its word. Threads without a thread state use a thread-local
// fallback word and never detach.
//
// Why the invariant holds: the entry is reachable only through its bucket's
// queue; every queue edit holds the bucket lock; the waiter leaves park()
// only on reading its word non-zero (stored after the dequeue) or after
// dequeuing itself.
//
// Origin: WebKit's ParkingLot and CPython's Python/parking_lot.c, re-derived;
// we differ in a fixed table (no rehashing), a per-thread persistent futex
// word instead of a per-wait semaphore, and detaching while asleep.
#include <time.h>

#include "locking/locking_internal.h"

enum { BUCKET_COUNT = 257, UNPARK_ALL_BATCH = 32 };

typedef struct ft_parking_waiter ft_parking_waiter;
struct ft_parking_waiter {
    const void *addr;              // immutable while queued
    _Atomic(uint32_t) *park_word;  // immutable while queued (outlives the entry)
    int64_t enqueued_ns;           // immutable while queued (waiting since)
    ft_parking_waiter *next;       // guarded by: its bucket's lock
    bool queued;                   // guarded by: its bucket's lock
};

typedef struct bucket {
    ft_rawlock lock;
    ft_parking_waiter *head;  // guarded by: lock
    ft_parking_waiter *tail;  // guarded by: lock
} __attribute__((aligned(FT_CACHE_LINE))) bucket;

static bucket buckets[BUCKET_COUNT];

// The park word of threads without a thread state (or before registration).
static __thread _Atomic(uint32_t) fallback_park_word;  // atomic: unparker / owner
#if FT_DEBUG
// A nested park would share the park word with the outer one.
static __thread bool parked_now;  // owner only
#endif

int64_t
ft_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bucket *
bucket_for(const void *addr)
{
    return &buckets[(uintptr_t)addr % BUCKET_COUNT];
}

static void
enqueue_lock_held(bucket *b, ft_parking_waiter *w)
{
    w->next = NULL;
    w->queued = true;
    if (b->tail != NULL) {
        b->tail->next = w;
    } else {
        b->head = w;
    }
    b->tail = w;
}

// Unlinks w, whose predecessor is prev (NULL when w is the head).
static void
unlink_lock_held(bucket *b, ft_parking_waiter *prev, ft_parking_waiter *w)
{
    if (prev != NULL) {
        prev->next = w->next;
    } else {
        b->head = w->next;
    }
    if (b->tail == w) {
        b->tail = prev;
    }
    w->next = NULL;
    w->queued = false;
}

// The first waiter on addr at or after `from`; *prev gets its predecessor.
static ft_parking_waiter *
find_lock_held(ft_parking_waiter *from, ft_parking_waiter *from_prev, const void *addr,
               ft_parking_waiter **prev)
{
    ft_parking_waiter *p = from_prev;
    for (ft_parking_waiter *w = from; w != NULL; p = w, w = w->next) {
        if (w->addr == addr) {
            *prev = p;
            return w;
        }
    }
    return NULL;
}

static _Atomic(uint32_t) *
own_park_word(ft_thread *self)
{
    return self != NULL ? &self->park_word : &fallback_park_word;
}

// Waits for an unparker's store; returns it, or 0 once the deadline passed.
static uint32_t
wait_for_word(_Atomic(uint32_t) *word, int64_t deadline_ns)
{
    for (;;) {
        // pairs: release store in ft_parking_unpark_one() / ft_parking_unpark_all()
        uint32_t value = ft_atomic_load_acquire_u32(word);
        if (value != 0) {
            return value;
        }
        if (deadline_ns >= 0 && ft_monotonic_ns() >= deadline_ns) {
            return 0;
        }
        ft_futex_wait(word, 0, deadline_ns);
    }
}

// Deadline passed: leave the queue ourselves, unless an unparker already
// took us out, in which case its store to our word is imminent (M4).
static int
finish_timeout(bucket *b, ft_parking_waiter *w)
{
    ft_rawlock_lock(&b->lock);
    bool still_queued = w->queued;
    if (still_queued) {
        ft_parking_waiter *prev = NULL;
        for (ft_parking_waiter *p = b->head; p != w; p = p->next) {
            prev = p;
        }
        unlink_lock_held(b, prev, w);
    }
    ft_rawlock_unlock(&b->lock);
    if (still_queued) {
        return FT_PARK_TIMEOUT;
    }
    return (int)wait_for_word(w->park_word, -1);
}

static int
sleep_queued(bucket *b, ft_parking_waiter *w, int64_t deadline_ns, bool detach)
{
    bool was_attached = false;
    if (detach) {
        // K1: a detached thread must hold no internal lock, or a pause
        // requester that needs it would wait for us forever.
        FT_ASSERT(ft_witness_held_count() == 0,
                  "blocking detached while holding an internal lock (K1)");
        was_attached = ft_thread_detach_for_block();
    }
    int result = (int)wait_for_word(w->park_word, deadline_ns);
    if (result == 0) {
        result = finish_timeout(b, w);
    }
#if FT_DEBUG
    parked_now = false;
#endif
    // The result is in a local: attaching may park again on the same word.
    if (detach) {
        ft_thread_attach_after_block(was_attached);
    }
    return result;
}

int
ft_parking_park(const void *addr, bool (*validate)(const void *addr, void *arg), void *arg,
                int64_t deadline_ns, bool detach)
{
    return ft_parking_park_since(addr, validate, arg, deadline_ns, detach, -1);
}

int
ft_parking_park_since(const void *addr, bool (*validate)(const void *addr, void *arg), void *arg,
                      int64_t deadline_ns, bool detach, int64_t since_ns)
{
    ft_thread *self = ft_thread_self();
    bucket *b = bucket_for(addr);
    ft_parking_waiter w = {.addr = addr, .park_word = own_park_word(self)};
#if FT_DEBUG
    FT_FATAL_IF(parked_now, "nested park on %p: the thread is already parked", addr);
#endif
    int64_t since = since_ns >= 0 ? since_ns : ft_monotonic_ns();
    ft_rawlock_lock(&b->lock);
    if (validate != NULL && !validate(addr, arg)) {
        ft_rawlock_unlock(&b->lock);
        return FT_PARK_AGAIN;
    }
    // relaxed: unparkers store to it only after dequeuing us under this
    // bucket lock, which orders this reset before their store
    ft_atomic_store_relaxed_u32(w.park_word, 0);
    w.enqueued_ns = since;
    enqueue_lock_held(b, &w);
#if FT_DEBUG
    parked_now = true;
#endif
    ft_rawlock_unlock(&b->lock);
    return sleep_queued(b, &w, deadline_ns, detach && self != NULL);
}

static bool
has_waiter_lock_held(ft_parking_waiter *from, const void *addr)
{
    ft_parking_waiter *prev = NULL;
    return find_lock_held(from, NULL, addr, &prev) != NULL;
}

static void
wake_word(_Atomic(uint32_t) *word, int result)
{
    // pairs: acquire load in wait_for_word()
    ft_atomic_store_release_u32(word, (uint32_t)result);
    ft_futex_wake(word, 1);
}

bool
ft_parking_unpark_one(const void *addr, int (*decide)(void *arg, int64_t waited_ns, bool more),
                      void *arg)
{
    bucket *b = bucket_for(addr);
    ft_rawlock_lock(&b->lock);
    ft_parking_waiter *prev = NULL;
    ft_parking_waiter *w = find_lock_held(b->head, NULL, addr, &prev);
    _Atomic(uint32_t) *word = NULL;
    int64_t waited_ns = -1;
    bool more = false;
    if (w != NULL) {
        word = w->park_word;
        more = has_waiter_lock_held(w->next, addr);
        waited_ns = decide != NULL ? ft_monotonic_ns() - w->enqueued_ns : 0;
        unlink_lock_held(b, prev, w);
    }
    int result = decide != NULL ? decide(arg, waited_ns, more) : FT_PARK_WOKEN;
    FT_ASSERT(word == NULL || result == FT_PARK_WOKEN || result == FT_PARK_HANDOFF,
              "decide() must return FT_PARK_WOKEN or FT_PARK_HANDOFF");
    ft_rawlock_unlock(&b->lock);
    if (word != NULL) {
        wake_word(word, result);
    }
    return word != NULL;
}

// Dequeues up to UNPARK_ALL_BATCH waiters on addr into words[].
static size_t
take_batch(bucket *b, const void *addr, _Atomic(uint32_t) **words)
{
    size_t n = 0;
    ft_rawlock_lock(&b->lock);
    ft_parking_waiter *prev = NULL;
    ft_parking_waiter *w = b->head;
    while (w != NULL && n < UNPARK_ALL_BATCH) {
        ft_parking_waiter *next = w->next;
        if (w->addr == addr) {
            words[n++] = w->park_word;
            unlink_lock_held(b, prev, w);
        } else {
            prev = w;
        }
        w = next;
    }
    ft_rawlock_unlock(&b->lock);
    return n;
}

size_t
ft_parking_unpark_all(const void *addr)
{
    bucket *b = bucket_for(addr);
    _Atomic(uint32_t) *words[UNPARK_ALL_BATCH];
    size_t total = 0;
    size_t n;
    // Batches keep the bucket lock short; a waiter that arrives between two
    // batches is woken too, which a caller of unpark_all cannot tell from a
    // wake-up just before it parked (it re-validates).
    do {
        n = take_batch(b, addr, words);
        for (size_t i = 0; i < n; i++) {
            wake_word(words[i], FT_PARK_WOKEN);
        }
        total += n;
    } while (n == UNPARK_ALL_BATCH);
    return total;
}

void
ft_parking_after_fork_child(void)
{
    // The other threads are gone with their entries; the forking thread was
    // not parked.
    for (size_t i = 0; i < BUCKET_COUNT; i++) {
        // relaxed: the child is single-threaded
        ft_atomic_store_relaxed_u32(&buckets[i].lock.word, 0);
        buckets[i].head = NULL;
        buckets[i].tail = NULL;
    }
#if FT_DEBUG
    parked_now = false;
#endif
}
