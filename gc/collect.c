// gc/collect.c: the cycle collector (DESIGN.md §4.10).
//
// Invariant: an object is collected only if every reference to it comes from
// other unreachable tracked objects: its true count (taken with the world
// stopped after draining the merge queues, G1) minus the references found by
// traversing tracked objects is 0, and no object with outside references
// reaches it.
//
// How: in a pause (stop-the-world in the FT build; the GIL holder in the GIL
// build) set each tracked object's gc_refs to its count (step 1), subtract
// internal references through tp_traverse (2), mark everything reachable
// from an object with gc_refs > 0 (3), restore the list links (4), and take
// one reference to every unreachable object (5). Then restart the world
// BEFORE any deallocation code runs: tp_clear and the final decrefs may take
// object locks, block, allocate or collect again, none legal in a pause.
//
// Origin: the CPython cycle collector's gc_refs algorithm (Modules/gcmodule.c,
// Python/gc_free_threading.c); we keep per-thread lists instead of walking
// mimalloc heaps, and never clear inside the pause.
#include <time.h>

#include "gc/gc.h"
#include "gc/gc_internal.h"
#include "objects/objects.h"

#define FLAG_CANDIDATE ((uintptr_t)1)
#define FLAG_REACHABLE ((uintptr_t)2)
#define FLAG_MASK ((uintptr_t)15)
#define REFS_SHIFT 4

typedef struct ft_gc_state {
    ft_mutex collect_mutex;            // detaching lock: one collection at a time
    _Atomic(int) enabled;              // atomic: any thread (relaxed: a switch)
    _Atomic(int64_t) threshold;        // atomic: any thread (relaxed: a setting)
    _Atomic(int64_t) count;            // atomic: tracks - untracks since the last collection (relaxed)
    _Atomic(int64_t) live_after_last;  // atomic: collector writes, triggers read (relaxed)
    _Atomic(int64_t) last_end_ns;      // atomic: collector writes, triggers read (relaxed)
    _Atomic(int) collecting;           // atomic: CAS by automatic collections (acq_rel)
} ft_gc_state;

static ft_gc_state gc = {.enabled = 1, .threshold = 2000};

// ------------------------------------------------------------ pause helpers
static bool
is_candidate(ft_object *obj)
{
    if ((obj->ob_type->tp_flags & FT_TPFLAGS_GC) == 0) {
        return false;
    }
    ft_gc_head *head = ft_gc_head_of(obj);
    return head->next != 0 && (head->prev_bits & FLAG_CANDIDATE);
}

static int
subtract_ref(ft_object *obj, void *arg)
{
    (void)arg;
    if (is_candidate(obj)) {
        ft_gc_head_of(obj)->prev_bits -= (uintptr_t)1 << REFS_SHIFT;
    }
    return 0;
}

static int
push_reachable(ft_object *obj, void *arg)
{
    ft_object_stack *stack = arg;
    if (is_candidate(obj)) {
        ft_gc_head *head = ft_gc_head_of(obj);
        if ((head->prev_bits & FLAG_REACHABLE) == 0) {
            head->prev_bits |= FLAG_REACHABLE;
            if (ft_object_stack_push(stack, obj) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

typedef void (*each_fn)(ft_gc_head *head, void *arg);

static void
for_each_tracked(each_fn fn, void *arg)
{
    unsigned high = ft_gc_slots_in_use();
    for (unsigned slot = 0; slot < high; slot++) {
        if (!ft_gc_slot_is_walkable(slot)) {
            continue;
        }
        ft_gc_head *sentinel = &ft_gc_slots[slot].sentinel;
        for (ft_gc_head *h = (ft_gc_head *)sentinel->next; h != sentinel;
             h = (ft_gc_head *)h->next) {
            fn(h, arg);
        }
    }
}

static void
step1_init_refs(ft_gc_head *head, void *arg)
{
    int64_t *examined = arg;
    int64_t count = ft_ref_count_in_pause(ft_gc_object_of(head));
    // G3: no tracked object with count 0 exists in a pause; skip one defensively.
    FT_ASSERT(count > 0, "tracked object with reference count 0 in a pause");
    head->prev_bits = count > 0 ? ((uintptr_t)count << REFS_SHIFT) | FLAG_CANDIDATE : 0;
    (*examined)++;
}

static void
step2_subtract(ft_gc_head *head, void *arg)
{
    (void)arg;
    if (head->prev_bits & FLAG_CANDIDATE) {
        ft_object *obj = ft_gc_object_of(head);
        if (obj->ob_type->tp_traverse != NULL) {
            obj->ob_type->tp_traverse(obj, subtract_ref, NULL);
        }
    }
}

typedef struct mark_state {
    ft_object_stack stack;
    bool failed;
} mark_state;

// One loop on purpose: the roots and their transitive closure share the stack.
static void
step3_mark_roots(ft_gc_head *head, void *arg)
{
    mark_state *mark = arg;
    if (mark->failed || (head->prev_bits & FLAG_CANDIDATE) == 0 ||
        (head->prev_bits & FLAG_REACHABLE) || (head->prev_bits >> REFS_SHIFT) == 0) {
        return;
    }
    head->prev_bits |= FLAG_REACHABLE;
    ft_object *obj = ft_gc_object_of(head);
    do {
        if (obj->ob_type->tp_traverse != NULL &&
            obj->ob_type->tp_traverse(obj, push_reachable, &mark->stack) != 0) {
            mark->failed = true;
            return;
        }
    } while ((obj = ft_object_stack_pop(&mark->stack)) != NULL);
}

typedef struct sweep_state {
    ft_object_stack garbage;
    bool failed;
} sweep_state;

// Step 4 and 5 in one forward pass per list: restore prev links, and take a
// reference to each unreachable candidate.
static void
restore_and_collect(sweep_state *sweep)
{
    unsigned high = ft_gc_slots_in_use();
    for (unsigned slot = 0; slot < high; slot++) {
        if (!ft_gc_slot_is_walkable(slot)) {
            continue;
        }
        ft_gc_head *sentinel = &ft_gc_slots[slot].sentinel;
        ft_gc_head *prev = sentinel;
        for (ft_gc_head *h = (ft_gc_head *)sentinel->next; h != sentinel;
             h = (ft_gc_head *)h->next) {
            uintptr_t bits = h->prev_bits;
            h->prev_bits = (uintptr_t)prev;
            prev = h;
            if ((bits & FLAG_CANDIDATE) && !(bits & FLAG_REACHABLE) && !sweep->failed) {
                ft_object *obj = ft_gc_object_of(h);
                if (ft_object_stack_push(&sweep->garbage, obj) < 0) {
                    sweep->failed = true;
                } else {
                    ft_incref(obj);   // the collector's reference
                }
            }
        }
    }
}

static int64_t
monotonic_ns(void)
{
    return ft_monotonic_ns();
}

// ------------------------------------------------------------ collection
static int64_t
collect_locked(void)
{
    int64_t start = monotonic_ns();
    ft_object_stack later = {0};
    mark_state mark = {{0}, false};
    sweep_state sweep = {{0}, false};
    int64_t examined = 0;

    ft_object_stack shard_drops = {0};

    ft_world_stop();
    ft_brc_merge_all_in_pause(&later);
    // Sharded counts fold into their headers before anything counts (G1).
    ft_shard_in_pause(&shard_drops, true, false);
    ft_qsbr_collect_in_pause();
    ft_gc_lists_fix_in_pause();
    for_each_tracked(step1_init_refs, &examined);
    for_each_tracked(step2_subtract, NULL);
    for_each_tracked(step3_mark_roots, &mark);
    if (mark.failed) {
        sweep.failed = true;   // heap untouched: nothing is taken
    }
    restore_and_collect(&sweep);
    int64_t tracked_after = ft_gc_tracked_in_pause() - (int64_t)sweep.garbage.size;
    ft_world_start();

    ft_object_stack_fini(&mark.stack);
    ft_object *obj;
    while ((obj = ft_object_stack_pop(&later)) != NULL) {
        ft_decref(obj);
    }
    ft_object_stack_fini(&later);
    while ((obj = ft_object_stack_pop(&shard_drops)) != NULL) {
        ft_decref(obj);
    }
    ft_object_stack_fini(&shard_drops);
    int64_t n = sweep.failed ? 0 : (int64_t)sweep.garbage.size;
    // Break the cycles, then drop the collector's references.
    ft_object_stack drop = {0};
    while ((obj = ft_object_stack_pop(&sweep.garbage)) != NULL) {
        if (sweep.failed) {
            ft_decref(obj);   // out of memory: leave the heap as it was
            continue;
        }
        if (obj->ob_type->tp_clear != NULL) {
            FT_CS_BEGIN(obj);
            obj->ob_type->tp_clear(obj);
            FT_CS_END();
        }
        if (ft_object_stack_push(&drop, obj) < 0) {
            ft_decref(obj);   // its cycle is broken already
        }
    }
    ft_object_stack_fini(&sweep.garbage);
    while ((obj = ft_object_stack_pop(&drop)) != NULL) {
        ft_decref(obj);
    }
    ft_object_stack_fini(&drop);

    int64_t end = monotonic_ns();
    // relaxed: trigger heuristics only
    ft_atomic_store_relaxed_i64(&gc.count, 0);
    ft_atomic_store_relaxed_i64(&gc.live_after_last, tracked_after);
    ft_atomic_store_relaxed_i64(&gc.last_end_ns, end);
    FT_STAT_ADD(gc_collections, 1);
    FT_STAT_ADD(gc_freed, (uint64_t)n);
    FT_STAT_ADD(gc_examined, (uint64_t)examined);
    FT_STAT_ADD(gc_pause_ns, (uint64_t)(end - start));
    if (sweep.failed) {
        ft_err_no_memory();
        return -1;
    }
    return n;
}

int64_t
ft_gc_collect(void)
{
    if (!ft_thread_check_attached("ft_gc_collect")) {
        return -1;
    }
    FT_YIELD_POINT();
    ft_shard_flush();
    ft_mutex_lock(&gc.collect_mutex);   // detached while another collection runs
    int64_t n = collect_locked();
    ft_mutex_unlock(&gc.collect_mutex);
    // Garbage with sharded members dies at the next shard pause: run it now,
    // so that ft_live_objects() is exact after a collection.
    ft_shard_settle();
    return n;
}

// ------------------------------------------------------------ trigger
void
ft_gc_note_allocations(int64_t delta)
{
    // relaxed: a heuristic count
    int64_t count = ft_atomic_add_relaxed_i64(&gc.count, delta) + delta;
    int64_t threshold = ft_atomic_load_relaxed_i64(&gc.threshold);
    int64_t live = ft_atomic_load_relaxed_i64(&gc.live_after_last);
    if (count >= threshold && count >= live / 4 && ft_atomic_load_relaxed_int(&gc.enabled)) {
        // pairs: acquire load in ft_safepoint_slow() (only the bit matters)
        ft_atomic_or_release_u32(&ft_tls.eval_breaker, FT_EB_GC);
    }
}

void
ft_gc_safepoint(void)
{
    // relaxed: we clear our own request bit
    ft_atomic_and_relaxed_u32(&ft_tls.eval_breaker, ~(uint32_t)FT_EB_GC);
    // relaxed: switches and heuristics
    if (!ft_atomic_load_relaxed_int(&gc.enabled) ||
        ft_atomic_load_relaxed_i64(&gc.count) < ft_atomic_load_relaxed_i64(&gc.threshold) ||
        monotonic_ns() - ft_atomic_load_relaxed_i64(&gc.last_end_ns) < 1000000) {
        return;   // disabled, already collected by another thread, or < 1 ms since
    }
    int expected = 0;
    // pairs: release store below (one automatic collection at a time)
    if (!ft_atomic_cas_acq_rel_int(&gc.collecting, &expected, 1)) {
        return;
    }
    if (ft_mutex_try_lock(&gc.collect_mutex)) {
        collect_locked();
        ft_mutex_unlock(&gc.collect_mutex);
        ft_err_clear();   // an automatic collection reports nothing to the caller
    }
    // pairs: acquire CAS above
    ft_atomic_store_release_int(&gc.collecting, 0);
}

void
ft_gc_enable(void)
{
    ft_atomic_store_relaxed_int(&gc.enabled, 1);   // relaxed: a switch
}

void
ft_gc_disable(void)
{
    ft_atomic_store_relaxed_int(&gc.enabled, 0);   // relaxed: a switch
}

int
ft_gc_is_enabled(void)
{
    return ft_atomic_load_relaxed_int(&gc.enabled);   // relaxed: a switch
}

void
ft_gc_set_threshold(int64_t threshold)
{
    // relaxed: a setting
    ft_atomic_store_relaxed_i64(&gc.threshold, threshold > 0 ? threshold : 1);
}

void
ft_gc_init(void)
{
    ft_gc_lists_reset();
    // relaxed: ft_init runs alone
    ft_atomic_store_relaxed_i64(&gc.count, 0);
    ft_atomic_store_relaxed_i64(&gc.live_after_last, 0);
    ft_atomic_store_relaxed_i64(&gc.last_end_ns, 0);
    ft_atomic_store_relaxed_int(&gc.enabled, 1);
    ft_atomic_store_relaxed_i64(&gc.threshold, 2000);
}

void
ft_gc_fini(void)
{
    ft_gc_collect();
    ft_err_clear();
}
