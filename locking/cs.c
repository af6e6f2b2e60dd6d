// locking/cs.c: critical sections (DESIGN.md §4.5).
//
// Invariant (C1, C2): the thread's sections form a LIFO stack through
// ft_tls.cs_top and each section's `prev`; bit INACTIVE on a link means the
// section it points to has released its locks, and only sections above the
// topmost INACTIVE link hold locks. A section whose fields are NULL owns
// nothing. While the thread is attached and not inside ft_cs_begin*/resume,
// the top section is active.
//
// How: ft_cs_begin owns nothing when the top section already holds the
// mutex (recursion is free) or when the caller is a stop-the-world
// requester, which must never wait for a lock a suspended thread holds (T4).
// Otherwise one try-lock and a push; on contention the section is pushed
// with NULL fields first and then locked, so if the lock parks and detaches,
// suspension finds an empty top section and releases everything below it.
// Detaching (ft_cs_suspend_all) unlocks sections from the top down while
// they are active and tags their links INACTIVE; attaching re-locks only the
// top one (ft_cs_resume_top), and ending a section resumes the new top if it
// is INACTIVE.
//
// Why deadlock-free: a thread that blocks detaches first and so releases
// every section lock, except the lower mutex of a two-object section while it
// waits for the higher one; every wait-for edge thus runs from a lower to a
// higher address, and there is no cycle.
//
// Origin: CPython's Python/critical_section.c, re-derived; we differ in
// resuming with NULL fields while re-locking (a park inside resume suspends
// an empty section) and in making the requester's sections own nothing
// (gh-144513) instead of locking.
#include "locking/locking_internal.h"
#include "refcount/refcount.h"

static_assert(FT_CS_INACTIVE < _Alignof(ft_cs), "the tag bit must fit an ft_cs pointer");

#if FT_CS_ENABLED

static inline ft_cs *
untag(uintptr_t link)
{
    return (ft_cs *)(link & ~FT_CS_INACTIVE);
}

static inline void
push(ft_cs *cs)
{
    cs->prev = ft_tls.cs_top;
    ft_tls.cs_top = (uintptr_t)cs;
}

static inline void
own_nothing(ft_cs *cs)
{
    cs->prev = 0;
    cs->m1 = NULL;
    cs->m2 = NULL;
}

// Whether the active top section holds m1 (and m2, when not NULL).
static inline bool
top_holds(const ft_mutex *m1, const ft_mutex *m2)
{
    uintptr_t link = ft_tls.cs_top;
    if (link == 0 || (link & FT_CS_INACTIVE)) {
        return false;
    }
    const ft_cs *top = untag(link);
    if (m2 == NULL) {
        return top->m1 == m1 || top->m2 == m1;
    }
    return top->m1 == m1 && top->m2 == m2;
}

static inline void
check_caller(void)
{
    FT_YIELD_POINT();
    FT_ASSERT(ft_tls.attached, "critical section begun by a thread that is not attached");
    // DESIGN.md §4.11: a pause's requester takes no section (T4); release
    // builds let it own nothing instead.
    FT_ASSERT(!ft_world_is_requester(),
              "critical section begun by the stop-the-world requester during a pause (T4)");
}

static FT_NOINLINE void
begin_slow(ft_cs *cs, ft_mutex *mutex)
{
    if (ft_world_is_requester()) {
        own_nothing(cs);
        return;
    }
    cs->m1 = NULL;  // pushed empty: a park inside the lock suspends nothing of ours
    cs->m2 = NULL;
    push(cs);
    ft_mutex_lock(mutex);
    cs->m1 = mutex;
}

void
ft_cs_begin_mutex(ft_cs *cs, ft_mutex *mutex)
{
    check_caller();
    if (top_holds(mutex, NULL)) {
        own_nothing(cs);
        return;
    }
    if (FT_LIKELY(ft_mutex_try_lock_inline(mutex))) {
        cs->m1 = mutex;
        cs->m2 = NULL;
        push(cs);
        return;
    }
    begin_slow(cs, mutex);
}

void
ft_cs_begin(ft_cs *cs, struct ft_object *obj)
{
    ft_cs_begin_mutex(cs, &obj->ob_mutex);
}

// m1 < m2. have_m1: the fast path already holds m1 (kept while we wait for
// m2: the one lock a blocked thread may keep, lower address first).
static FT_NOINLINE void
begin2_slow(ft_cs *cs, ft_mutex *m1, ft_mutex *m2, bool have_m1)
{
    if (ft_world_is_requester()) {
        if (have_m1) {
            ft_mutex_unlock(m1);
        }
        own_nothing(cs);
        return;
    }
    cs->m1 = NULL;
    cs->m2 = NULL;
    push(cs);
    if (!have_m1) {
        ft_mutex_lock(m1);
    }
    ft_mutex_lock(m2);
    cs->m1 = m1;
    cs->m2 = m2;
}

void
ft_cs_begin2(ft_cs *cs, struct ft_object *a, struct ft_object *b)
{
    ft_mutex *m1 = &a->ob_mutex;
    ft_mutex *m2 = &b->ob_mutex;
    if (m1 == m2) {
        ft_cs_begin_mutex(cs, m1);
        return;
    }
    check_caller();
    if ((uintptr_t)m1 > (uintptr_t)m2) {  // one global order: lower address first
        ft_mutex *tmp = m1;
        m1 = m2;
        m2 = tmp;
    }
    if (top_holds(m1, m2)) {
        own_nothing(cs);
        return;
    }
    if (!ft_mutex_try_lock_inline(m1)) {
        begin2_slow(cs, m1, m2, false);
        return;
    }
    if (!ft_mutex_try_lock_inline(m2)) {
        begin2_slow(cs, m1, m2, true);
        return;
    }
    cs->m1 = m1;
    cs->m2 = m2;
    push(cs);
}

// Re-locks cs, the top section. Its fields stay NULL while it waits, so a
// park inside (which detaches) finds nothing of it to release (C2).
static void
resume(ft_cs *cs)
{
    ft_mutex *m1 = cs->m1;
    ft_mutex *m2 = cs->m2;
    cs->m1 = NULL;
    cs->m2 = NULL;
    ft_tls.cs_top = (uintptr_t)cs;
    if (m1 != NULL) {
        ft_mutex_lock(m1);
    }
    if (m2 != NULL) {
        ft_mutex_lock(m2);
    }
    cs->m1 = m1;
    cs->m2 = m2;
}

void
ft_cs_end(ft_cs *cs)
{
    if (cs->m1 == NULL) {
        return;  // owned nothing and was never pushed
    }
    FT_YIELD_POINT();
    FT_ASSERT(ft_tls.cs_top == (uintptr_t)cs,
              "critical sections must end in reverse order of beginning");
    if (cs->m2 != NULL) {
        ft_mutex_unlock(cs->m2);
    }
    ft_mutex_unlock(cs->m1);
    ft_tls.cs_top = cs->prev;
    if (cs->prev & FT_CS_INACTIVE) {
        resume(untag(cs->prev));
    }
}

void
ft_cs_suspend_all(void)
{
    uintptr_t *link = &ft_tls.cs_top;
    while (*link != 0 && !(*link & FT_CS_INACTIVE)) {
        ft_cs *cs = untag(*link);
        if (cs->m2 != NULL) {
            ft_mutex_unlock(cs->m2);
        }
        if (cs->m1 != NULL) {
            ft_mutex_unlock(cs->m1);
            FT_STAT_ADD(cs_suspensions, 1);
        }
        *link |= FT_CS_INACTIVE;
        link = &cs->prev;
    }
}

void
ft_cs_resume_top(void)
{
    uintptr_t link = ft_tls.cs_top;
    if (link & FT_CS_INACTIVE) {
        resume(untag(link));
    }
}

#else  // !FT_CS_ENABLED: one global lock; sections only check their caller

void
ft_cs_begin_mutex(ft_cs *cs, ft_mutex *mutex)
{
    (void)mutex;
    FT_ASSERT(ft_tls.attached, "critical section begun by a thread that is not attached");
    cs->prev = 0;
    cs->m1 = NULL;
    cs->m2 = NULL;
}

void
ft_cs_begin(ft_cs *cs, struct ft_object *obj)
{
    (void)obj;
    ft_cs_begin_mutex(cs, NULL);
}

void
ft_cs_begin2(ft_cs *cs, struct ft_object *a, struct ft_object *b)
{
    (void)a;
    (void)b;
    ft_cs_begin_mutex(cs, NULL);
}

void
ft_cs_end(ft_cs *cs)
{
    (void)cs;
    FT_ASSERT(ft_tls.attached, "critical section ended by a thread that is not attached");
}

void
ft_cs_suspend_all(void)
{
}

void
ft_cs_resume_top(void)
{
}

#endif

bool
ft_cs_stack_is_empty(void)
{
    return ft_tls.cs_top == 0;
}
