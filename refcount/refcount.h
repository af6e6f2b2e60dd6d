// refcount/refcount.h: the object header and the reference-counting fast
// paths, one text for three mechanisms chosen at compile time:
//
//   FT_GIL=1            16-byte header, plain count; immortals counted from 2^62
//   FT_REFCOUNT_BIASED  32-byte header, biased counting (DESIGN.md §4.2)
//   FT_REFCOUNT_ATOMIC  32-byte header, one atomic count in ob_ref_shared
//
// Biased counting: the owner (the thread whose id is in ob_tid) counts in
// ob_ref_local with plain loads and stores; everyone else adds to
// ob_ref_shared atomically. The true count is ob_ref_local + count(shared).
// Slow paths (merge, queue, dealloc) live in refcount/brc.c.
#ifndef FT_REFCOUNT_REFCOUNT_H
#define FT_REFCOUNT_REFCOUNT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "locking/locking.h"
#include "runtime/atomic.h"
#include "runtime/config.h"
#include "runtime/runtime.h"

typedef struct ft_type ft_type;

#if FT_GIL
// GIL build, 16 bytes. Every access happens with the GIL held.
typedef struct ft_object {
    intptr_t ob_refcnt;        // guarded by: the GIL
    const ft_type *ob_type;    // immutable while referenced (H3)
} ft_object;
static_assert(sizeof(ft_object) == 16, "GIL header is 16 bytes");
static_assert(offsetof(ft_object, ob_type) == 8, "ob_type offset");
#define FT_IMMORTAL_REFCNT ((intptr_t)1 << 62)
#define FT_OBJECT_HEAD_INIT(type) {.ob_refcnt = FT_IMMORTAL_REFCNT, .ob_type = (type)}
#else
// Free-threaded build, 32 bytes.
//
// ob_ref_shared = count * 4 + state (count * 32 + hot * 4 + state with
// FT_SHARDED_RC); the count may be negative (only while QUEUED, or while
// sharded); states only rise:
//   state | name           | meaning
//   0     | DEFAULT        | owner alive and counting in ob_ref_local
//   1     | MAYBE_WEAKREF  | reserved (no weak references in v1)
//   2     | QUEUED         | a foreign decref found count 0 and queued the
//         |                | object to its owner (the queue holds a reference)
//   3     | MERGED         | local folded in; ob_tid = 0; count is the truth
//
// ob_gc_bits
//   bit  | name            | set by                        | cleared
//   0x01 | SHARED          | fetch_or by a reference holder | never
//   0x02 | CONTENTS_SHARED | first non-owner container op   | never
//   0x04 | SHARD_SUSPECT   | sharded header count fell <= 0 | in a pause (shard.c)
//   0x80 | DEAD            | deallocator (debug builds)     | never
typedef struct ft_object {
    _Atomic(uintptr_t) ob_tid;       // atomic: creator; zeroed by mergers before MERGED shows (relaxed)
    _Atomic(uint16_t) ob_flags;      // atomic: GC-list slot (bits 0-11), STATIC (bit 12); relaxed
    ft_mutex ob_mutex;               // atomic: lock protocol (acquire/release)
    _Atomic(uint8_t) ob_gc_bits;     // atomic: fetch_or release / load acquire
    _Atomic(uint32_t) ob_ref_local;  // atomic: owner only (load+store, relaxed); mergers per B1
    _Atomic(intptr_t) ob_ref_shared; // atomic: anyone, fetch_add / CAS (DESIGN.md §4.2)
    const ft_type *ob_type;          // immutable while referenced (H3)
} ft_object;
static_assert(sizeof(ft_object) == 32, "FT header is 32 bytes");
static_assert(offsetof(ft_object, ob_flags) == 8, "ob_flags offset");
static_assert(offsetof(ft_object, ob_mutex) == 10, "ob_mutex offset");
static_assert(offsetof(ft_object, ob_gc_bits) == 11, "ob_gc_bits offset");
static_assert(offsetof(ft_object, ob_ref_local) == 12, "ob_ref_local offset");
static_assert(offsetof(ft_object, ob_ref_shared) == 16, "ob_ref_shared offset");
static_assert(offsetof(ft_object, ob_type) == 24, "ob_type offset");
static_assert((-8 >> 2) == -2, "arithmetic right shift extracts negative counts");

#if FT_SHARDED_RC
// With sharded counting the word is count * 32 + hot * 4 + state: `hot`
// (bits 2-4) counts the foreign decrefs whose CAS lost a race with another
// thread's update of this word -- the cache-line contention that sharding
// removes (refcount/shard.c promotes the object when `hot` reaches the
// threshold). Increments add 32 and leave the low bits alone, so fetch_add
// still works; only the decref CAS touches `hot`.
#  define FT_REF_SHARED_SHIFT 5
#  define FT_REF_SHARED_ONE ((intptr_t)32)
#  define FT_REF_HOT_ONE ((intptr_t)4)
#  define FT_REF_HOT_MASK ((intptr_t)0x1c)
#else
#  define FT_REF_SHARED_SHIFT 2
#  define FT_REF_SHARED_ONE ((intptr_t)4)
#  define FT_REF_HOT_ONE ((intptr_t)0)
#  define FT_REF_HOT_MASK ((intptr_t)0)
#endif
#define FT_REF_STATE_MASK ((intptr_t)3)
#define FT_REF_DEFAULT ((intptr_t)0)
#define FT_REF_MAYBE_WEAKREF ((intptr_t)1)
#define FT_REF_QUEUED ((intptr_t)2)
#define FT_REF_MERGED ((intptr_t)3)
#define FT_REF_LOCAL_IMMORTAL UINT32_MAX
#define FT_OBJ_FLAG_STATIC ((uint16_t)(1u << 12))
#define FT_OBJ_FLAG_SLOT_MASK ((uint16_t)0x0fff)
#define FT_GC_BIT_SHARED ((uint8_t)0x01)
#define FT_GC_BIT_CONTENTS_SHARED ((uint8_t)0x02)
#define FT_GC_BIT_SHARD_SUSPECT ((uint8_t)0x04)
#define FT_GC_BIT_DEAD ((uint8_t)0x80)

// A sharded object (refcount/shard.c) has ob_tid = FT_TID_SHARDED | id: no
// thread's id (serials from 1, or FT_TID_NONE) has bit 63 set with a 32-bit
// id below it, so the owner test fails for every thread and the top bit
// sends increments and decrements to the thread's own delta table. Each
// table entry is (touches << 32) | delta: an incref adds both, a decref
// subtracts one delta; the delta never goes below 0 (decrefs with no delta
// of their own go to the header word).
#define FT_TID_SHARDED ((uintptr_t)1 << 63)
#define FT_SHARD_TOUCH_ONE ((uint64_t)1 << 32)

#define FT_OBJECT_HEAD_INIT(type)                                              \
    {.ob_tid = 0, .ob_flags = FT_OBJ_FLAG_STATIC, .ob_mutex = {0},             \
     .ob_gc_bits = 0, .ob_ref_local = FT_REF_LOCAL_IMMORTAL,                   \
     .ob_ref_shared = 0, .ob_type = (type)}
#endif

// ------------------------------------------------------------ slow paths
FT_API void ft_ref_dealloc(ft_object *obj);              // runs tp_dealloc
FT_API void ft_ref_merge_zero_local(ft_object *obj);     // owner, local hit 0
FT_API void ft_ref_decref_shared(ft_object *obj);        // foreign decref
FT_API _Noreturn void ft_ref_fatal(ft_object *obj, const char *what);
// Sharded counting (refcount/shard.c; no-ops that return 0 in builds
// without FT_SHARDED_RC). Slow paths of the inline fast paths below:
FT_API void ft_ref_incref_sharded_slow(ft_object *obj);
FT_API void ft_ref_decref_sharded_slow(ft_object *obj);
// Whether obj counts per thread now (tests and research; racy but stable
// between pauses, which are the only places promotion and demotion happen).
FT_API int ft_ref_is_sharded(ft_object *obj);
// Stops the world once: promotes the pending candidates, folds every
// thread's deltas into the headers, frees the sharded objects whose true
// count is 0 and, with FT_SHARD_SYNC_DEMOTE_ALL, demotes every sharded
// object. Returns the number of objects freed, or -1 with the error set.
#define FT_SHARD_SYNC_DEMOTE_ALL 1
FT_API int64_t ft_ref_shard_sync(int flags);
// How many contended foreign decrefs (whose CAS on the shared word lost a
// race) an unsharded object takes before it is promoted, 1-7; 0 turns
// promotion off. The default is 4, or FT_SHARD_THRESHOLD from the
// environment at ft_init().
FT_API void ft_ref_shard_set_threshold(int threshold);
FT_API int ft_ref_shard_threshold(void);
// Promotes obj now, whatever its traffic (research, tests: like CPython's
// per-thread counts for chosen types): the caller holds a reference. The
// promotion is done when this returns, unless obj's owner is another
// attached thread: then at that thread's next safepoint or the next pause
// (ft_ref_shard_sync). Returns 0, or -1 with the error set; a no-op that
// returns 0 without FT_SHARDED_RC, with threshold 0, or for an immortal.
FT_API int ft_ref_shard_promote(ft_object *obj);
FT_API int64_t ft_ref_shard_live(void);   // objects sharded now
// Immortalizes an object that is still private to the caller (I1).
FT_API void ft_ref_make_immortal(ft_object *obj);
FT_API int ft_is_unique(ft_object *obj);
// Readers: a new reference unless the object is dead or dying (FT); always
// succeeds for a live object in the GIL build.
FT_API int ft_ref_try_incref(ft_object *obj);
// The count as far as the caller can tell (statistics and tests only: H4).
FT_API int64_t ft_ref_count_approx(ft_object *obj);
FT_API int ft_ref_is_immortal(ft_object *obj);

// Writes every header field of a new, still private object (relaxed stores:
// others see it only through a later release).
static inline void
ft_ref_init_new(ft_object *obj, const ft_type *type)
{
#if FT_GIL
    obj->ob_refcnt = 1;
    obj->ob_type = type;
#else
    // relaxed: private until published by a release (slot store, unlock, start)
    ft_atomic_store_relaxed_uintptr(&obj->ob_tid, ft_tls.tid);
    ft_atomic_store_relaxed_u16(&obj->ob_flags, 0);
    ft_atomic_store_relaxed_u8(&obj->ob_mutex.bits, 0);
    ft_atomic_store_relaxed_u8(&obj->ob_gc_bits, 0);
#  if FT_REFCOUNT_ATOMIC
    // One atomic count for every thread: the creator's reference is in it.
    ft_atomic_store_relaxed_u32(&obj->ob_ref_local, 0);
    ft_atomic_store_relaxed_intptr(&obj->ob_ref_shared, 1);
#  else
    ft_atomic_store_relaxed_u32(&obj->ob_ref_local, 1);
    ft_atomic_store_relaxed_intptr(&obj->ob_ref_shared, 0);
#  endif
    obj->ob_type = type;
#endif
}

// The GC-list slot of a tracked object (DESIGN.md §4.10). It lives in
// ob_flags in the FT build, where a thread freeing another thread's object
// must find that list's lock; the GIL build has one list (slot 0).
static inline unsigned
ft_ref_gc_slot(ft_object *obj)
{
#if FT_GIL
    (void)obj;
    return 0;
#else
    // relaxed: written at track time (private object) or in a pause
    return ft_atomic_load_relaxed_u16(&obj->ob_flags) & FT_OBJ_FLAG_SLOT_MASK;
#endif
}

static inline void
ft_ref_set_gc_slot(ft_object *obj, unsigned slot)
{
#if FT_GIL
    (void)obj;
    (void)slot;
#else
    // relaxed: private at track time, or world stopped, or under the list lock
    uint16_t flags = ft_atomic_load_relaxed_u16(&obj->ob_flags);
    ft_atomic_store_relaxed_u16(&obj->ob_flags, (uint16_t)((flags & ~FT_OBJ_FLAG_SLOT_MASK) |
                                                           (slot & FT_OBJ_FLAG_SLOT_MASK)));
#endif
}

// Whether each thread keeps its own GC list (FT) or all share slot 0 (GIL).
static inline int
ft_ref_gc_slot_per_thread(void)
{
#if FT_GIL
    return 0;
#else
    return 1;
#endif
}

// World stopped (or GIL held), merge queues drained: the true count (G1).
static inline int64_t
ft_ref_count_in_pause(ft_object *obj)
{
#if FT_GIL
    return obj->ob_refcnt;
#elif FT_REFCOUNT_ATOMIC
    // relaxed: world stopped; the pause's state CASes ordered every writer
    return (int64_t)ft_atomic_load_relaxed_intptr(&obj->ob_ref_shared);
#else
    // relaxed: world stopped; the pause's state CASes ordered every writer
    uint32_t local = ft_atomic_load_relaxed_u32(&obj->ob_ref_local);
    intptr_t shared = ft_atomic_load_relaxed_intptr(&obj->ob_ref_shared);
    return (int64_t)local + (int64_t)(shared >> FT_REF_SHARED_SHIFT);
#endif
}

static inline void
ft_incref(ft_object *obj)
{
#if FT_GIL
    FT_STAT_INC(rc_owner_incref);
    obj->ob_refcnt++;
#elif FT_REFCOUNT_ATOMIC
    // relaxed: only the immortal marker, which never changes for a live object
    if (ft_atomic_load_relaxed_u32(&obj->ob_ref_local) == FT_REF_LOCAL_IMMORTAL) {
        return;
    }
    FT_STAT_INC(rc_shared_incref);
    // relaxed: an increment needs no ordering; the holder already has a reference
    ft_atomic_add_relaxed_intptr(&obj->ob_ref_shared, 1);
#else
    // relaxed: owner only writes it; a foreign reader only compares with the marker
    uint32_t local = ft_atomic_load_relaxed_u32(&obj->ob_ref_local);
    if (local == FT_REF_LOCAL_IMMORTAL) {
        return;
    }
    // relaxed: equal to ours only if we own it, which we wrote ourselves;
    // the sharded bit only changes in a pause
    uintptr_t tid = ft_atomic_load_relaxed_uintptr(&obj->ob_tid);
    if (FT_LIKELY(tid == ft_tls.tid)) {
        FT_STAT_INC(rc_owner_incref);
        // relaxed: owner only (B1); landing on UINT32_MAX immortalizes
        ft_atomic_store_relaxed_u32(&obj->ob_ref_local, local + 1);
#  if FT_SHARDED_RC
    } else if ((intptr_t)tid < 0) {
        uint32_t id = (uint32_t)tid;
        if (FT_LIKELY(id < ft_tls.shard_cap)) {
            uint64_t entry = ft_tls.shard_tab[id];
            if (FT_LIKELY((uint32_t)entry != UINT32_MAX)) {
                ft_tls.shard_tab[id] = entry + FT_SHARD_TOUCH_ONE + 1;   // owner only
                FT_STAT_INC(rc_sharded_incref);   // after: its store would force a reload
                return;
            }
        }
        ft_ref_incref_sharded_slow(obj);
#  endif
    } else {
        FT_STAT_INC(rc_shared_incref);
        // relaxed: the caller already holds a reference, nothing to order
        ft_atomic_add_relaxed_intptr(&obj->ob_ref_shared, FT_REF_SHARED_ONE);
    }
#endif
}

static inline void
ft_decref(ft_object *obj)
{
#if FT_GIL
    FT_STAT_INC(rc_owner_decref);
#  if FT_DEBUG
    if (FT_UNLIKELY(obj->ob_refcnt <= 0)) {
        ft_ref_fatal(obj, "reference count underflow");
    }
#  endif
    if (--obj->ob_refcnt == 0) {
        ft_ref_dealloc(obj);
    }
#elif FT_REFCOUNT_ATOMIC
    // relaxed: the immortal marker never changes for a live object
    if (ft_atomic_load_relaxed_u32(&obj->ob_ref_local) == FT_REF_LOCAL_IMMORTAL) {
        return;
    }
    FT_STAT_INC(rc_shared_decref);
    // pairs: acq_rel fetch_sub of the other holders (the last one deallocates, B7)
    intptr_t old = ft_atomic_sub_acq_rel_intptr(&obj->ob_ref_shared, 1);
    if (old == 1) {
        ft_ref_dealloc(obj);
    }
#  if FT_DEBUG
    else if (FT_UNLIKELY(old <= 0)) {
        ft_ref_fatal(obj, "reference count underflow");
    }
#  endif
#else
    // relaxed: owner only writes it (B1); foreigners only compare with the marker
    uint32_t local = ft_atomic_load_relaxed_u32(&obj->ob_ref_local);
    if (local == FT_REF_LOCAL_IMMORTAL) {
        return;
    }
    // relaxed: equal to ours only if we own it; the sharded bit only
    // changes in a pause
    uintptr_t tid = ft_atomic_load_relaxed_uintptr(&obj->ob_tid);
    if (FT_LIKELY(tid == ft_tls.tid)) {
        FT_STAT_INC(rc_owner_decref);
#  if FT_DEBUG
        if (FT_UNLIKELY(local == 0)) {
            ft_ref_fatal(obj, "reference count underflow");
        }
#  endif
        // relaxed: owner only (B1)
        ft_atomic_store_relaxed_u32(&obj->ob_ref_local, local - 1);
        if (local == 1) {
            ft_ref_merge_zero_local(obj);
        }
#  if FT_SHARDED_RC
    } else if ((intptr_t)tid < 0) {
        uint32_t id = (uint32_t)tid;
        if (FT_LIKELY(id < ft_tls.shard_cap)) {
            uint64_t entry = ft_tls.shard_tab[id];
            if (FT_LIKELY((uint32_t)entry != 0)) {
                ft_tls.shard_tab[id] = entry - 1;   // owner only
                FT_STAT_INC(rc_sharded_decref);   // after: its store would force a reload
                return;
            }
        }
        ft_ref_decref_sharded_slow(obj);
#  endif
    } else {
        ft_ref_decref_shared(obj);
    }
#endif
}

static inline ft_object *
ft_newref(ft_object *obj)
{
    ft_incref(obj);
    return obj;
}

static inline void
ft_xdecref(ft_object *obj)
{
    if (obj != NULL) {
        ft_decref(obj);
    }
}

#endif
