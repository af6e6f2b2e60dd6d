// gc/gclist.c: the GC lists -- which tracked objects exist, per thread.
//
// Invariant: every tracked object (head->next != 0) is on exactly one
// circular list, the one of the slot named in its header (ob_flags), or of
// slot 0 when that slot is FORWARDED; the list's links change only under the
// slot's lock or while the world is stopped.
//
// How: a thread links its new containers into its own slot (an uncontended
// internal lock). Untracking -- possibly by another thread that dropped the
// last reference -- locks the slot the object names; if that slot was
// FORWARDED by its thread's exit, the object now lives on slot 0. Thread
// exit splices its list into slot 0 under both locks (lower first, K2) in
// O(1); the next collection rewrites the orphans' slot numbers and frees the
// FORWARDED slot. A thread that finds no FREE slot uses slot 0.
//
// Origin: CPython's GIL build keeps one global list; its free-threaded build
// walks mimalloc heaps instead, which stock mimalloc 2.0 cannot do for
// abandoned segments (DESIGN.md §4.10), hence per-thread lists here.
#include "gc/gc_internal.h"

ft_gc_slot ft_gc_slots[FT_GC_SLOTS];
static ft_mutex slot_alloc_lock;   // internal lock, rank GC_SLOTS
// One past the highest slot ever handed out since ft_init, so a collection
// walks only slots that can hold objects (4096 sentinels cost a fuzzer 60%
// of its time). Only grows between ft_init calls.
static _Atomic(uint32_t) slots_high = FT_GC_SLOT_FIRST_THREAD;   // atomic: under slot_alloc_lock (relaxed)

unsigned
ft_gc_slots_in_use(void)
{
    // relaxed: read in a pause or under slot_alloc_lock; grows under the lock
    return ft_atomic_load_relaxed_u32(&slots_high);
}

static void
lock_slot(unsigned slot)
{
    ft_mutex_lock_internal(&ft_gc_slots[slot].lock, FT_RANK_GC_LIST);
}

static void
unlock_slot(unsigned slot)
{
    ft_mutex_unlock_internal(&ft_gc_slots[slot].lock, FT_RANK_GC_LIST);
}

static void
list_init(ft_gc_head *sentinel)
{
    sentinel->next = (uintptr_t)sentinel;
    sentinel->prev_bits = (uintptr_t)sentinel;
}

void
ft_gc_lists_reset(void)
{
    // relaxed: ft_init runs alone
    ft_atomic_store_relaxed_u32(&slots_high, FT_GC_SLOT_FIRST_THREAD);
    for (unsigned i = 0; i < FT_GC_SLOTS; i++) {
        list_init(&ft_gc_slots[i].sentinel);
        ft_gc_slots[i].count = 0;
        // relaxed: ft_init runs alone
        ft_atomic_store_relaxed_u8(&ft_gc_slots[i].state, i < FT_GC_SLOT_FIRST_THREAD
                                                              ? FT_GC_SLOT_ACTIVE
                                                              : FT_GC_SLOT_FREE);
    }
}

static void
link_tail(ft_gc_head *sentinel, ft_gc_head *head)
{
    ft_gc_head *last = (ft_gc_head *)sentinel->prev_bits;
    head->next = (uintptr_t)sentinel;
    head->prev_bits = (uintptr_t)last;
    last->next = (uintptr_t)head;
    sentinel->prev_bits = (uintptr_t)head;
}

static void
unlink_head(ft_gc_head *head)
{
    // Outside a collection prev_bits holds a plain pointer (G2).
    ft_gc_head *prev = (ft_gc_head *)head->prev_bits;
    ft_gc_head *next = (ft_gc_head *)head->next;
    prev->next = (uintptr_t)next;
    next->prev_bits = (uintptr_t)prev;
    head->next = 0;
    head->prev_bits = 0;
}

static void
count_change(int delta)
{
    ft_thread *t = ft_thread_self();
    if (t == NULL) {
        return;
    }
    t->gc_alloc_delta += delta;   // owner only
    if (t->gc_alloc_delta >= 64 || t->gc_alloc_delta <= -64) {
        ft_gc_note_allocations(t->gc_alloc_delta);
        t->gc_alloc_delta = 0;
    }
}

void
ft_gc_track(ft_object *obj)
{
    ft_thread *t = ft_thread_self();
    unsigned slot = t != NULL ? t->gc_slot : FT_GC_SLOT_ORPHANS;
    ft_ref_set_gc_slot(obj, slot);   // private object: no reader yet
    lock_slot(slot);
    link_tail(&ft_gc_slots[slot].sentinel, ft_gc_head_of(obj));
    ft_gc_slots[slot].count++;
    unlock_slot(slot);
    count_change(1);
}

void
ft_gc_untrack(ft_object *obj)
{
    ft_gc_head *head = ft_gc_head_of(obj);
    unsigned slot = ft_ref_gc_slot(obj);
    lock_slot(slot);
    // relaxed: FORWARDED is written under this slot's lock, which we hold
    if (ft_atomic_load_relaxed_u8(&ft_gc_slots[slot].state) == FT_GC_SLOT_FORWARDED) {
        unlock_slot(slot);
        slot = FT_GC_SLOT_ORPHANS;
        lock_slot(slot);
    }
    if (head->next != 0) {
        unlink_head(head);
        ft_gc_slots[slot].count--;
        unlock_slot(slot);
        count_change(-1);
        return;
    }
    unlock_slot(slot);
}

int
ft_gc_is_tracked(ft_object *obj)
{
    ft_gc_head *head = ft_gc_head_of(obj);
    unsigned slot = ft_ref_gc_slot(obj);
    lock_slot(slot);
    int tracked = head->next != 0;
    unlock_slot(slot);
    return tracked;
}

// GIL build: one list (slot 0), so every thread tracks there.
void
ft_gc_thread_register(ft_thread *thread)
{
    thread->gc_alloc_delta = 0;
    thread->gc_slot = FT_GC_SLOT_ORPHANS;
    if (ft_ref_gc_slot_per_thread()) {
        ft_mutex_lock_internal(&slot_alloc_lock, FT_RANK_GC_SLOTS);
        for (unsigned i = FT_GC_SLOT_FIRST_THREAD; i < FT_GC_SLOTS; i++) {
            // relaxed: FREE changes only under slot_alloc_lock, which we hold
            if (ft_atomic_load_relaxed_u8(&ft_gc_slots[i].state) == FT_GC_SLOT_FREE) {
                lock_slot(i);
                list_init(&ft_gc_slots[i].sentinel);
                ft_gc_slots[i].count = 0;
                // A registering thread is not in the registry, so a pause
                // does not stop it: a collector walking slots skips FREE ones
                // and sees this initialized sentinel once it sees ACTIVE.
                // pairs: acquire load in ft_gc_slot_is_walkable()
                ft_atomic_store_release_u8(&ft_gc_slots[i].state, FT_GC_SLOT_ACTIVE);
                unlock_slot(i);
                thread->gc_slot = i;
                if (i + 1 > ft_atomic_load_relaxed_u32(&slots_high)) {
                    // relaxed: see slots_high
                    ft_atomic_store_relaxed_u32(&slots_high, i + 1);
                }
                break;
            }
        }
        ft_mutex_unlock_internal(&slot_alloc_lock, FT_RANK_GC_SLOTS);
    }
}

// Thread exit: splice the list into slot 0 in O(1) and forward the slot.
void
ft_gc_thread_unregister(ft_thread *thread)
{
    if (thread->gc_alloc_delta != 0) {
        ft_gc_note_allocations(thread->gc_alloc_delta);
        thread->gc_alloc_delta = 0;
    }
    unsigned slot = thread->gc_slot;
    if (slot == FT_GC_SLOT_ORPHANS) {
        return;
    }
    lock_slot(FT_GC_SLOT_ORPHANS);
    lock_slot(slot);
    ft_gc_head *from = &ft_gc_slots[slot].sentinel;
    if ((ft_gc_head *)from->next != from) {
        ft_gc_head *first = (ft_gc_head *)from->next;
        ft_gc_head *last = (ft_gc_head *)from->prev_bits;
        ft_gc_head *to = &ft_gc_slots[FT_GC_SLOT_ORPHANS].sentinel;
        ft_gc_head *to_last = (ft_gc_head *)to->prev_bits;
        to_last->next = (uintptr_t)first;
        first->prev_bits = (uintptr_t)to_last;
        last->next = (uintptr_t)to;
        to->prev_bits = (uintptr_t)last;
        list_init(from);
    }
    ft_gc_slots[FT_GC_SLOT_ORPHANS].count += ft_gc_slots[slot].count;
    ft_gc_slots[slot].count = 0;
    // relaxed: see the field's rule
    ft_atomic_store_relaxed_u8(&ft_gc_slots[slot].state, FT_GC_SLOT_FORWARDED);
    unlock_slot(slot);
    unlock_slot(FT_GC_SLOT_ORPHANS);
    thread->gc_slot = FT_GC_SLOT_ORPHANS;
}

void
ft_gc_lists_fix_in_pause(void)
{
    ft_gc_head *orphans = &ft_gc_slots[FT_GC_SLOT_ORPHANS].sentinel;
    for (ft_gc_head *h = (ft_gc_head *)orphans->next; h != orphans;
         h = (ft_gc_head *)h->next) {
        ft_ref_set_gc_slot(ft_gc_object_of(h), FT_GC_SLOT_ORPHANS);
    }
    // A thread registering now is not in the registry, so the pause did not
    // stop it: slot states change under slot_alloc_lock even here.
    ft_mutex_lock_internal(&slot_alloc_lock, FT_RANK_GC_SLOTS);
    unsigned high = ft_gc_slots_in_use();
    for (unsigned i = FT_GC_SLOT_FIRST_THREAD; i < high; i++) {
        // relaxed: see the field's rule
        if (ft_atomic_load_relaxed_u8(&ft_gc_slots[i].state) == FT_GC_SLOT_FORWARDED) {
            ft_atomic_store_relaxed_u8(&ft_gc_slots[i].state, FT_GC_SLOT_FREE);
        }
    }
    ft_mutex_unlock_internal(&slot_alloc_lock, FT_RANK_GC_SLOTS);
}

// World stopped: slots that can hold objects. Only ACTIVE ones can (a
// FORWARDED slot was spliced empty, a FREE one may be being initialized by
// a thread registering right now).
bool
ft_gc_slot_is_walkable(unsigned slot)
{
    // pairs: release store of ACTIVE in ft_gc_thread_register()
    return ft_atomic_load_acquire_u8(&ft_gc_slots[slot].state) == FT_GC_SLOT_ACTIVE;
}

int64_t
ft_gc_tracked_in_pause(void)
{
    int64_t n = 0;
    unsigned high = ft_gc_slots_in_use();
    for (unsigned i = 0; i < high; i++) {
        if (!ft_gc_slot_is_walkable(i)) {
            continue;
        }
        n += ft_gc_slots[i].count;
    }
    return n;
}
