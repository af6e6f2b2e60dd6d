// refcount/refcount.c: the slow paths every build shares: deallocation,
// fatal reference-count errors and immortal objects (DESIGN.md §4.3).
//
// Invariant (I1-I3): an immortal object is never freed and its header never
// changes after immortalization: FT builds mark it with ob_ref_local ==
// UINT32_MAX (ob_tid 0, ob_ref_shared 0, STATIC), which both fast paths test
// before writing anything; the GIL build counts it from 2^62, so its count
// never reaches 0.
//
// How: an object becomes immortal only while private to its creator (or in
// a pause), so the three relaxed stores below race with nobody. The
// mechanism-specific slow paths live in brc.c (biased) and atomic_rc.c
// (atomic and plain counting).
#include <stdint.h>

#include "objects/objects.h"
#include "refcount/refcount.h"
#include "refcount/refcount_internal.h"
#include "runtime/runtime_internal.h"

void
ft_ref_fatal(ft_object *obj, const char *what)
{
    // Best effort on a freed object: ob_type is the field an allocator is
    // least likely to have overwritten (mimalloc links free blocks through
    // the first word).
    const ft_type *type = obj != NULL ? obj->ob_type : NULL;
    const char *name = type != NULL && type->tp_name != NULL ? type->tp_name : "?";
    ft_fatal("%s (object %p, type %s)", what, (void *)obj, name);
}

// Runs on whichever thread observed the count reach zero; it happens-after
// every other holder's last access (B7), so the object is private again.
void
ft_ref_dealloc(ft_object *obj)
{
#if FT_DEBUG && (FT_REFCOUNT_BIASED || FT_REFCOUNT_ATOMIC)
    // pairs: acquire loads in ft_ref_check_alive() (refcount_internal.h)
    uint8_t bits = ft_atomic_or_release_u8(&obj->ob_gc_bits, FT_GC_BIT_DEAD);
    if (FT_UNLIKELY(bits & FT_GC_BIT_DEAD)) {
        ft_ref_fatal(obj, "deallocating an object twice");
    }
    // relaxed: the object is private to us (B7)
    if (FT_UNLIKELY(ft_atomic_load_relaxed_u32(&obj->ob_ref_local) == FT_REF_LOCAL_IMMORTAL)) {
        ft_ref_fatal(obj, "deallocating an immortal object");
    }
#elif FT_DEBUG
    if (FT_UNLIKELY(obj->ob_refcnt != 0)) {
        ft_ref_fatal(obj, "deallocating an object whose count is not zero");
    }
#endif
    ft_object_dealloc(obj);
}

int
ft_ref_is_immortal(ft_object *obj)
{
#if FT_REFCOUNT_BIASED || FT_REFCOUNT_ATOMIC
    // relaxed: the marker never changes for a live object (I2)
    return ft_atomic_load_relaxed_u32(&obj->ob_ref_local) == FT_REF_LOCAL_IMMORTAL;
#else
    // guarded by: the GIL. A count that started at 2^62 stays far above
    // 2^61: no program holds 2^61 references.
    return obj->ob_refcnt >= ((intptr_t)1 << 61);
#endif
}

// I1: the caller is the only thread that can reach `obj` (private, or a
// pause); debug builds check that a biased object is still the caller's.
void
ft_ref_make_immortal(ft_object *obj)
{
#if FT_REFCOUNT_BIASED || FT_REFCOUNT_ATOMIC
#  if FT_DEBUG && FT_REFCOUNT_BIASED
    // relaxed: private (I1); a foreign owner here is the caller's bug
    uintptr_t tid = ft_atomic_load_relaxed_uintptr(&obj->ob_tid);
    if (tid != ft_tls.tid && !ft_ref_is_immortal(obj) && !ft_world_is_requester()) {
        ft_ref_fatal(obj, "immortalizing an object another thread owns (I1)");
    }
#  endif
    // relaxed: private (I1); published later by a release like any new object
    ft_atomic_store_relaxed_uintptr(&obj->ob_tid, 0);
    ft_atomic_store_relaxed_intptr(&obj->ob_ref_shared, 0);
    ft_atomic_store_relaxed_u32(&obj->ob_ref_local, FT_REF_LOCAL_IMMORTAL);
    uint16_t flags = ft_atomic_load_relaxed_u16(&obj->ob_flags);
    ft_atomic_store_relaxed_u16(&obj->ob_flags, (uint16_t)(flags | FT_OBJ_FLAG_STATIC));
#else
    obj->ob_refcnt = FT_IMMORTAL_REFCNT;   // guarded by: the GIL
#endif
}
