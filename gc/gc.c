// gc/gc.c: collector entry points, GC-list tracking and the QSBR hooks.
//
// State of this file: GC objects carry their prefix and are marked tracked /
// untracked, and ft_gc_collect() stops the world and drains every pending
// biased-refcount merge queue, so ft_live_objects() is exact afterwards.
// Cycle detection (per-thread GC lists, the mark phase of DESIGN.md §4.10)
// and QSBR (§4.8) belong to the reclamation issue and replace the bodies
// below; until then the QSBR hooks have nothing to do because nothing is
// deferred (every free is immediate, and readers lock).
#include "gc/gc.h"
#include "gc/gc_internal.h"
#include "runtime/runtime_internal.h"

static _Atomic(int) gc_enabled = 1;         // atomic: any thread (relaxed: a switch)
static _Atomic(int64_t) gc_threshold = 2000;   // atomic: any thread (relaxed: a setting)

void
ft_gc_track(ft_object *obj)
{
    ft_gc_head_of(obj)->next = 1;   // private: called right after construction
}

void
ft_gc_untrack(ft_object *obj)
{
    ft_gc_head_of(obj)->next = 0;   // the deallocating thread holds the last reference
}

int
ft_gc_is_tracked(ft_object *obj)
{
    return ft_gc_head_of(obj)->next != 0;
}

int64_t
ft_gc_collect(void)
{
    if (!ft_thread_check_attached("ft_gc_collect")) {
        return -1;
    }
    ft_object_stack later = {0};
    ft_world_stop();
    ft_brc_merge_all_in_pause(&later);
    ft_world_start();
    // Deallocation code runs only after the restart (DESIGN.md §4.10).
    ft_object *obj;
    while ((obj = ft_object_stack_pop(&later)) != NULL) {
        ft_decref(obj);
    }
    ft_object_stack_fini(&later);
    FT_STAT_ADD(gc_collections, 1);
    return 0;
}

void
ft_gc_enable(void)
{
    ft_atomic_store_relaxed_int(&gc_enabled, 1);   // relaxed: a switch
}

void
ft_gc_disable(void)
{
    ft_atomic_store_relaxed_int(&gc_enabled, 0);   // relaxed: a switch
}

int
ft_gc_is_enabled(void)
{
    return ft_atomic_load_relaxed_int(&gc_enabled);   // relaxed: a switch
}

void
ft_gc_set_threshold(int64_t threshold)
{
    ft_atomic_store_relaxed_i64(&gc_threshold, threshold > 0 ? threshold : 1);   // relaxed: a setting
}

void
ft_gc_thread_register(ft_thread *thread)
{
    thread->gc_slot = 0;
    thread->gc_alloc_delta = 0;
}

void
ft_gc_thread_unregister(ft_thread *thread)
{
    (void)thread;
}

void
ft_gc_safepoint(void)
{
    // relaxed: owner clears its own request bit
    ft_atomic_and_relaxed_u32(&ft_tls.eval_breaker, ~(uint32_t)FT_EB_GC);
}

void
ft_gc_fini(void)
{
    ft_gc_collect();
}

void
ft_qsbr_thread_register(ft_thread *thread)
{
    // relaxed: not yet visible to other threads
    ft_atomic_store_relaxed_u64(&thread->qsbr_seq, 0);
}

void
ft_qsbr_thread_unregister(ft_thread *thread)
{
    (void)thread;
}

void
ft_qsbr_online(ft_thread *thread)
{
    (void)thread;
}

void
ft_qsbr_offline(ft_thread *thread)
{
    (void)thread;
}

void
ft_qsbr_safepoint(void)
{
    // relaxed: owner clears its own request bit
    ft_atomic_and_relaxed_u32(&ft_tls.eval_breaker, ~(uint32_t)FT_EB_QSBR);
}
