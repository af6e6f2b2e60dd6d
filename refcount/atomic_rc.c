// refcount/atomic_rc.c: counting without bias -- FT_REFCOUNT=atomic (one
// atomic count per object for every thread, the ablation baseline of
// DESIGN.md §4.2) and the GIL build's plain count. Built whenever brc.c is
// not (refcount/sources.cmake).
//
// Invariant: the count is the whole truth -- ob_ref_shared (atomic build) or
// ob_refcnt (GIL build) -- and the thread whose decrement takes it from 1 to
// 0 deallocates; the atomic build's acq_rel decrement makes that thread
// happen-after every other holder's last access (B7). ob_ref_local only
// marks immortals (UINT32_MAX) and is never written after creation.
//
// How: the fast paths in refcount.h do all the counting; what remains here
// are the readers' try-incref, the uniqueness test and the BRC hooks, which
// have nothing to do without queues. The biased slow paths exist so that
// every build exports the same functions; calling them is a bug.
#include <stdbool.h>
#include <stdint.h>

#include "refcount/refcount.h"
#include "refcount/refcount_internal.h"
#include "runtime/runtime_internal.h"

#if FT_REFCOUNT_BIASED
#  error "atomic_rc.c is not built with FT_REFCOUNT=biased (refcount/sources.cmake)"
#endif

void
ft_ref_merge_zero_local(ft_object *obj)
{
    ft_ref_fatal(obj, "biased merge called in a build without biased counting");
}

void
ft_ref_decref_shared(ft_object *obj)
{
    ft_ref_fatal(obj, "biased shared decref called in a build without biased counting");
}

#if FT_REFCOUNT_ATOMIC
// A CAS that refuses 0: a count that reached 0 is being deallocated.
int
ft_ref_try_incref(ft_object *obj)
{
    // relaxed: the immortal marker never changes (I4: no write)
    if (ft_atomic_load_relaxed_u32(&obj->ob_ref_local) == FT_REF_LOCAL_IMMORTAL) {
        return 1;
    }
    // relaxed: validated by the CAS
    intptr_t count = ft_atomic_load_relaxed_intptr(&obj->ob_ref_shared);
    do {
        if (count <= 0) {
            return 0;
        }
        // pairs: acq_rel fetch_sub in ft_decref() (refcount.h)
    } while (!ft_atomic_cas_acq_rel_intptr(&obj->ob_ref_shared, &count, count + 1));
    FT_STAT_INC(rc_shared_incref);
    return 1;
}

int
ft_is_unique(ft_object *obj)
{
    // relaxed: the immortal marker never changes
    if (ft_atomic_load_relaxed_u32(&obj->ob_ref_local) == FT_REF_LOCAL_IMMORTAL) {
        return 0;
    }
    // A holder's last access happens-before whatever the caller does next.
    // pairs: acq_rel fetch_sub in ft_decref()
    if (ft_atomic_load_acquire_intptr(&obj->ob_ref_shared) != 1) {
        return 0;
    }
    // pairs: release fetch_or of FT_GC_BIT_SHARED by the thread that shared it
    return !(ft_atomic_load_acquire_u8(&obj->ob_gc_bits) & FT_GC_BIT_SHARED);
}

int64_t
ft_ref_count_approx(ft_object *obj)
{
    // relaxed: statistics and tests only (H4)
    if (ft_atomic_load_relaxed_u32(&obj->ob_ref_local) == FT_REF_LOCAL_IMMORTAL) {
        return (int64_t)1 << 62;
    }
    // relaxed: statistics and tests only (H4)
    return (int64_t)ft_atomic_load_relaxed_intptr(&obj->ob_ref_shared);
}
#else
// GIL build: every access below is guarded by the GIL.
int
ft_ref_try_incref(ft_object *obj)
{
    FT_STAT_INC(rc_owner_incref);
    obj->ob_refcnt++;
    return 1;
}

int
ft_is_unique(ft_object *obj)
{
    return obj->ob_refcnt == 1;
}

int64_t
ft_ref_count_approx(ft_object *obj)
{
    return (int64_t)obj->ob_refcnt;
}
#endif

// ------------------------------------------------------------ thread hooks
// No queues: every hook is a no-op.
void
ft_brc_thread_register(ft_thread *thread)
{
    (void)thread;
}

void
ft_brc_thread_unregister(ft_thread *thread)
{
    (void)thread;
}

void
ft_brc_merge_own(void)
{
    // relaxed: owner clears its own bit (nobody sets it in this build)
    ft_atomic_and_relaxed_u32(&ft_tls.eval_breaker, ~(uint32_t)FT_EB_BRC);
}

bool
ft_brc_has_pending(ft_thread *thread)
{
    (void)thread;
    return false;
}

void
ft_brc_merge_all_in_pause(ft_object_stack *later)
{
    (void)later;
}

void
ft_brc_after_fork_child(ft_thread *survivor)
{
    (void)survivor;
}
