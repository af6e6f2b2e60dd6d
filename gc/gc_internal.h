// gc/gc_internal.h: GC lists and QSBR, shared with the object types.
#ifndef FT_GC_GC_INTERNAL_H
#define FT_GC_GC_INTERNAL_H

#ifndef FT_BUILD_CORE
#  error "gc_internal.h is private to the ftrt runtime"
#endif

#include <stdint.h>

#include "refcount/refcount.h"

// The GC prefix, in front of the header of every FT_TPFLAGS_GC object in
// both builds (DESIGN.md §4.1): next == 0 means untracked; prev_bits is the
// previous node | 4 flag bits. Touched only under its list's lock or while
// the world is stopped.
typedef struct ft_gc_head {
    uintptr_t next;
    uintptr_t prev_bits;
} ft_gc_head;
static_assert(sizeof(ft_gc_head) == 16, "GC prefix is 16 bytes");

static inline ft_gc_head *
ft_gc_head_of(ft_object *obj)
{
    return (ft_gc_head *)obj - 1;
}

// Links a new GC object into the calling thread's list / unlinks it (G3:
// untrack before anything that can reach a safepoint). Untracking an
// untracked object does nothing.
void ft_gc_track(ft_object *obj);
void ft_gc_untrack(ft_object *obj);
int ft_gc_is_tracked(ft_object *obj);

#endif
