// gc/gc_internal.h: GC lists and QSBR, shared with the object types.
#ifndef FT_GC_GC_INTERNAL_H
#define FT_GC_GC_INTERNAL_H

#ifndef FT_BUILD_CORE
#  error "gc_internal.h is private to the ftrt runtime"
#endif

#include <stdbool.h>
#include <stdint.h>

#include "refcount/refcount.h"
#include "runtime/runtime_internal.h"

// The GC prefix, in front of the header of every FT_TPFLAGS_GC object in
// both builds (DESIGN.md §4.1): next == 0 means untracked; prev_bits is the
// previous node | 4 flag bits (in a collection: gc_refs << 4 | flags).
// Touched only under its list's lock or while the world is stopped.
typedef struct ft_gc_head {
    uintptr_t next;        // guarded by: its slot's lock, or world stopped
    uintptr_t prev_bits;   // guarded by: its slot's lock, or world stopped
} ft_gc_head;
static_assert(sizeof(ft_gc_head) == 16, "GC prefix is 16 bytes");
static_assert(_Alignof(ft_object) >= 8, "prev_bits keeps 4 flag bits (16-byte heads)");

static inline ft_gc_head *
ft_gc_head_of(ft_object *obj)
{
    return (ft_gc_head *)obj - 1;
}

static inline ft_object *
ft_gc_object_of(ft_gc_head *head)
{
    return (ft_object *)(head + 1);
}

// Links a new GC object into the calling thread's list / unlinks it (G3:
// untrack before anything that can reach a safepoint). Untracking an
// untracked object does nothing.
void ft_gc_track(ft_object *obj);
void ft_gc_untrack(ft_object *obj);
int ft_gc_is_tracked(ft_object *obj);

// ------------------------------------------------------------ GC lists (gclist.c)
// Slot table: 0 orphans (lists of exited threads), 1 reserved for the
// collector, 2..FT_GC_SLOTS-1 one per live thread.
#define FT_GC_SLOTS 4096
#define FT_GC_SLOT_ORPHANS 0u
#define FT_GC_SLOT_FIRST_THREAD 2u
enum { FT_GC_SLOT_FREE = 0, FT_GC_SLOT_ACTIVE = 1, FT_GC_SLOT_FORWARDED = 2 };

typedef struct ft_gc_slot {
    ft_mutex lock;          // internal lock, rank GC_LIST (by slot number)
    _Atomic(uint8_t) state; // atomic (relaxed): FREE -> ACTIVE under slot_alloc_lock,
                            // ACTIVE -> FORWARDED under lock, FORWARDED -> FREE in a
                            // pause under slot_alloc_lock
    ft_gc_head sentinel __attribute__((aligned(16)));   // guarded by: lock, or world stopped
    int64_t count;          // guarded by: lock, or world stopped
} ft_gc_slot;

extern ft_gc_slot ft_gc_slots[FT_GC_SLOTS];
// World stopped: rewrite orphans' slot numbers to 0 and free FORWARDED slots.
void ft_gc_lists_fix_in_pause(void);
void ft_gc_lists_reset(void);   // at ft_init
int64_t ft_gc_tracked_in_pause(void);
unsigned ft_gc_slots_in_use(void);   // slots [0, n) may hold objects
bool ft_gc_slot_is_walkable(unsigned slot);   // world stopped: ACTIVE (acquire)
// Called every 64 tracks/untracks by a thread with its accumulated delta.
void ft_gc_note_allocations(int64_t delta);

#endif
