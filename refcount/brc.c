// refcount/brc.c: biased reference counting, slow paths and merge queues
// (DESIGN.md §4.2). Built only when FT_REFCOUNT=biased in the FT build.
//
// Invariant: an object's true count is ob_ref_local + (ob_ref_shared >> 2),
// and ob_ref_local is written only by the thread whose id is in ob_tid,
// except by a merger while that thread provably cannot run: suspended by the
// merger, exited, or stopped in a pause (B1). ob_tid and ob_ref_local are
// zeroed before MERGED shows (B2); states only rise, so an object is queued
// at most once (B3); local + count >= 0, and count < 0 only while QUEUED
// (B4); each queue entry holds one reference and merging it subtracts one
// (B5); no destructor runs under a bucket lock (B6).
//
// How: the owner counts in ob_ref_local without atomics, others add to
// ob_ref_shared. When the owner's local count reaches 0 it folds the shared
// word into MERGED (or frees at once when nobody else ever counted). A
// foreign decref that finds the shared count at 0 cannot go negative without
// telling the owner: it sets QUEUED, donating its reference to the owner's
// merge queue, and later foreign decrefs may drive the count negative. The
// owner merges its queue at safepoints (FT_EB_BRC) and on detach; a queuer
// that finds the owner DETACHED suspends it by CAS and merges its whole
// queue on its behalf (so a blocked owner retains nothing, gh-157838); one
// that finds the owner gone (ids are never reused) merges on the spot. If a
// queue chunk cannot be allocated, the queuer stops the world and merges.
//
// Why it holds: merges and foreign decrefs are CASes on the one shared word,
// so exactly one thread sees MERGED|0 and deallocates. The bucket lock
// serializes queuing against the owner's drain and its exit (the exit drains
// until empty and unlinks under that lock), so every entry is merged exactly
// once; the owner's release store of DETACHED pairs with the merger's CAS,
// and the merger's release CAS back to DETACHED with the owner's attach, so a
// merge on behalf happens between the owner's last and next touch of its
// local counts. Destructors run only after the bucket lock is released.
//
// Origin: Choi et al., "Biased Reference Counting" (PACT 2018), via PEP 703
// and CPython's Python/brc.c. We differ: thread ids are serials never reused
// (CPython's thread-pointer ids let a new thread inherit a dead thread's
// objects), detached owners are merged on their behalf instead of keeping
// their queue until they return, and queue chunks that cannot be allocated
// fall back to a stop-the-world merge.
#include <stdbool.h>
#include <stdint.h>

#include "refcount/refcount.h"
#include "refcount/refcount_internal.h"
#include "runtime/runtime_internal.h"

#if !FT_REFCOUNT_BIASED
#  error "brc.c is built only with FT_REFCOUNT=biased (refcount/sources.cmake)"
#endif

// ------------------------------------------------------------ buckets
// Registered threads by tid % 257, each bucket an internal lock and a list.
#define BRC_BUCKETS 257

typedef struct brc_bucket {
    ft_mutex mutex;        // internal lock, rank FT_RANK_BRC_BUCKET
    ft_thread *threads;    // guarded by: mutex (linked through ft_thread.brc_next)
} __attribute__((aligned(FT_CACHE_LINE))) brc_bucket;

static brc_bucket brc_buckets[BRC_BUCKETS];

static brc_bucket *
bucket_of(uintptr_t tid)
{
    return &brc_buckets[tid % BRC_BUCKETS];
}

static void
bucket_lock(brc_bucket *bucket)
{
    ft_mutex_lock_internal(&bucket->mutex, FT_RANK_BRC_BUCKET);
}

static void
bucket_unlock(brc_bucket *bucket)
{
    ft_mutex_unlock_internal(&bucket->mutex, FT_RANK_BRC_BUCKET);
}

static ft_thread *
lookup_locked(brc_bucket *bucket, uintptr_t tid)
{
    for (ft_thread *t = bucket->threads; t != NULL; t = t->brc_next) {
        if (t->tid == tid) {
            return t;
        }
    }
    return NULL;
}

static void
unlink_locked(brc_bucket *bucket, ft_thread *thread)
{
    for (ft_thread **link = &bucket->threads; *link != NULL; link = &(*link)->brc_next) {
        if (*link == thread) {
            *link = thread->brc_next;
            thread->brc_next = NULL;
            return;
        }
    }
    ft_fatal("brc: thread %lu is not registered", (unsigned long)thread->tid);
}

static void
request_merge(ft_thread *owner)
{
    // pairs: acquire load in ft_safepoint_slow() (runtime/safepoint.c)
    ft_atomic_or_release_u32(owner->eval_breaker, FT_EB_BRC);
}

// ------------------------------------------------------------ merging
// Folds ob_ref_local into the shared word, adds `extra` and publishes
// MERGED. The caller has the right to ob_ref_local (B1) and happens-after
// its last writer (the owner itself, or through the state CAS, the bucket
// lock or the pause). Returns the true count after the merge; with
// keep_alive a count of 0 is stored as 1 instead (the caller keeps the
// reference, to drop it where deallocation is allowed).
static intptr_t
merge_explicit(ft_object *obj, intptr_t extra, bool keep_alive)
{
    // relaxed: an owned object's id changes only under B1, which we hold; an
    // ownerless one (merged already: a second queue entry) may be promoted
    // meanwhile, which the end of this function checks
    uintptr_t tid = ft_atomic_load_relaxed_uintptr(&obj->ob_tid);
#if FT_SHARDED_RC
    if ((intptr_t)tid < 0) {
        // Sharded since it was queued: no local count; drop the entry's
        // reference as a sharded decref does (a pause decides death).
        if (extra != 0) {
            ft_shard_header_add(obj, extra);
        }
        return 1;
    }
#endif
    // relaxed: we hold the right to it (B1), ordered as said above
    uint32_t local = ft_atomic_load_relaxed_u32(&obj->ob_ref_local);
    if (FT_UNLIKELY(local == FT_REF_LOCAL_IMMORTAL)) {
        return 1;   // owner increments overflowed into immortality: never freed (I2)
    }
    if (tid != 0) {
        // relaxed: B2 -- both are zeroed before the CAS below publishes
        // MERGED. An ownerless object's are 0 already, and its id is no
        // longer ours to write (a promotion may be publishing one).
        ft_atomic_store_relaxed_u32(&obj->ob_ref_local, 0);
        ft_atomic_store_relaxed_uintptr(&obj->ob_tid, 0);
    }
    FT_YIELD_POINT();
    // relaxed: validated by the CAS
    intptr_t shared = ft_atomic_load_relaxed_intptr(&obj->ob_ref_shared);
    intptr_t count;
    intptr_t merged;
    do {
        count = ft_ref_shared_count(shared) + (intptr_t)local + extra;
        merged = ft_ref_shared_make(keep_alive && count == 0 ? 1 : count, FT_REF_MERGED);
        // Also: the acquire load in ft_ref_merge_zero_local(), and the
        // promotion's CAS in ft_shard_promote() (after it publishes the id).
        // pairs: acq_rel CAS in ft_ref_decref_shared() / ft_ref_try_incref()
    } while (!ft_atomic_cas_acq_rel_intptr(&obj->ob_ref_shared, &shared, merged));
#if FT_SHARDED_RC
    // relaxed: if a promotion's CAS preceded ours, our acq_rel CAS made its
    // earlier id store visible; if ours came first, its donated reference
    // kept our count above 0
    if (tid == 0 && count <= 0 && (intptr_t)ft_atomic_load_relaxed_uintptr(&obj->ob_tid) < 0) {
        ft_shard_header_fell(obj);   // that was a sharded header decrement
        return 1;
    }
#endif
#if FT_DEBUG
    if (FT_UNLIKELY(count < 0)) {
        ft_ref_fatal(obj, "merge-accounting mismatch: negative count after a merge");
    }
#endif
    return count;
}

// The owner drops one reference per entry of a batch it took from its own
// queue, outside the bucket lock, and frees what reaches 0.
static void
merge_batch_as_owner(ft_object_stack *batch)
{
    if (batch->size != 0) {
        FT_STAT_ADD(brc_merged_owner, batch->size);
    }
    ft_object *obj;
    while ((obj = ft_object_stack_pop(batch)) != NULL) {
        if (merge_explicit(obj, -1, false) == 0) {
            ft_ref_dealloc(obj);
        }
    }
    ft_object_stack_fini(batch);
}

// We hold `owner` SUSPENDED (it was DETACHED: T2) and its bucket lock, so
// every local count it owns is ours to fold (B1). Merges `obj` and whatever
// was queued before the owner detached, keeping each entry's reference;
// releases the owner; drops the references outside the lock (B6). A batch
// larger than what `done` can hold without memory stays queued, merged or
// not, for the owner (or the next queuer) to finish: nothing is lost.
static void
merge_on_behalf_locked(brc_bucket *bucket, ft_thread *owner, ft_object *obj)
{
    ft_object_stack done = {0};
    uint64_t merged = 1;
    merge_explicit(obj, 0, false);
    ft_object *queued;
    while ((queued = ft_object_stack_pop(&owner->merge_queue)) != NULL) {
        if (ft_object_stack_push(&done, queued) < 0) {
            // Pushing right after a pop never allocates (one spare chunk).
            (void)ft_object_stack_push(&owner->merge_queue, queued);
            request_merge(owner);
            break;
        }
        merge_explicit(queued, 0, false);
        merged++;
    }
    uint32_t expected = FT_THREAD_SUSPENDED;
    // pairs: acquire CAS in attach_state() (runtime/thread.c)
    if (!ft_atomic_cas_release_u32(&owner->state, &expected, FT_THREAD_DETACHED)) {
        ft_fatal("brc: thread %lu left SUSPENDED while a merger held it (T2)",
                 (unsigned long)owner->tid);
    }
    ft_parking_unpark_all(&owner->state);
    bucket_unlock(bucket);
    FT_STAT_ADD(brc_queued, 1);
    FT_STAT_ADD(brc_merged_behalf, merged);
    ft_decref(obj);   // ob_tid is 0 now: a shared decref, freeing at MERGED|0
    while ((queued = ft_object_stack_pop(&done)) != NULL) {
        ft_decref(queued);
    }
    ft_object_stack_fini(&done);
}

// Out of memory for a queue chunk: merge with every other thread stopped,
// the owner included (attached, no internal lock held: K1).
static void
merge_with_world_stopped(ft_object *obj)
{
    ft_world_stop();
    intptr_t count = merge_explicit(obj, -1, false);
    ft_world_start();
    FT_STAT_ADD(brc_queued, 1);
    FT_STAT_ADD(brc_merged_in_pause, 1);
    if (count == 0) {
        ft_ref_dealloc(obj);
    }
}

// We hold the reference a foreign decref donated (state QUEUED).
static void
brc_queue(ft_object *obj)
{
    // relaxed: a stale id is harmless -- 0 means merged (our reference is in
    // the word), a stale owner folds local 0 when it merges
    uintptr_t tid = ft_atomic_load_relaxed_uintptr(&obj->ob_tid);
    if (tid == 0 || (intptr_t)tid < 0) {
        ft_decref(obj);   // the owner merged (or a promotion unbiased it) meanwhile
        return;
    }
    FT_YIELD_POINT();
    brc_bucket *bucket = bucket_of(tid);
    bucket_lock(bucket);
    ft_thread *owner = lookup_locked(bucket, tid);
    if (owner == NULL) {
        // Exited: its unlink under this lock happened-before us (B1).
        intptr_t count = merge_explicit(obj, -1, false);
        bucket_unlock(bucket);
        FT_STAT_ADD(brc_queued, 1);
        FT_STAT_ADD(brc_merged_orphan, 1);
        if (count == 0) {
            ft_ref_dealloc(obj);
        }
        return;
    }
    uint32_t expected = FT_THREAD_DETACHED;
    // pairs: release store in detach_state() (runtime/thread.c)
    if (ft_atomic_cas_acq_rel_u32(&owner->state, &expected, FT_THREAD_SUSPENDED)) {
        merge_on_behalf_locked(bucket, owner, obj);
        return;
    }
    if (ft_object_stack_push(&owner->merge_queue, obj) < 0) {
        bucket_unlock(bucket);
        merge_with_world_stopped(obj);
        return;
    }
    request_merge(owner);
    bucket_unlock(bucket);
    FT_STAT_ADD(brc_queued, 1);
}

// ------------------------------------------------------------ slow paths
// The owner's local count just reached 0.
void
ft_ref_merge_zero_local(ft_object *obj)
{
    ft_ref_check_alive(obj, "reference count underflow: decref of a freed object");
    // pairs: acq_rel CAS in ft_ref_decref_shared() / ft_ref_try_incref() (gh-117657)
    intptr_t shared = ft_atomic_load_acquire_intptr(&obj->ob_ref_shared);
    // pairs: release fetch_or of FT_GC_BIT_SHARED by the thread that shared it
    if (shared == 0 && !(ft_atomic_load_acquire_u8(&obj->ob_gc_bits) & FT_GC_BIT_SHARED)) {
        // Nobody else ever counted and no lock-free reader can hold it.
        ft_ref_dealloc(obj);
        return;
    }
    // relaxed: B2 -- zeroed before the CAS publishes MERGED (gh-119999, gh-121794)
    ft_atomic_store_relaxed_uintptr(&obj->ob_tid, 0);
    FT_YIELD_POINT();
    intptr_t merged;
    do {
        merged = ft_ref_shared_make(ft_ref_shared_count(shared), FT_REF_MERGED);
        // pairs: acq_rel CAS in ft_ref_decref_shared() / ft_ref_try_incref()
    } while (!ft_atomic_cas_acq_rel_intptr(&obj->ob_ref_shared, &shared, merged));
    if (merged == FT_REF_MERGED) {
        ft_ref_dealloc(obj);
    }
}

// The outcomes of a foreign decref other than "one fewer": queue to the
// owner, promote, note a pending promotion, or free at MERGED|0.
static FT_NOINLINE void
decref_shared_rare(ft_object *obj, intptr_t next, bool queue, bool donate, bool pending)
{
    if (queue) {
        brc_queue(obj);
        return;
    }
#if FT_SHARDED_RC
    if (donate) {
        ft_shard_candidate(obj);
        return;
    }
    if (pending) {
        ft_shard_note_pending();
    }
#else
    (void)donate;
    (void)pending;
#endif
    if (ft_ref_shared_state(next) == FT_REF_MERGED && ft_ref_shared_count(next) <= 0) {
#if FT_SHARDED_RC
        // relaxed: a promotion publishes the id before its CAS; if that CAS
        // preceded ours, our acq_rel CAS made the id visible, and 0 or less
        // is only the header's part of a sharded count
        if ((intptr_t)ft_atomic_load_relaxed_uintptr(&obj->ob_tid) < 0) {
            ft_shard_header_fell(obj);
            return;
        }
#endif
        if (FT_UNLIKELY(ft_ref_shared_count(next) < 0)) {
#if FT_DEBUG
            ft_ref_fatal(obj, "reference count underflow");
#endif
            return;   // release builds: a decref of a dead object frees nothing more
        }
        ft_ref_dealloc(obj);
    }
}

// A decref by a thread that does not own the object.
void
ft_ref_decref_shared(ft_object *obj)
{
    FT_STAT_INC(rc_shared_decref);
    ft_ref_check_alive(obj, "reference count underflow: decref of a freed object");
    // relaxed: validated by the CAS
    intptr_t shared = ft_atomic_load_relaxed_intptr(&obj->ob_ref_shared);
    intptr_t next;
    bool queue;
    bool donate = false;
    bool pending = false;
    bool contended = false;
    FT_YIELD_POINT();
    // The common case first: DEFAULT with count >= 1 -- a plain decrement,
    // nothing to decide before or after (callgrind: ~19 fewer instructions
    // per decref than the general loop).
    if (FT_LIKELY(ft_ref_shared_state(shared) == FT_REF_DEFAULT && shared >= FT_REF_SHARED_ONE)) {
        // pairs: acq_rel CAS in merge_explicit() / ft_ref_merge_zero_local()
        if (ft_atomic_cas_acq_rel_intptr(&obj->ob_ref_shared, &shared,
                                         shared - FT_REF_SHARED_ONE)) {
            return;
        }
        contended = true;   // another thread updated the word meanwhile
    }
    do {
        intptr_t state = ft_ref_shared_state(shared);
        intptr_t count = ft_ref_shared_count(shared);
        // A MERGED count at or below 0 can only be a sharded object's header
        // (we read the id before its promotion published it): the plain
        // decrement below is then exactly a sharded header decrement, and
        // decref_shared_rare() sorts it out after the CAS.
        // Count 0 and not yet queued: going negative needs the owner, so
        // donate our reference to its queue instead (B3, B4).
        queue = state < FT_REF_QUEUED && count == 0;
        next = queue ? ft_ref_shared_make(0, FT_REF_QUEUED) : shared - FT_REF_SHARED_ONE;
#if FT_SHARDED_RC
        // Contention evidence, in the same CAS (no extra atomic): a decref
        // whose CAS already lost a race counts one in `hot`. The one that
        // reaches the threshold keeps its reference for promotion instead
        // of dropping it -- unless it may be the last one (MERGED|1), which
        // no promotion could help. Uncontended decrefs compute nothing more.
        donate = false;
        pending = false;
        if (FT_UNLIKELY(contended) && !queue) {
            intptr_t hot_limit = (intptr_t)ft_shard_threshold_now() * FT_REF_HOT_ONE;
            intptr_t hot = shared & FT_REF_HOT_MASK;
            if (hot < hot_limit) {
                next += FT_REF_HOT_ONE;
                if (hot + FT_REF_HOT_ONE == hot_limit && !(state == FT_REF_MERGED && count <= 1)) {
                    next += FT_REF_SHARED_ONE;   // keep our reference
                    donate = true;
                }
            } else {
                pending = hot_limit != 0;   // promotion already asked for
            }
        }
#endif
        contended = true;   // taken into account only if the CAS below fails
        // Also the other foreign decrefs (the last one deallocates: B7).
        // pairs: acq_rel CAS in merge_explicit() / ft_ref_merge_zero_local()
    } while (!ft_atomic_cas_acq_rel_intptr(&obj->ob_ref_shared, &shared, next));
#if !FT_SHARDED_RC
    (void)contended;
#endif
    // One test for the rare outcomes keeps the common path free of calls.
    if (FT_UNLIKELY(queue || donate || pending ||
                    (ft_ref_shared_state(next) == FT_REF_MERGED && next < FT_REF_SHARED_ONE))) {
        decref_shared_rare(obj, next, queue, donate, pending);
    }
}

// DESIGN.md §4.9: readers only. DEFAULT with count 0 is allowed (a SHARED
// object's owner must CAS to free it, so the two linearize); QUEUED and
// MERGED with a positive count are allowed; MERGED|0 is dead or dying.
int
ft_ref_try_incref(ft_object *obj)
{
    // relaxed: owner only writes it; the marker never changes (I4: no write)
    uint32_t local = ft_atomic_load_relaxed_u32(&obj->ob_ref_local);
    if (local == FT_REF_LOCAL_IMMORTAL) {
        return 1;
    }
    // relaxed: equal to ours only if we own it; the sharded bit only
    // changes in a pause
    uintptr_t tid = ft_atomic_load_relaxed_uintptr(&obj->ob_tid);
    if (tid == ft_tls.tid) {
        if (local == 0) {
            return 0;   // we freed it without a CAS: nobody may revive it
        }
        FT_STAT_INC(rc_owner_incref);
        // relaxed: owner only (B1)
        ft_atomic_store_relaxed_u32(&obj->ob_ref_local, local + 1);
        return 1;
    }
#if FT_SHARDED_RC
    if ((intptr_t)tid < 0) {
        // Sharded objects are freed only after a pause found their true
        // count 0 (shard.c), and a reader cannot span a pause: whatever it
        // found in a container is not freed yet, so counting it is safe.
        ft_incref(obj);
        return 1;
    }
#endif
    // relaxed: validated by the CAS
    intptr_t shared = ft_atomic_load_relaxed_intptr(&obj->ob_ref_shared);
    do {
        if (ft_ref_shared_is_dead(shared)) {
            return 0;
        }
        // pairs: acq_rel CAS in ft_ref_merge_zero_local() / ft_ref_decref_shared()
    } while (!ft_atomic_cas_acq_rel_intptr(&obj->ob_ref_shared, &shared,
                                           shared + FT_REF_SHARED_ONE));
    FT_STAT_INC(rc_shared_incref);
    return 1;
}

// H4: owned by the caller, local 1, shared word 0, never SHARED.
int
ft_is_unique(ft_object *obj)
{
    // relaxed: equal to ours only if we own it (immortals hold 0)
    if (ft_atomic_load_relaxed_uintptr(&obj->ob_tid) != ft_tls.tid) {
        return 0;
    }
    // relaxed: owner only (B1)
    if (ft_atomic_load_relaxed_u32(&obj->ob_ref_local) != 1) {
        return 0;
    }
    // A foreign holder's last access happens-before what the caller does next.
    // pairs: acq_rel CAS in ft_ref_decref_shared()
    if (ft_atomic_load_acquire_intptr(&obj->ob_ref_shared) != 0) {
        return 0;
    }
    // pairs: release fetch_or of FT_GC_BIT_SHARED by the thread that shared it
    return !(ft_atomic_load_acquire_u8(&obj->ob_gc_bits) & FT_GC_BIT_SHARED);
}

int64_t
ft_ref_count_approx(ft_object *obj)
{
    // relaxed: statistics and tests only; never drives a decision (H4)
    uint32_t local = ft_atomic_load_relaxed_u32(&obj->ob_ref_local);
    if (local == FT_REF_LOCAL_IMMORTAL) {
        return (int64_t)1 << 62;
    }
    // relaxed: as above
    intptr_t shared = ft_atomic_load_relaxed_intptr(&obj->ob_ref_shared);
    return (int64_t)local + (int64_t)ft_ref_shared_count(shared);
}

// ------------------------------------------------------------ thread hooks
void
ft_brc_thread_register(ft_thread *thread)
{
    brc_bucket *bucket = bucket_of(thread->tid);
    bucket_lock(bucket);
    thread->brc_next = bucket->threads;
    bucket->threads = thread;
    bucket_unlock(bucket);
}

// Promotes objects handed to us (we own them, or their owner exited) and
// drops the references their donors gave (outside every lock).
static void
promote_queued(ft_object_stack *queue)
{
    ft_object *obj;
    while ((obj = ft_object_stack_pop(queue)) != NULL) {
        ft_object *one[1] = {obj};
        ft_brc_promote_batch(one, 1);
        if (one[0] != NULL) {
            ft_decref(obj);
        }
    }
    ft_object_stack_fini(queue);
}

// The exiting thread, attached: drain until the queue is empty under the
// bucket lock, and unlink in that same critical section, so a queuer either
// pushes before the final check or finds the owner gone and merges as orphan.
void
ft_brc_thread_unregister(ft_thread *thread)
{
    FT_ASSERT(thread == ft_tls.thread && ft_tls.attached, "brc: unregister from another thread");
    brc_bucket *bucket = bucket_of(thread->tid);
    for (;;) {
        // relaxed: the bucket lock orders the queue itself
        ft_atomic_and_relaxed_u32(&ft_tls.eval_breaker, ~(uint32_t)FT_EB_BRC);
        ft_object_stack batch = {0};
        ft_object_stack promote = {0};
        bucket_lock(bucket);
        if (thread->merge_queue.size == 0 && thread->promote_queue.size == 0) {
            unlink_locked(bucket, thread);
            bucket_unlock(bucket);
            break;
        }
        ft_object_stack_take_all(&batch, &thread->merge_queue);
        ft_object_stack_take_all(&promote, &thread->promote_queue);
        bucket_unlock(bucket);
        merge_batch_as_owner(&batch);   // destructors may queue more to us
        promote_queued(&promote);
    }
    ft_object_stack_fini(&thread->merge_queue);   // unreachable after the unlink
    ft_object_stack_fini(&thread->promote_queue);
}

// The owner, attached: at a safepoint with FT_EB_BRC, and in ft_detach().
void
ft_brc_merge_own(void)
{
    ft_thread *self = ft_tls.thread;
    if (self == NULL) {
        return;
    }
    // relaxed: the bucket lock orders the queue; a push after our take sets
    // the bit again (its fetch_or follows our clear in the word's order)
    ft_atomic_and_relaxed_u32(&ft_tls.eval_breaker, ~(uint32_t)FT_EB_BRC);
    ft_object_stack batch = {0};
    ft_object_stack promote = {0};
    brc_bucket *bucket = bucket_of(self->tid);
    bucket_lock(bucket);
    ft_object_stack_take_all(&batch, &self->merge_queue);
    ft_object_stack_take_all(&promote, &self->promote_queue);
    bucket_unlock(bucket);
    merge_batch_as_owner(&batch);
    promote_queued(&promote);
}

bool
ft_brc_has_pending(ft_thread *thread)
{
    // relaxed: a hint; every push sets the bit under the bucket lock, and
    // ft_brc_merge_own() takes that lock
    return (ft_atomic_load_relaxed_u32(thread->eval_breaker) & FT_EB_BRC) != 0;
}

// Merges one thread's queue in a pause: an object whose count reaches 0
// keeps the entry's reference (count 1) and goes on `later`. If `later`
// cannot grow, that object (merged, still holding its reference) and the
// rest stay queued: counts stay conservative and nothing is lost.
static void
merge_queue_in_pause_locked(ft_thread *thread, ft_object_stack *later)
{
    uint64_t merged = 0;
    ft_object *obj;
    while ((obj = ft_object_stack_pop(&thread->merge_queue)) != NULL) {
        if (merge_explicit(obj, -1, true) != 0 || ft_object_stack_push(later, obj) == 0) {
            merged++;
            continue;
        }
        // Pushing right after a pop never allocates (one spare chunk).
        (void)ft_object_stack_push(&thread->merge_queue, obj);
        request_merge(thread);
        break;
    }
    if (merged != 0) {
        FT_STAT_ADD(brc_merged_in_pause, merged);
    }
}

// World stopped (T1): every owner is suspended, so the requester may fold
// every local count. Bucket locks still guard the lists against threads
// registering meanwhile (they start SUSPENDED but link themselves first).
void
ft_brc_merge_all_in_pause(ft_object_stack *later)
{
    FT_ASSERT(ft_world_is_requester() || ft_gil_is_enabled(),
              "brc: merge_all_in_pause outside a pause");
    for (size_t i = 0; i < BRC_BUCKETS; i++) {
        brc_bucket *bucket = &brc_buckets[i];
        bucket_lock(bucket);
        for (ft_thread *t = bucket->threads; t != NULL; t = t->brc_next) {
            merge_queue_in_pause_locked(t, later);
        }
        bucket_unlock(bucket);
    }
}

#if FT_SHARDED_RC
// World stopped: we hold every owner's rights (B1), so promote what each
// thread's promote queue holds; what stays unsharded keeps its donated
// reference on `drops`, dropped after the restart.
void
ft_brc_promote_all_in_pause(ft_object_stack *drops, bool promote)
{
    FT_ASSERT(ft_world_is_requester() || ft_gil_is_enabled(),
              "brc: promote_all_in_pause outside a pause");
    for (size_t i = 0; i < BRC_BUCKETS; i++) {
        brc_bucket *bucket = &brc_buckets[i];
        bucket_lock(bucket);
        for (ft_thread *t = bucket->threads; t != NULL; t = t->brc_next) {
            ft_object *obj;
            while ((obj = ft_object_stack_pop(&t->promote_queue)) != NULL) {
                ft_object *one[1] = {obj};
                if (promote) {
                    ft_shard_promote_run(one, 1, false);   // its reference goes on drops
                }
                if (one[0] != NULL && ft_object_stack_push(drops, obj) < 0) {
                    // Pushing right after a pop never allocates (one spare chunk).
                    (void)ft_object_stack_push(&t->promote_queue, obj);
                    break;
                }
            }
        }
        bucket_unlock(bucket);
    }
}
#endif

// Moves a dead thread's entries to the survivor, which merges them at its
// next safepoint: the dead owner cannot write its local counts any more.
static void
adopt_queue(ft_thread *survivor, ft_thread *dead)
{
    ft_object *obj;
    while ((obj = ft_object_stack_pop(&dead->merge_queue)) != NULL) {
        // Out of memory in a fork child: the object leaks, as the dead
        // threads' other leftovers do (DESIGN.md §4.11).
        (void)ft_object_stack_push(&survivor->merge_queue, obj);
    }
    ft_object_stack_fini(&dead->merge_queue);
    // Promotion candidates: the survivor finds their owner gone (orphan
    // rights) or itself when it promotes them.
    while ((obj = ft_object_stack_pop(&dead->promote_queue)) != NULL) {
        (void)ft_object_stack_push(&survivor->promote_queue, obj);
    }
    ft_object_stack_fini(&dead->promote_queue);
    dead->brc_next = NULL;
}

// Fork child, single-threaded: only `survivor` remains registered; the
// objects of the others become orphans, merged on the spot when next queued.
void
ft_brc_after_fork_child(ft_thread *survivor)
{
    for (size_t i = 0; i < BRC_BUCKETS; i++) {
        brc_bucket *bucket = &brc_buckets[i];
        // relaxed: the child has one thread; no holder of the lock survived
        ft_atomic_store_relaxed_u8(&bucket->mutex.bits, FT_MUTEX_UNLOCKED);
        ft_thread *t = bucket->threads;
        bucket->threads = NULL;
        while (t != NULL) {
            ft_thread *next = t->brc_next;
            if (t != survivor) {
                adopt_queue(survivor, t);
            }
            t = next;
        }
    }
    brc_bucket *home = bucket_of(survivor->tid);
    survivor->brc_next = NULL;
    home->threads = survivor;
    if (survivor->merge_queue.size != 0 || survivor->promote_queue.size != 0) {
        request_merge(survivor);
    }
}

// ------------------------------------------------------------ promotion
#if FT_SHARDED_RC
static uintptr_t
owner_of(ft_object *obj)
{
    // relaxed: only the owner's exit, a merge or a promotion changes it, and
    // each is re-checked under the bucket lock or by ft_shard_promote()
    return ft_atomic_load_relaxed_uintptr(&obj->ob_tid);
}

// Promotes objs[i..] while they belong to `tid`, whose local counts we may
// fold (B1), or which are ownerless. Returns the index after the run.
static size_t
promote_run(ft_object **objs, size_t i, size_t n, uintptr_t tid)
{
    size_t end = i;
    while (end < n && owner_of(objs[end]) == tid) {
        end++;
    }
    ft_shard_promote_run(objs + i, end - i, true);
    return end;
}

void
ft_brc_promote_batch(ft_object **objs, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uintptr_t tid = owner_of(objs[i]);
        if (tid == 0 || (intptr_t)tid < 0 || tid == ft_tls.tid) {
            // Ownerless, sharded already (left to the caller), or ours.
            i = promote_run(objs, i, n, tid);
            continue;
        }
        brc_bucket *bucket = bucket_of(tid);
        bucket_lock(bucket);
        ft_thread *owner = lookup_locked(bucket, tid);
        if (owner == NULL) {
            // Exited: its unlink under this lock happened-before us (B1).
            i = promote_run(objs, i, n, tid);
            bucket_unlock(bucket);
            continue;
        }
        uint32_t expected = FT_THREAD_DETACHED;
        // pairs: release store in detach_state() (runtime/thread.c)
        if (ft_atomic_cas_acq_rel_u32(&owner->state, &expected, FT_THREAD_SUSPENDED)) {
            // Held SUSPENDED, as a merge on its behalf would (T2, B1).
            i = promote_run(objs, i, n, tid);
            expected = FT_THREAD_SUSPENDED;
            // pairs: acquire CAS in attach_state() (runtime/thread.c)
            if (!ft_atomic_cas_release_u32(&owner->state, &expected, FT_THREAD_DETACHED)) {
                ft_fatal("brc: thread %lu left SUSPENDED while a promoter held it (T2)",
                         (unsigned long)owner->tid);
            }
            ft_parking_unpark_all(&owner->state);
            bucket_unlock(bucket);
            continue;
        }
        // Attached (or held by someone else): the owner promotes them at
        // its next safepoint and drops the donated references.
        bool queued = false;
        for (; i < n && owner_of(objs[i]) == tid; i++) {
            if (ft_object_stack_push(&owner->promote_queue, objs[i]) == 0) {
                objs[i] = NULL;
                queued = true;
            }
        }
        if (queued) {
            request_merge(owner);
        }
        bucket_unlock(bucket);
    }
}
#else
void
ft_brc_promote_batch(ft_object **objs, size_t n)
{
    (void)objs;
    (void)n;
}
#endif
