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
// The design in one paragraph. An object whose foreign decrefs reach a
// threshold (counted in 4 spare bits of ob_ref_shared, inside the CAS the
// decref does anyway) becomes a candidate; at the next pause it loses its
// owner (its local count is folded into the shared word, as a merge does)
// and gets a small id: ob_tid = FT_TID_SHARDED | id. From then on every
// thread, the former owner included, counts it in its own table,
// ft_tls.shard_tab[id], with plain loads and stores. The true count is
//
//     count(header) + sum over threads of delta_t[id]
//
// and only a pause can assemble it, so a sharded object is freed only by a
// pause that found that sum 0.
//
// Invariants.
//   S1 delta_t[id] >= 0: a decref uses its own delta only when positive;
//      otherwise it subtracts from the header (which may go negative).
//   S2 After every pause that resolved an object (promotion, suspect or full
//      pass), its header is its true count and every delta is 0.
//   S3 So true == 0 implies header <= 0, and the header only falls through
//      decrefs. The decref that takes a resolved header from 1 to <= 0 marks
//      the object SHARD_SUSPECT (gc bit) and queues it -- once per
//      resolution. Every sharded object whose true count reaches 0 is
//      therefore on the suspect list, and the pause that resolves it frees
//      it (through `drops`: a dead object leaves as a plain MERGED|1 object
//      whose last decref, after the restart, deallocates it exactly once).
//   S4 Promotion, demotion, id reuse and freeing happen only with the world
//      stopped (the collector's pause or a shard pause), so ob_tid's sharded
//      bit and the registry never change under a running thread; and a
//      lock-free reader cannot span a pause, so ft_ref_try_incref() may count
//      a sharded object it found without checking that it is alive.
//   S5 An id is reused only after every table's entry for it is zeroed.
//   S6 A thread that exits adds its positive deltas to the headers first
//      (references it counted may live on in other threads' containers) and
//      counts in headers from then on; a fork child does the same for the
//      threads that did not survive.
//
// Prompt enough. Suspects wait for the next pause: one is requested (the
// pushing thread's eval breaker, FT_EB_SHARD) once SUSPECT_BATCH of them
// queue, every collection resolves them, and ft_gc_collect() and
// ft_ref_shard_sync() leave none behind. So at most SUSPECT_BATCH dead
// sharded objects (with what they own) wait at any time between
// collections. Candidates wait the same way (CANDIDATE_BATCH, or repeated
// foreign decrefs on a pending object request the pause).
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
#define CANDIDATE_BATCH 256
#define SUSPECT_BATCH 64
#define PENDING_HITS_PER_REQUEST 32
#define IDLE_ROUNDS 2
#define DEFAULT_THRESHOLD 8

typedef struct shard_state {
    ft_mutex mutex;                 // internal lock, rank FT_RANK_SHARD
    ft_object_stack candidates;     // guarded by: mutex; each entry holds a reference
    ft_object_stack suspects;       // guarded by: mutex; no reference (S3, S4)
    _Atomic(int) full_needed;       // atomic: a suspect could not be queued (relaxed:
                                    // read by the next pause, which orders it)
    _Atomic(int) threshold;         // atomic: a setting (relaxed)
    _Atomic(int64_t) live;          // atomic: written in pauses, read by anyone (relaxed)
    // The registry: written only by a pause's requester (S4); read by
    // attached threads, which every pause orders after its writes.
    ft_object **objs;               // [cap], NULL for a free id
    uint8_t *idle;                  // [cap]: full passes without an incref
    uint32_t *free_ids;             // [cap]: a stack of reusable ids
    uint32_t nfree;
    uint32_t high;                  // ids 1..high-1 were issued
    uint32_t cap;
} shard_state;

static shard_state shard = {.threshold = DEFAULT_THRESHOLD};

static __thread uint32_t pending_hits;   // owner only

static void
request_pause_on_self(void)
{
    // pairs: acquire load in ft_safepoint_slow() (only the bit matters)
    ft_atomic_or_release_u32(&ft_tls.eval_breaker, FT_EB_SHARD);
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
int
ft_shard_threshold_now(void)
{
    // relaxed: a setting
    return ft_atomic_load_relaxed_int(&shard.threshold);
}

void
ft_ref_shard_set_threshold(int threshold)
{
    if (threshold < 0 || threshold > 15) {
        ft_err_set(FT_ERR_VALUE, "ft_ref_shard_set_threshold: %d is not in 0..15", threshold);
        return;
    }
    // relaxed: a setting
    ft_atomic_store_relaxed_int(&shard.threshold, threshold);
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
        FT_FATAL_IF(*end != '\0' || v < 0 || v > 15,
                    "FT_SHARD_THRESHOLD=%s: expected an integer 0..15", env);
        threshold = (int)v;
    }
    // relaxed: before any other thread exists
    ft_atomic_store_relaxed_int(&shard.threshold, threshold);
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
static void
suspect(ft_object *obj)
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
    FT_STAT_ADD(shard_suspects, 1);
    if (rc < 0) {
        // relaxed: read by the next pause, which orders it
        ft_atomic_store_relaxed_int(&shard.full_needed, 1);
        request_pause_on_self();
    } else if (size >= SUSPECT_BATCH) {
        request_pause_on_self();
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
        suspect(obj);
    }
}

void
ft_shard_candidate(ft_object *obj)
{
    ft_mutex_lock_internal(&shard.mutex, FT_RANK_SHARD);
    int rc = ft_object_stack_push(&shard.candidates, obj);
    size_t size = shard.candidates.size;
    ft_mutex_unlock_internal(&shard.mutex, FT_RANK_SHARD);
    if (rc < 0) {
        ft_decref(obj);   // no memory: it stays pending and unsharded
        return;
    }
    if (size >= CANDIDATE_BATCH) {
        request_pause_on_self();
    }
}

void
ft_shard_note_pending(void)
{
    if (++pending_hits % PENDING_HITS_PER_REQUEST == 0) {
        request_pause_on_self();
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
    int64_t promoted;
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
    // A dead object whose push fails keeps its deltas' sum in the header
    // and is retried by the next pause: so fold the deltas only once we
    // know where it goes.
    sum_result sum = sum_entries(id, false, false);
    // relaxed: the world is stopped (S4)
    intptr_t header = ft_atomic_load_relaxed_intptr(&obj->ob_ref_shared);
    int64_t count = (int64_t)ft_ref_shared_count(header) + sum.deltas;
    if (count < 0) {
        ft_ref_fatal(obj, "reference count underflow (sharded count below zero)");
    }
    if (count == 0) {
        if (ft_object_stack_push(drops, obj) < 0) {
            res->requeue = true;   // stays sharded, header <= 0: found again
            return;
        }
        sum_entries(id, true, true);
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
    sum_entries(id, true, full);
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

static void
promote(ft_object *obj, pause_result *res)
{
    if (is_sharded(obj)) {
        return;   // queued twice (the threshold changed meanwhile)
    }
    // relaxed: the world is stopped (S4)
    intptr_t shared = ft_atomic_load_relaxed_intptr(&obj->ob_ref_shared);
    uint32_t id = 0;
    if (ft_ref_shared_state(shared) != FT_REF_QUEUED && ft_shard_threshold_now() != 0) {
        id = alloc_id();
    }
    if (id == 0) {
        // Declined (queued to its owner, promotion off, or no id): count
        // afresh. relaxed: the world is stopped
        ft_atomic_store_relaxed_intptr(&obj->ob_ref_shared, shared & ~FT_REF_HOT_MASK);
        return;
    }
    // Fold the owner's local count (B1: the owner is stopped); this also
    // clears the hot bits. The candidate's reference keeps the count >= 1.
    int64_t count = ft_ref_merge_in_pause(obj);
    FT_ASSERT(count >= 1, "promoting an object whose count is 0");
    // relaxed: the world is stopped (S4)
    ft_atomic_store_relaxed_intptr(&obj->ob_ref_shared,
                                   ft_ref_shared_make((intptr_t)count, FT_REF_MERGED));
    ft_atomic_store_relaxed_uintptr(&obj->ob_tid, FT_TID_SHARDED | id);
    ft_atomic_and_relaxed_u8(&obj->ob_gc_bits, (uint8_t)~FT_GC_BIT_SHARD_SUSPECT);
    shard.objs[id] = obj;
    shard.idle[id] = 0;
    // relaxed: a statistic
    ft_atomic_add_relaxed_i64(&shard.live, 1);
    res->promoted++;
}

static void
promote_each(ft_object *obj, void *arg)
{
    promote(obj, arg);
}

int64_t
ft_shard_in_pause(ft_object_stack *drops, bool full, bool demote_all)
{
    FT_ASSERT(ft_world_is_requester() || ft_gil_is_enabled(), "shard: pause work outside a pause");
    FT_ASSERT(drops->size == 0, "shard: drops must start empty");
    ft_object_stack suspects = {0};
    ft_mutex_lock_internal(&shard.mutex, FT_RANK_SHARD);
    ft_object_stack_take_all(drops, &shard.candidates);   // their references go after the restart
    ft_object_stack_take_all(&suspects, &shard.suspects);
    ft_mutex_unlock_internal(&shard.mutex, FT_RANK_SHARD);
    // relaxed: set by threads now stopped; the pause ordered their stores
    if (ft_atomic_exchange_relaxed_int(&shard.full_needed, 0)) {
        full = true;
    }

    pause_result res = {0, 0, 0, false};
    ft_mutex_lock_internal(&ft_runtime_state.threads_mutex, FT_RANK_THREADS);
    // Candidates first, while `drops` holds nothing else; a fresh id has no
    // entries yet, so a full pass below only starts its idle count.
    ft_object_stack_foreach(drops, promote_each, &res);
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
    ft_mutex_unlock_internal(&ft_runtime_state.threads_mutex, FT_RANK_THREADS);

    if (res.requeue) {
        // relaxed: read by the next pause
        ft_atomic_store_relaxed_int(&shard.full_needed, 1);
    }
    FT_STAT_ADD(shard_pauses, 1);
    FT_STAT_ADD(shard_promoted, (uint64_t)res.promoted);
    FT_STAT_ADD(shard_demoted, (uint64_t)res.demoted);
    FT_STAT_ADD(shard_freed, (uint64_t)res.dead);
    return res.dead;
}

// ------------------------------------------------------------ pauses
// Drops what a pause left: candidates' references and dead objects' last
// counts (plain MERGED objects now, so this frees them exactly once).
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
    bool pending = shard.candidates.size != 0 || shard.suspects.size != 0;
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
    drop_all(&drops);
    return dead;
}

void
ft_shard_safepoint(void)
{
    // relaxed: we clear our own request bit
    ft_atomic_and_relaxed_u32(&ft_tls.eval_breaker, ~(uint32_t)FT_EB_SHARD);
    if (work_pending()) {
        run_pause(false, false);
    }
}

// Dropping candidates and dead objects' contents may leave new suspects
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
    int64_t dead = run_pause(true, (flags & FT_SHARD_SYNC_DEMOTE_ALL) != 0);
    return dead + ft_shard_settle();
}

// ------------------------------------------------------------ thread exit, fork, fini
// S6: add our positive deltas to the headers. They cannot make any count
// reach zero, so nothing is freed here.
static void
fold_thread(ft_tls_state *tls)
{
    for (uint32_t id = 1; id < tls->shard_cap && id < shard.high; id++) {
        uint32_t delta = (uint32_t)tls->shard_tab[id];
        if (delta != 0) {
            ft_object *obj = shard.objs[id];
            FT_FATAL_IF(obj == NULL, "shard: delta %u for free id %u", delta, id);
            // relaxed: a sharded object is freed only by a pause (S4)
            ft_atomic_add_relaxed_intptr(&obj->ob_ref_shared,
                                         (intptr_t)delta * FT_REF_SHARED_ONE);
        }
    }
    ft_mem_free(tls->shard_tab);
    tls->shard_tab = NULL;
    tls->shard_cap = 0;
}

void
ft_shard_thread_exit(ft_thread *thread)
{
    FT_ASSERT(thread == ft_tls.thread && ft_tls.attached, "shard: exit fold from another thread");
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
            uint64_t *tab = tls->shard_tab;
            tls->shard_tab = NULL;
            uint32_t cap = tls->shard_cap;
            tls->shard_cap = 0;
            for (uint32_t id = 1; id < cap && id < shard.high; id++) {
                uint32_t delta = (uint32_t)tab[id];
                if (delta != 0 && shard.objs[id] != NULL) {
                    // relaxed: the child has one thread
                    ft_atomic_add_relaxed_intptr(&shard.objs[id]->ob_ref_shared,
                                                 (intptr_t)delta * FT_REF_SHARED_ONE);
                }
            }
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
    ft_ref_shard_sync(FT_SHARD_SYNC_DEMOTE_ALL);
    ft_err_clear();
    FT_FATAL_IF(ft_ref_shard_live() != 0, "shard: %lld objects still sharded at ft_fini",
                (long long)ft_ref_shard_live());
    ft_object_stack_fini(&shard.candidates);
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
    return 0;
}

void
ft_ref_shard_set_threshold(int threshold)
{
    if (threshold < 0 || threshold > 15) {
        ft_err_set(FT_ERR_VALUE, "ft_ref_shard_set_threshold: %d is not in 0..15", threshold);
    }
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

#endif
