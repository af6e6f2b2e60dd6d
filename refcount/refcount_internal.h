// refcount/refcount_internal.h: what the reference-counting files share.
// Private to the runtime; tests read headers through refcount/refcount.h.
#ifndef FT_REFCOUNT_REFCOUNT_INTERNAL_H
#define FT_REFCOUNT_REFCOUNT_INTERNAL_H

#ifndef FT_BUILD_CORE
#  error "refcount_internal.h is private to the ftrt runtime"
#endif

#include <stdbool.h>
#include <stdint.h>

#include "refcount/refcount.h"
#include "runtime/config.h"
#include "runtime/runtime_internal.h"


#if FT_REFCOUNT_BIASED || FT_REFCOUNT_ATOMIC
// ob_ref_shared helpers (biased build; see the state table in refcount.h).
// Counts are extracted with an arithmetic shift (static_assert in
// refcount.h) and built by multiplication: left-shifting a negative count is
// undefined behaviour, which UBSan aborts on.
static inline intptr_t
ft_ref_shared_count(intptr_t shared)
{
    return shared >> FT_REF_SHARED_SHIFT;
}

static inline intptr_t
ft_ref_shared_state(intptr_t shared)
{
    return shared & FT_REF_STATE_MASK;
}

static inline intptr_t
ft_ref_shared_make(intptr_t count, intptr_t state)
{
    return count * FT_REF_SHARED_ONE + state;
}

// The contention counter of an unsharded object (FT_SHARDED_RC; always 0
// without). See refcount.h.
static inline intptr_t
ft_ref_shared_hot(intptr_t shared)
{
#  if FT_SHARDED_RC
    return (shared & FT_REF_HOT_MASK) / FT_REF_HOT_ONE;
#  else
    (void)shared;
    return 0;
#  endif
}

// MERGED with count 0: dead or dying, whatever the hot bits say.
static inline bool
ft_ref_shared_is_dead(intptr_t shared)
{
    return ft_ref_shared_state(shared) == FT_REF_MERGED && ft_ref_shared_count(shared) == 0;
}
#endif

#if FT_SHARDED_RC
// refcount/shard.c, called by brc.c: a foreign decref made the object a
// candidate and donates its reference to the candidate list.
void ft_shard_candidate(ft_object *obj);
// A foreign decref found an object pending promotion.
void ft_shard_note_pending(void);
// Promotes objs[0..n) (n <= FT_SHARD_PENDING_MAX), see shard.c; with
// `consume`, promoted entries become NULL (their references are dropped).
void ft_shard_promote_run(ft_object **objs, size_t n, bool consume);
// A sharded object's header count changed by n (negative: references
// dropped) / fell to <= 0 (a possible true zero: queue it for a pause).
void ft_shard_header_add(ft_object *obj, intptr_t n);
void ft_shard_header_fell(ft_object *obj);
extern _Atomic(int) ft_shard_threshold_value;   // atomic: a setting (relaxed)

static inline int
ft_shard_threshold_now(void)
{
    // relaxed: a setting
    return ft_atomic_load_relaxed_int(&ft_shard_threshold_value);
}
#endif

#if FT_REFCOUNT_BIASED || FT_REFCOUNT_ATOMIC
// Debug builds: aborts if the deallocator already marked `obj` DEAD. Best
// effort: once the memory is reused the bit is gone (ASan is the reliable
// detector).
static inline void
ft_ref_check_alive(ft_object *obj, const char *what)
{
#  if FT_DEBUG
    // pairs: release fetch_or in ft_ref_dealloc()
    if (FT_UNLIKELY(ft_atomic_load_acquire_u8(&obj->ob_gc_bits) & FT_GC_BIT_DEAD)) {
        ft_ref_fatal(obj, what);
    }
#  else
    (void)obj;
    (void)what;
#  endif
}
#endif

#endif
