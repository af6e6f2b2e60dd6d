// refcount/shard.c: sharded (per-thread) reference counts for objects that
// are hot in non-owner counting (issue 8; built with FT_SHARDED_RC, the
// default of the biased FT build).
//
// The problem. Biased counting makes the owner's increments plain stores,
// but every other thread adds to ob_ref_shared atomically; when two cores
// count the same object its cache line bounces (~120 ns per pair per thread
// on the 2-vCPU development VM, against ~3 ns on the owner path), and even
// uncontended foreign pairs cost ~26 ns. A list read by several threads
// pays that on every item it hands out.
//
// The design in one paragraph. An unsharded object's foreign decrefs count,
// in 3 spare bits of ob_ref_shared and inside the CAS the decref does
// anyway, how many of them lost a CAS race with another thread's update of
// that word. The decref whose count reaches the threshold keeps its
// reference and buffers the object as a candidate (ft_ref_shard_promote()
// does the same on request). The
// thread promotes its candidates in batches (buffer full, repeated decrefs
// on pending objects, detach, exit, sync, collect) with the right to the
// owner's local count, exactly as biased counting merges (B1): as the
// owner, for an owner that exited, or holding a detached owner SUSPENDED --
// an attached owner gets them in its promote queue and promotes them at its
// own safepoint; any pause promotes whatever is still pending, since its
// requester holds every owner's rights. Promotion publishes ob_tid =
// FT_TID_SHARDED | id (a small id from the registry) and then folds the
// local count into the shared word as MERGED (the owner stops counting
// locally as soon as it sees the new id, as B2 requires of a merge). From then on every thread, the former owner
// included, counts it in its own table, ft_tls.shard_tab[id], with plain
// loads and stores. The true count is
//
//     count(header) + sum over threads of delta_t[id]
//
// and only a pause can assemble it, so a sharded object is freed only by a
// pause that found that sum 0.
//
// Invariants.
//   S1 delta_t[id] >= 0: a decref uses its own delta only when positive;
//      otherwise it subtracts from the header (which may go negative).
//   S2 After every pause that resolved an object (suspect or full pass),
//      its header is its true count and every delta is 0; a promotion ends
//      with the header at the true count minus the deltas taken while it
//      ran (a fresh id has none before).
//   S3 So true == 0 implies header <= 0, and the header only falls through
//      decrefs. The decref that takes a header from 1 to <= 0 marks the
//      object SHARD_SUSPECT (gc bit) and queues it -- once per resolution. Every sharded object whose true count reaches 0 is
//      therefore on the suspect list, and the pause that resolves it frees
//      it (through `drops`: a dead object leaves as a plain MERGED|1 object
//      whose last decref, after the restart, deallocates it exactly once).
//   S4 Demotion, id release and freeing happen only with the world stopped
//      (the collector's pause or a shard pause), so a sharded object stays
//      sharded, and alive, between pauses; a lock-free reader cannot span a
//      pause, so ft_ref_try_incref() may count a sharded object it found
//      without checking that it is alive. Promotion needs no pause: the
//      promoter holds a reference, and header and tables are both valid
//      places to count while the new ob_tid becomes visible.
//   S5 An id is reused only after every table's entry for it is zeroed.
//   S6 A thread that exits adds its positive deltas to the headers first
//      (references it counted may live on in other threads' containers) and
//      counts in headers from then on; a fork child does the same for the
//      threads that did not survive.
//   S7 Races with a promotion: the id is stored before the promotion's CAS
//      on the shared word, and the promoter's donated reference stays in
//      the header until that CAS. A merge or foreign decref that read the
//      old id and whose CAS comes later re-reads ob_tid after its acq_rel
//      CAS, finds the id, and treats a header at or below 0 as a sharded
//      one (suspect, never a direct free); one whose CAS came first cannot
//      have reached 0. Merges never write an ownerless object's ob_tid.
//
// Hotness. Only contention counts -- a foreign decref whose CAS failed
// because another thread changed the word between its load and its CAS --
// since that is what bounces the line (~150 ns per pair per thread on the
// development VM, against ~25 ns for an uncontended foreign pair). A first
// version counted changes of foreign decrefer (a 3-bit tag of the last
// one): read_shared, whose two threads read 2 * 10^5 objects each pass but
// rarely the same one at the same moment, then promoted every object, and
// in `./ftrt compare` (units of ~50 ms) its 2-thread scaling fell from
// 1.88-1.97 (biased only) to 1.38-1.59: promotion cost more than the
// uncontended atomics it removed.
//
// Prompt enough. Suspects wait for the next pause: one is requested (the
// pushing thread's eval breaker, FT_EB_SHARD) once SUSPECT_BATCH of them
// queue, or SMALL_BATCH if no shard pause ran for PAUSE_SPACING_NS; every
// collection resolves them, and ft_gc_collect() and ft_ref_shard_sync()
// leave none behind. So at most SUSPECT_BATCH dead sharded objects (with
// what they own) wait between pauses. A first version promoted in pauses
// too: read_shared then spent ~1/3 of its 2-thread time stopped (181
// pauses of ~0.5 ms for 6 * 10^5 promotions), hence promotion by owners.
//
// Demotion. Each table entry also counts increfs in its high half. A full
// pass (every collection, ft_ref_shard_sync) folds the deltas and demotes an
// object nobody incref'd through its table for IDLE_ROUNDS full passes (or
// every object with FT_SHARD_SYNC_DEMOTE_ALL): it becomes a plain ownerless
// MERGED object again and its id is freed (S5).
//
// Where this differs from CPython. CPython 3.14t gives per-thread counts
// only to heap types and code objects, chosen by type at creation; their ids
// live as long as the object and they are freed only by the GC (no zero
// detection at all). Deferred reference counting (PEP 703) skips counting
// for stack references and also frees only in the GC. Here any object can be
// promoted, adaptively, by measured foreign traffic; deltas cannot go below
// zero per thread (S1), which turns "might be zero" into a cheap local event
// (S3) so that dead sharded objects are freed at the next short pause
// instead of the next full collection, and idle objects are demoted so the
// tables stay as small as the hot set.
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "refcount/refcount.h"
#include "refcount/refcount_internal.h"
#include "runtime/runtime_internal.h"

#if FT_SHARDED_RC

#define SHARD_MAX_IDS ((uint32_t)1 << 20)   // 8 MiB of table per thread at most
#define SHARD_MIN_TABLE 256u
// Suspect pauses: at once for a full batch; for a small one at most one
// per PAUSE_SPACING_NS after the previous shard pause.
#define SUSPECT_BATCH 4096
#define PENDING_HITS_PER_FLUSH 64
#define SMALL_BATCH 64
#define PAUSE_SPACING_NS 1000000
#define IDLE_ROUNDS 2
#define DEFAULT_THRESHOLD 4

typedef struct shard_state {
    ft_mutex mutex;                 // internal lock, rank FT_RANK_SHARD
    ft_object_stack suspects;       // guarded by: mutex; no reference (S3, S4)
    _Atomic(int) full_needed;       // atomic: a suspect could not be queued (relaxed:
                                    // read by the next pause, which orders it)
    _Atomic(int64_t) live;          // atomic: written in pauses, read by anyone (relaxed)
    _Atomic(int64_t) last_pause_ns; // atomic: end of the last shard pause (relaxed: a heuristic)
    // The registry: ids are issued under `mutex` by promoters (before the
    // id is published in ob_tid) and freed only in pauses (S4, S5); pauses
    // read it with the world stopped, exiting threads under `mutex`.
    ft_object **objs;               // [cap], NULL for a free id
    uint8_t *idle;                  // [cap]: full passes without an incref
    uint32_t *free_ids;             // [cap]: a stack of reusable ids
    uint32_t nfree;
    uint32_t high;                  // ids 1..high-1 were issued
    uint32_t cap;
} shard_state;

static shard_state shard;

static void
request_pause_on_self(void)
{
    // pairs: acquire load in ft_safepoint_slow() (only the bit matters)
    ft_atomic_or_release_u32(&ft_tls.eval_breaker, FT_EB_SHARD);
}

// A batch of `size` queued: worth a pause now?
static void
maybe_request(size_t size, size_t full_batch)
{
    if (size >= full_batch) {
        request_pause_on_self();
        return;
    }
    if (size % SMALL_BATCH != 0) {
        return;   // look at the clock once per SMALL_BATCH entries
    }
    // relaxed: a heuristic
    int64_t last = ft_atomic_load_relaxed_i64(&shard.last_pause_ns);
    if (ft_monotonic_ns() - last >= PAUSE_SPACING_NS) {
        request_pause_on_self();
    }
}

static uint32_t
id_of(ft_object *obj)
{
    // relaxed: the sharded id only changes in a pause (S4)
    return (uint32_t)ft_atomic_load_relaxed_uintptr(&obj->ob_tid);
}

static bool
is_sharded(ft_object *obj)
{
    // relaxed: as above
    return (intptr_t)ft_atomic_load_relaxed_uintptr(&obj->ob_tid) < 0;
}

// ------------------------------------------------------------ settings
_Atomic(int) ft_shard_threshold_value = DEFAULT_THRESHOLD;

static void
set_threshold(int threshold)
{
    // relaxed: a setting
    ft_atomic_store_relaxed_int(&ft_shard_threshold_value, threshold);
}

int
ft_ref_shard_threshold(void)
{
    return ft_shard_threshold_now();
}

int64_t
ft_ref_shard_live(void)
{
    // relaxed: a statistic
    return ft_atomic_load_relaxed_i64(&shard.live);
}

int
ft_ref_is_sharded(ft_object *obj)
{
    return obj != NULL && is_sharded(obj);
}

void
ft_shard_init(void)
{
    const char *env = getenv("FT_SHARD_THRESHOLD");
    int threshold = DEFAULT_THRESHOLD;
    if (env != NULL && *env != '\0') {
        char *end;
        long v = strtol(env, &end, 10);
        FT_FATAL_IF(*end != '\0' || v < 0 || v > 7,
                    "FT_SHARD_THRESHOLD=%s: expected an integer 0..7", env);
        threshold = (int)v;
    }
    // relaxed: before any other thread exists
    ft_atomic_store_relaxed_int(&ft_shard_threshold_value, threshold);
    ft_atomic_store_relaxed_int(&shard.full_needed, 0);
    ft_atomic_store_relaxed_i64(&shard.live, 0);
}

// ------------------------------------------------------------ fast-path helpers
// Grows the calling thread's table to hold `id`. Returns false (table
// unchanged) without memory, past the exit fold, or without a thread.
static bool
grow_table(uint32_t id)
{
    ft_thread *self = ft_tls.thread;
    if (self == NULL || self->shard_closed || id >= SHARD_MAX_IDS) {
        return false;
    }
    uint32_t cap = ft_tls.shard_cap < SHARD_MIN_TABLE ? SHARD_MIN_TABLE : ft_tls.shard_cap;
    while (cap <= id) {
        cap *= 2;
    }
    if (cap > SHARD_MAX_IDS) {
        cap = SHARD_MAX_IDS;
    }
    uint64_t *tab = ft_mem_realloc(ft_tls.shard_tab, (size_t)cap * sizeof(uint64_t));
    if (tab == NULL) {
        return false;
    }
    memset(tab + ft_tls.shard_cap, 0, (size_t)(cap - ft_tls.shard_cap) * sizeof(uint64_t));
    ft_tls.shard_tab = tab;
    ft_tls.shard_cap = cap;
    return true;
}

void
ft_ref_incref_sharded_slow(ft_object *obj)
{
    uint32_t id = id_of(obj);
    if (id >= ft_tls.shard_cap && grow_table(id)) {
        FT_STAT_INC(rc_sharded_incref);
        ft_tls.shard_tab[id] += FT_SHARD_TOUCH_ONE + 1;   // owner only
        return;
    }
    // No table, or a delta at UINT32_MAX: count in the header. relaxed: the
    // caller holds a reference, and only a pause reads the sum (S4).
    FT_STAT_INC(rc_shared_incref);
    ft_atomic_add_relaxed_intptr(&obj->ob_ref_shared, FT_REF_SHARED_ONE);
}

// S3: queue a sharded object whose header may have reached its true zero.
void
ft_shard_header_fell(ft_object *obj)
{
    // relaxed: the bit only deduplicates the queue; pauses clear it
    if (ft_atomic_load_relaxed_u8(&obj->ob_gc_bits) & FT_GC_BIT_SHARD_SUSPECT) {
        return;
    }
    // relaxed: as above; the pause that reads the queue orders the rest
    if (ft_atomic_or_relaxed_u8(&obj->ob_gc_bits, FT_GC_BIT_SHARD_SUSPECT) &
        FT_GC_BIT_SHARD_SUSPECT) {
        return;
    }
    ft_mutex_lock_internal(&shard.mutex, FT_RANK_SHARD);
    int rc = ft_object_stack_push(&shard.suspects, obj);
    size_t size = shard.suspects.size;
    ft_mutex_unlock_internal(&shard.mutex, FT_RANK_SHARD);
    if (rc < 0) {
        // relaxed: read by the next pause, which orders it
        ft_atomic_store_relaxed_int(&shard.full_needed, 1);
        request_pause_on_self();
    } else {
        maybe_request(size, SUSPECT_BATCH);
    }
}

void
ft_ref_decref_sharded_slow(ft_object *obj)
{
    FT_STAT_INC(rc_shared_decref);
    ft_ref_check_alive(obj, "reference count underflow: decref of a freed object");
    // relaxed: a sharded object is freed only by a pause, which orders every
    // thread's accesses before the free (S4); the header may go negative (S1)
    intptr_t old = ft_atomic_sub_relaxed_intptr(&obj->ob_ref_shared, FT_REF_SHARED_ONE);
    if (ft_ref_shared_count(old) <= 1) {
        ft_shard_header_fell(obj);
    }
}

void
ft_shard_header_add(ft_object *obj, intptr_t n)
{
    // relaxed: as in ft_ref_decref_sharded_slow()
    intptr_t old = ft_atomic_add_relaxed_intptr(&obj->ob_ref_shared, n * FT_REF_SHARED_ONE);
    if (ft_ref_shared_count(old) + n <= 0) {
        ft_shard_header_fell(obj);
    }
}

// A foreign decref donated its reference: buffer the object. Promotion
// takes a bucket lock (and suspends a detached owner) and the shard lock,
// so it runs in batches: when the buffer is full, when foreign decrefs keep
// finding pending objects (ours or another thread's: PENDING_HITS_PER_FLUSH),
// and before we detach, exit, sync or collect. A first version flushed at
// the next safepoint: read_shared then promoted one or two objects per
// bucket lock and owner suspension, which cost more than sharding saved.
void
ft_shard_candidate(ft_object *obj)
{
    ft_thread *self = ft_tls.thread;
    if (self == NULL || self->shard_closed) {
        ft_decref(obj);   // no thread state to buffer in: stays unsharded
        return;
    }
    self->shard_pending[self->shard_npending++] = obj;
    if (self->shard_npending == FT_SHARD_PENDING_MAX) {
        ft_shard_flush();
    }
}

// A foreign decref found an object pending promotion (hot at the threshold).
void
ft_shard_note_pending(void)
{
    ft_thread *self = ft_tls.thread;
    if (self != NULL && self->shard_npending != 0 &&
        ++self->shard_pending_hits % PENDING_HITS_PER_FLUSH == 0) {
        ft_shard_flush();
    }
}

void
ft_shard_flush(void)
{
    ft_thread *self = ft_tls.thread;
    if (self == NULL || self->shard_npending == 0) {
        return;
    }
    ft_object *batch[FT_SHARD_PENDING_MAX];
    uint32_t n = self->shard_npending;
    memcpy(batch, self->shard_pending, n * sizeof(batch[0]));
    self->shard_npending = 0;   // before any decref: destructors may donate again
    ft_brc_promote_batch(batch, n);
    for (uint32_t i = 0; i < n; i++) {
        if (batch[i] != NULL) {
            ft_decref(batch[i]);   // the donated reference (sharded now, or not)
        }
    }
}

// On request: the reference a donating decref would have kept, then the
// same batch promotion (one entry).
static void
promote_request(ft_object *obj)
{
    if (ft_shard_threshold_now() == 0 || is_sharded(obj) ||
        // relaxed: the immortal marker never changes for a live object
        ft_atomic_load_relaxed_u32(&obj->ob_ref_local) == FT_REF_LOCAL_IMMORTAL) {
        return;
    }
    ft_incref(obj);
    ft_object *one[1] = {obj};
    ft_brc_promote_batch(one, 1);
    if (one[0] != NULL) {
        ft_decref(obj);   // not promoted now (or queued to its owner)
    }
}

// ------------------------------------------------------------ the registry
// All of this section runs with the world stopped, by the requester (S4),
// with runtime.threads_mutex held so the thread list is stable.

static bool
registry_reserve(uint32_t need)
{
    if (need <= shard.cap) {
        return true;
    }
    uint32_t cap = shard.cap < 1024 ? 1024 : shard.cap;
    while (cap < need) {
        cap *= 2;
    }
    ft_object **objs = ft_mem_realloc(shard.objs, (size_t)cap * sizeof(*objs));
    if (objs == NULL) {
        return false;
    }
    shard.objs = objs;
    uint8_t *idle = ft_mem_realloc(shard.idle, (size_t)cap);
    if (idle == NULL) {
        return false;   // objs grew; cap did not: harmless
    }
    shard.idle = idle;
    uint32_t *free_ids = ft_mem_realloc(shard.free_ids, (size_t)cap * sizeof(*free_ids));
    if (free_ids == NULL) {
        return false;
    }
    shard.free_ids = free_ids;
    memset(shard.objs + shard.cap, 0, (size_t)(cap - shard.cap) * sizeof(*objs));
    memset(shard.idle + shard.cap, 0, (size_t)(cap - shard.cap));
    shard.cap = cap;
    return true;
}

// 0 when no id is left (or no memory).
static uint32_t
alloc_id(void)
{
    if (shard.nfree != 0) {
        return shard.free_ids[--shard.nfree];
    }
    uint32_t id = shard.high == 0 ? 1 : shard.high;   // id 0 is never issued
    if (id >= SHARD_MAX_IDS || !registry_reserve(id + 1)) {
        return 0;
    }
    shard.high = id + 1;
    return id;
}

typedef struct sum_result {
    int64_t deltas;
    uint64_t touches;
} sum_result;

// Sums (and with `clear`, zeroes) every thread's entry for `id`.
static sum_result
sum_entries(uint32_t id, bool clear_delta, bool clear_touches)
{
    sum_result r = {0, 0};
    for (ft_thread *t = ft_runtime_state.threads; t != NULL; t = t->next) {
        ft_tls_state *tls = t->tls;
        if (id >= tls->shard_cap) {
            continue;
        }
        uint64_t entry = tls->shard_tab[id];
        r.deltas += (int64_t)(uint32_t)entry;
        r.touches += entry >> 32;
        if (clear_touches) {
            entry = (uint32_t)entry;
        }
        if (clear_delta) {
            entry &= ~(uint64_t)UINT32_MAX;
        }
        tls->shard_tab[id] = entry;
    }
    return r;
}

// Makes `obj` a plain ownerless object with `count` again and frees its id
// (S5: sum_entries cleared every entry first).
static void
unshard(ft_object *obj, uint32_t id, int64_t count)
{
    // relaxed: the world is stopped (S4)
    ft_atomic_store_relaxed_intptr(&obj->ob_ref_shared,
                                   ft_ref_shared_make((intptr_t)count, FT_REF_MERGED));
    ft_atomic_store_relaxed_uintptr(&obj->ob_tid, 0);
    ft_atomic_and_relaxed_u8(&obj->ob_gc_bits, (uint8_t)~FT_GC_BIT_SHARD_SUSPECT);
    shard.objs[id] = NULL;
    shard.free_ids[shard.nfree++] = id;
    // relaxed: a statistic
    ft_atomic_sub_relaxed_i64(&shard.live, 1);
}

typedef struct pause_result {
    int64_t dead;
    int64_t demoted;
    bool requeue;   // a dead object could not go on `drops`: fold again next pause
} pause_result;

// Assembles obj's true count. Dead: leaves it unsharded with count 1 on
// `drops` (the caller's decref after the restart frees it exactly once).
// Alive: the header becomes the true count (S2); with `full`, also decides
// demotion. Returns whether the object stays sharded.
static void
resolve(ft_object *obj, uint32_t id, bool full, bool demote_all, ft_object_stack *drops,
        pause_result *res)
{
    // One walk over the tables: sum, and zero the deltas (and, in a full
    // pass, the touches, after reading them for demotion).
    sum_result sum = sum_entries(id, true, full);
    // relaxed: the world is stopped (S4)
    intptr_t header = ft_atomic_load_relaxed_intptr(&obj->ob_ref_shared);
    int64_t count = (int64_t)ft_ref_shared_count(header) + sum.deltas;
    if (count < 0) {
        ft_ref_fatal(obj, "reference count underflow (sharded count below zero)");
    }
    if (count == 0) {
        if (ft_object_stack_push(drops, obj) < 0) {
            // Stays sharded with its (zero) true count in the header, and
            // SUSPECT: the next pause, a full one, finds it again.
            // relaxed: the world is stopped (S4)
            ft_atomic_store_relaxed_intptr(&obj->ob_ref_shared,
                                           ft_ref_shared_make(0, FT_REF_MERGED));
            res->requeue = true;
            return;
        }
        if (!full) {
            sum_entries(id, false, true);   // S5: a freed id keeps no touches either
        }
        unshard(obj, id, 1);
        res->dead++;
        return;
    }
    bool demote = false;
    if (full) {
        if (sum.touches != 0) {
            shard.idle[id] = 0;
        } else if (shard.idle[id] < UINT8_MAX) {
            shard.idle[id]++;
        }
        demote = demote_all || shard.idle[id] >= IDLE_ROUNDS;
    }
    if (demote) {
        unshard(obj, id, count);
        res->demoted++;
        return;
    }
    // relaxed: the world is stopped (S4)
    ft_atomic_store_relaxed_intptr(&obj->ob_ref_shared,
                                   ft_ref_shared_make((intptr_t)count, FT_REF_MERGED));
    ft_atomic_and_relaxed_u8(&obj->ob_gc_bits, (uint8_t)~FT_GC_BIT_SHARD_SUSPECT);
}

// Publishes the id. relaxed: a thread that sees it counts in its table,
// one that does not counts in the header; both are part of the true count.
// A thread that later reads the registry (its exit fold) takes the lock we
// released after writing the entry, so it sees the entry (reading the id
// first and then taking the lock before us would contradict coherence).
static void
publish(ft_object *obj, uint32_t id)
{
    ft_atomic_store_relaxed_uintptr(&obj->ob_tid, FT_TID_SHARDED | id);
}

// Promotes one object, with `consume` dropping the donated reference in
// the fold, or returns false (the caller drops that reference). See
// ft_shard_promote_run().
static bool
promote_one(ft_object *obj, uint32_t id, bool consume)
{
    intptr_t drop = consume ? FT_REF_SHARED_ONE : 0;
    // relaxed: with B1 rights nobody else changes an owned object's ob_tid
    // but a merge, which sets 0 and then MERGED (B2); promotions of one
    // object are serialized by the donation (one per threshold crossing)
    uintptr_t tid = ft_atomic_load_relaxed_uintptr(&obj->ob_tid);
    // relaxed: the owner's own count, ours to read under B1; only compared
    if ((intptr_t)tid < 0 ||
        ft_atomic_load_relaxed_u32(&obj->ob_ref_local) == FT_REF_LOCAL_IMMORTAL) {
        return false;
    }
    // relaxed: validated by the CASes below
    intptr_t shared = ft_atomic_load_relaxed_intptr(&obj->ob_ref_shared);
    intptr_t next;
    // The id is published BEFORE the CAS on the shared word: a merge or a
    // foreign decref that read the old id and whose CAS follows ours sees
    // the new id through our acq_rel CAS, and counts a header that falls to
    // 0 as a sharded one instead of freeing (brc.c); one whose CAS comes
    // first cannot reach 0, since our donated reference is in the header.
    if (tid == 0) {
        // Ownerless: only a MERGED object may take an id (tid 0 with
        // another state is a merge in progress, B2; states only rise).
        if (ft_ref_shared_state(shared) != FT_REF_MERGED) {
            return false;
        }
        publish(obj, id);
        do {
            // Clear hot, drop the donated reference (with `consume`).
            next = (shared & ~FT_REF_HOT_MASK) - drop;
            // pairs: acq_rel CASes in brc.c (merges, decrefs, ft_ref_try_incref())
        } while (!ft_atomic_cas_acq_rel_intptr(&obj->ob_ref_shared, &shared, next));
    } else {
        if (ft_ref_shared_state(shared) != FT_REF_DEFAULT) {
            return false;   // queued to its owner: that merge will unbias it
        }
        // Unbias as a merge does (B1, B2: local zeroed and the owner's id
        // gone before MERGED shows; the new id does that job), fold local
        // into the shared word and drop the donated reference. Until the
        // fold lands the header lacks `local`; no pause can look meanwhile
        // (we are attached), and a header that falls to 0 meanwhile only
        // queues a suspect. A foreign decref may queue the object before
        // our CAS: that entry then finds it sharded (merge_explicit() makes
        // it a sharded header decrement, brc_queue() a sharded decref).
        // relaxed: ours under B1
        uint32_t local = ft_atomic_load_relaxed_u32(&obj->ob_ref_local);
        ft_atomic_store_relaxed_u32(&obj->ob_ref_local, 0);
        publish(obj, id);
        FT_YIELD_POINT();
        do {
            next = ft_ref_shared_make(ft_ref_shared_count(shared) + (intptr_t)local,
                                      FT_REF_MERGED) - drop;
            // pairs: acq_rel CASes in brc.c (merges, decrefs, ft_ref_try_incref())
        } while (!ft_atomic_cas_acq_rel_intptr(&obj->ob_ref_shared, &shared, next));
    }
    if (ft_ref_shared_count(next) <= 0) {
        ft_shard_header_fell(obj);   // the donor's was the last header reference
    }
    return true;
}

// The caller holds each object's donated reference, and for each either the
// right to the owner's local count (B1: it is the owner, the owner exited,
// or it holds the owner SUSPENDED) or the object is ownerless. Promotes
// what it can; with `consume`, a promoted object's entry becomes NULL (its
// reference went into the fold), and every other entry keeps its reference
// for the caller to drop. Pauses pass !consume: a candidate whose donated
// reference was its last must not show count 0 to the collector (G3); the
// requester drops it after the restart. Ids for the whole run are taken
// and returned under one lock each.
void
ft_shard_promote_run(ft_object **objs, size_t n, bool consume)
{
    if (ft_shard_threshold_now() == 0 || n == 0) {
        return;
    }
    uint32_t ids[FT_SHARD_PENDING_MAX];
    n = n > FT_SHARD_PENDING_MAX ? FT_SHARD_PENDING_MAX : n;   // at most a flush buffer's worth
    size_t got = 0;
    ft_mutex_lock_internal(&shard.mutex, FT_RANK_SHARD);
    for (; got < n; got++) {
        ids[got] = alloc_id();
        if (ids[got] == 0) {
            break;
        }
        shard.objs[ids[got]] = objs[got];
        shard.idle[ids[got]] = 0;
    }
    ft_mutex_unlock_internal(&shard.mutex, FT_RANK_SHARD);
    size_t promoted = 0;
    bool unused = false;
    for (size_t i = 0; i < got; i++) {
        if (promote_one(objs[i], ids[i], consume)) {
            if (consume) {
                objs[i] = NULL;
            }
            ids[i] = 0;
            promoted++;
        } else {
            unused = true;
        }
    }
    if (unused) {
        // Never published: no table has an entry for these ids (S5).
        ft_mutex_lock_internal(&shard.mutex, FT_RANK_SHARD);
        for (size_t i = 0; i < got; i++) {
            if (ids[i] != 0) {
                shard.objs[ids[i]] = NULL;
                shard.free_ids[shard.nfree++] = ids[i];
            }
        }
        ft_mutex_unlock_internal(&shard.mutex, FT_RANK_SHARD);
    }
    if (promoted != 0) {
        // relaxed: a statistic
        ft_atomic_add_relaxed_i64(&shard.live, (int64_t)promoted);
        FT_STAT_ADD(shard_promoted, promoted);
    }
}

// A thread's buffered candidates, promoted by the pause's requester (the
// owner is stopped: its buffer is ours to change). What stays unsharded
// moves to `drops`; an entry that cannot move stays buffered.
static void
promote_buffer_in_pause(ft_thread *t, ft_object_stack *drops, bool promote)
{
    uint32_t n = t->shard_npending;
    if (n == 0) {
        return;
    }
    if (promote) {
        ft_shard_promote_run(t->shard_pending, n, false);   // owners stopped: B1 is ours
    }
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n; i++) {
        ft_object *obj = t->shard_pending[i];
        if (obj != NULL && ft_object_stack_push(drops, obj) < 0) {
            t->shard_pending[kept++] = obj;
        }
    }
    t->shard_npending = kept;
}

int64_t
ft_shard_in_pause(ft_object_stack *drops, bool full, bool demote_all)
{
    FT_ASSERT(ft_world_is_requester() || ft_gil_is_enabled(), "shard: pause work outside a pause");
    FT_ASSERT(drops->size == 0, "shard: drops must start empty");
    ft_object_stack suspects = {0};
    ft_mutex_lock_internal(&shard.mutex, FT_RANK_SHARD);
    ft_object_stack_take_all(&suspects, &shard.suspects);
    ft_mutex_unlock_internal(&shard.mutex, FT_RANK_SHARD);
    FT_STAT_ADD(shard_suspects, suspects.size);
    // relaxed: set by threads now stopped; the pause ordered their stores
    if (ft_atomic_exchange_relaxed_int(&shard.full_needed, 0)) {
        full = true;
    }

    pause_result res = {0, 0, false};
    ft_mutex_lock_internal(&ft_runtime_state.threads_mutex, FT_RANK_THREADS);
    ft_object *obj;
    while ((obj = ft_object_stack_pop(&suspects)) != NULL) {
        if (is_sharded(obj)) {
            resolve(obj, id_of(obj), false, false, drops, &res);
        }
    }
    ft_object_stack_fini(&suspects);
    if (full) {
        for (uint32_t id = 1; id < shard.high; id++) {
            if (shard.objs[id] != NULL) {
                resolve(shard.objs[id], id, true, demote_all, drops, &res);
            }
        }
    }
    // Pending candidates last (their first idle round is the next full
    // pass), so that a pause leaves none behind and ft_live_objects() is
    // exact after a collection: with the world stopped we hold every
    // owner's rights (B1). With demote_all nothing may stay sharded: the
    // candidates only go, unpromoted, to `drops`.
    for (ft_thread *t = ft_runtime_state.threads; t != NULL; t = t->next) {
        promote_buffer_in_pause(t, drops, !demote_all);
    }
    ft_mutex_unlock_internal(&ft_runtime_state.threads_mutex, FT_RANK_THREADS);
    ft_brc_promote_all_in_pause(drops, !demote_all);

    if (res.requeue) {
        // relaxed: read by the next pause
        ft_atomic_store_relaxed_int(&shard.full_needed, 1);
    }
    FT_STAT_ADD(shard_pauses, 1);
    FT_STAT_ADD(shard_demoted, (uint64_t)res.demoted);
    FT_STAT_ADD(shard_freed, (uint64_t)res.dead);
    return res.dead;
}

// ------------------------------------------------------------ pauses
// Drops what a pause left: dead objects' last counts (plain MERGED objects
// now, so this frees them exactly once).
static void
drop_all(ft_object_stack *drops)
{
    ft_object *obj;
    while ((obj = ft_object_stack_pop(drops)) != NULL) {
        ft_decref(obj);
    }
    ft_object_stack_fini(drops);
}

static bool
work_pending(void)
{
    ft_mutex_lock_internal(&shard.mutex, FT_RANK_SHARD);
    bool pending = shard.suspects.size != 0;
    ft_mutex_unlock_internal(&shard.mutex, FT_RANK_SHARD);
    // relaxed: a hint; the pause re-reads it
    return pending || ft_atomic_load_relaxed_int(&shard.full_needed);
}

static int64_t
run_pause(bool full, bool demote_all)
{
    ft_object_stack drops = {0};
    ft_world_stop();
    int64_t dead = ft_shard_in_pause(&drops, full, demote_all);
    ft_world_start();
    // relaxed: a heuristic
    ft_atomic_store_relaxed_i64(&shard.last_pause_ns, ft_monotonic_ns());
    drop_all(&drops);
    return dead;
}

void
ft_shard_safepoint(void)
{
    // relaxed: we clear our own request bit
    ft_atomic_and_relaxed_u32(&ft_tls.eval_breaker, ~(uint32_t)FT_EB_SHARD);
    ft_shard_flush();
    if (work_pending()) {
        run_pause(false, false);
    }
}

// Dropping dead objects' contents may leave new suspects
// (a dead list's sharded items): a few more short pauses settle them.
int64_t
ft_shard_settle(void)
{
    int64_t dead = 0;
    for (int round = 0; round < 8 && work_pending(); round++) {
        dead += run_pause(false, false);
    }
    return dead;
}

static int64_t
sync_world(int flags)
{
    ft_shard_flush();
    int64_t dead = run_pause(true, (flags & FT_SHARD_SYNC_DEMOTE_ALL) != 0);
    return dead + ft_shard_settle();
}

// ------------------------------------------------------------ thread exit, fork, fini
// S6: add our positive deltas to the headers. They cannot make any count
// reach zero, so nothing is freed here.
// S6: adds a table's positive deltas to the headers (they cannot make any
// count reach zero, so nothing is freed) and, as use, its increfs to the
// demotion rounds. The caller holds the shard lock or is alone (fork).
static void
fold_table(const uint64_t *tab, uint32_t cap)
{
    for (uint32_t id = 1; id < cap && id < shard.high; id++) {
        uint32_t delta = (uint32_t)tab[id];
        ft_object *obj = shard.objs[id];
        if (tab[id] >> 32 != 0 && obj != NULL) {
            shard.idle[id] = 0;   // our increfs count as use (demotion)
        }
        if (delta != 0) {
            FT_FATAL_IF(obj == NULL, "shard: delta %u for free id %u", delta, id);
            // relaxed: a sharded object is freed only by a pause (S4)
            ft_atomic_add_relaxed_intptr(&obj->ob_ref_shared,
                                         (intptr_t)delta * FT_REF_SHARED_ONE);
        }
    }
}

static void
fold_thread(ft_tls_state *tls)
{
    ft_mutex_lock_internal(&shard.mutex, FT_RANK_SHARD);
    fold_table(tls->shard_tab, tls->shard_cap);
    ft_mutex_unlock_internal(&shard.mutex, FT_RANK_SHARD);
    ft_mem_free(tls->shard_tab);
    tls->shard_tab = NULL;
    tls->shard_cap = 0;
}

void
ft_shard_thread_exit(ft_thread *thread)
{
    FT_ASSERT(thread == ft_tls.thread && ft_tls.attached, "shard: exit fold from another thread");
    ft_shard_flush();
    thread->shard_closed = 1;
    fold_thread(&ft_tls);
}

void
ft_shard_after_fork_child(ft_thread *survivor)
{
    for (ft_thread *t = ft_runtime_state.threads; t != NULL; t = t->next) {
        if (t != survivor && t->tls->shard_tab != NULL) {
            // Their memory was copied, their threads were not: fold and
            // forget (the table leaks in the child, as their records do).
            ft_tls_state *tls = t->tls;
            fold_table(tls->shard_tab, tls->shard_cap);
            tls->shard_tab = NULL;
            tls->shard_cap = 0;
        }
    }
    // The lock may have been held by a thread that did not survive.
    // relaxed: the child has one thread
    ft_atomic_store_relaxed_u8(&shard.mutex.bits, FT_MUTEX_UNLOCKED);
}

// ft_fini, main thread attached, every other thread gone: demote everything
// so no object outlives the registry, then free it.
void
ft_shard_fini(void)
{
    ft_brc_merge_own();   // candidates other threads queued to us
    ft_ref_shard_sync(FT_SHARD_SYNC_DEMOTE_ALL);
    // No promotion after this point (the main thread's exit drains queues):
    // relaxed: single-threaded now; ft_shard_init() sets it again
    ft_atomic_store_relaxed_int(&ft_shard_threshold_value, 0);
    ft_err_clear();
    FT_FATAL_IF(ft_ref_shard_live() != 0, "shard: %lld objects still sharded at ft_fini",
                (long long)ft_ref_shard_live());
    ft_object_stack_fini(&shard.suspects);
    ft_mem_free(shard.objs);
    ft_mem_free(shard.idle);
    ft_mem_free(shard.free_ids);
    shard.objs = NULL;
    shard.idle = NULL;
    shard.free_ids = NULL;
    shard.nfree = 0;
    shard.high = 0;
    shard.cap = 0;
    // The main thread's table is folded and freed when it unregisters.
}

#else   // !FT_SHARDED_RC: the public entry points exist in every build

void
ft_ref_incref_sharded_slow(ft_object *obj)
{
    ft_ref_fatal(obj, "sharded incref in a build without FT_SHARDED_RC");
}

void
ft_ref_decref_sharded_slow(ft_object *obj)
{
    ft_ref_fatal(obj, "sharded decref in a build without FT_SHARDED_RC");
}

int
ft_ref_is_sharded(ft_object *obj)
{
    (void)obj;
    return 0;
}

static int64_t
sync_world(int flags)
{
    (void)flags;
    return 0;
}

static void
set_threshold(int threshold)
{
    (void)threshold;
}

static void
promote_request(ft_object *obj)
{
    (void)obj;
}

int
ft_ref_shard_threshold(void)
{
    return 0;
}

int64_t
ft_ref_shard_live(void)
{
    return 0;
}

void
ft_shard_init(void)
{
}

void
ft_shard_fini(void)
{
}

void
ft_shard_thread_exit(ft_thread *thread)
{
    (void)thread;
}

void
ft_shard_safepoint(void)
{
    // relaxed: we clear our own request bit (never set in this build)
    ft_atomic_and_relaxed_u32(&ft_tls.eval_breaker, ~(uint32_t)FT_EB_SHARD);
}

int64_t
ft_shard_in_pause(ft_object_stack *drops, bool full, bool demote_all)
{
    (void)drops;
    (void)full;
    (void)demote_all;
    return 0;
}

void
ft_shard_after_fork_child(ft_thread *survivor)
{
    (void)survivor;
}

int64_t
ft_shard_settle(void)
{
    return 0;
}

void
ft_shard_flush(void)
{
}

#endif

// ------------------------------------------------------------ public checks
// Argument checks shared by both builds; the work is build-specific.
int64_t
ft_ref_shard_sync(int flags)
{
    if (!ft_thread_check_attached("ft_ref_shard_sync")) {
        return -1;
    }
    if (flags & ~FT_SHARD_SYNC_DEMOTE_ALL) {
        ft_err_set(FT_ERR_VALUE, "ft_ref_shard_sync: unknown flags 0x%x", (unsigned)flags);
        return -1;
    }
    return sync_world(flags);
}

void
ft_ref_shard_set_threshold(int threshold)
{
    if (threshold < 0 || threshold > 7) {
        ft_err_set(FT_ERR_VALUE, "ft_ref_shard_set_threshold: %d is not in 0..7", threshold);
        return;
    }
    set_threshold(threshold);
}

int
ft_ref_shard_promote(ft_object *obj)
{
    if (!ft_thread_check_attached("ft_ref_shard_promote")) {
        return -1;
    }
    if (obj == NULL) {
        ft_err_set(FT_ERR_VALUE, "ft_ref_shard_promote: NULL object");
        return -1;
    }
    promote_request(obj);
    return 0;
}
