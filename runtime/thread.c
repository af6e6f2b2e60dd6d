// runtime/thread.c: the thread registry, attach/detach, thread start/join.
//
// Invariant (T1): only ATTACHED threads, and a pause's requester, touch
// objects. A thread's `state` word moves DETACHED -> ATTACHED only by its own
// CAS, and leaves DETACHED for SUSPENDED only by the CAS of a pause requester
// or a BRC merger; whoever suspended it releases it (T2). A detached thread
// holds no critical-section lock, no internal lock and (with a global lock)
// not the GIL, so nothing waits on it.
//
// How: attach = take the GIL if one is on, CAS DETACHED -> ATTACHED (parking
// on the state word while it is SUSPENDED), come online for QSBR, re-lock the
// top critical section. Detach = drain our merge queue (destructors need us
// attached), release sections, go offline, release-store DETACHED, drop the
// GIL. Thread ids are serials from 1, taken on the thread itself at
// registration and never reused (DESIGN.md §4.2).
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime_internal.h"

__thread ft_tls_state ft_tls __attribute__((tls_model("initial-exec"))) = {
    .tid = FT_TID_NONE,
};

ft_runtime ft_runtime_state;
#define rt ft_runtime_state

ft_thread *
ft_thread_self(void)
{
    return ft_tls.thread;
}

bool
ft_thread_is_attached(void)
{
    return ft_tls.attached != 0;
}

bool
ft_thread_check_attached(const char *function)
{
    if (FT_LIKELY(ft_tls.attached)) {
        return true;
    }
    ft_err_set(FT_ERR_RUNTIME, "%s: the calling thread is not attached to the ftrt runtime",
               function);
    return false;
}

// ------------------------------------------------------------ registry
void
ft_threads_foreach_locked(void (*fn)(ft_thread *, void *), void *arg)
{
    for (ft_thread *t = rt.threads; t != NULL; t = t->next) {
        fn(t, arg);
    }
}

ft_thread *
ft_thread_lookup_locked(uintptr_t tid)
{
    for (ft_thread *t = rt.threads; t != NULL; t = t->next) {
        if (t->tid == tid) {
            return t;
        }
    }
    return NULL;
}

// Gives the calling thread its id and TLS, and links `t` into every
// per-thread structure. Registration never stops the world (gh-157666).
static void
register_thread(ft_thread *t)
{
    // relaxed: ids only need to be unique
    t->tid = ft_atomic_add_relaxed_u64(&rt.next_tid, 1);
    t->eval_breaker = &ft_tls.eval_breaker;
    t->hot_stats = &ft_tls.stats;
    t->tls = &ft_tls;
    ft_tls.shard_tab = NULL;
    ft_tls.shard_cap = 0;
    memset(&ft_tls.stats, 0, sizeof(ft_tls.stats));
    // relaxed: nobody else knows this thread yet
    ft_atomic_store_relaxed_u32(&ft_tls.eval_breaker, 0);
    ft_tls.tid = t->tid;
    ft_tls.thread = t;
    ft_tls.cs_top = 0;
    ft_tls.attached = 0;
    ft_brc_thread_register(t);
    ft_qsbr_thread_register(t);
    ft_gc_thread_register(t);
    ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    // A thread created during a pause starts suspended (DESIGN.md §4.6).
    uint32_t state = rt.world_requested ? FT_THREAD_SUSPENDED : FT_THREAD_DETACHED;
    t->world_parked = rt.world_requested;
    // relaxed: published to others by threads_mutex
    ft_atomic_store_relaxed_u32(&t->state, state);
    t->prev = NULL;
    t->next = rt.threads;
    if (rt.threads != NULL) {
        rt.threads->prev = t;
    }
    rt.threads = t;
    rt.thread_count++;
    t->registered = 1;
    ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
}

static void
fold_counters(ft_thread *t)
{
    const _Atomic(uint64_t) *hot = (const _Atomic(uint64_t) *)t->hot_stats;
    for (size_t i = 0; i < sizeof(ft_hot_stats) / sizeof(uint64_t); i++) {
        // relaxed: statistics only
        ft_atomic_add_relaxed_u64(&rt.exited_hot[i], ft_atomic_load_relaxed_u64(&hot[i]));
    }
    for (size_t i = 0; i < FT_STAT_COLD_COUNT; i++) {
        // relaxed: statistics only
        uint64_t v = ft_atomic_load_relaxed_u64(&t->cold_stats[i]);
        if (i == FT_STAT_qsbr_deferred_bytes_peak) {
            uint64_t old = ft_atomic_load_relaxed_u64(&rt.exited_cold[i]);
            while (v > old && !ft_atomic_cas_relaxed_u64(&rt.exited_cold[i], &old, v)) {
            }
        } else {
            ft_atomic_add_relaxed_u64(&rt.exited_cold[i], v);
        }
    }
}

// The exit sequence of an attached thread: drain the merge queue until
// unregistered from BRC, hand deferred frees on, splice the GC list, fold
// counters, clear the GIL drop request, detach and unlink.
static void
unregister_thread(ft_thread *t)
{
    FT_FATAL_IF(!ft_cs_stack_is_empty(),
                "thread %lu exits with a critical section still open",
                (unsigned long)t->tid);
    // Our deltas become header counts before anything else: from here on
    // we count sharded objects in their headers (DESIGN: refcount/shard.c).
    ft_shard_thread_exit(t);
    // From here on other threads may merge our objects as orphans, so we
    // drop our id at once: any later incref/decref here takes the shared
    // path instead of writing ob_ref_local under a merger (B1).
    ft_brc_thread_unregister(t);
    ft_tls.tid = FT_TID_NONE;
    ft_qsbr_thread_unregister(t);
    ft_gc_thread_unregister(t);
    ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    fold_counters(t);
    if (t->prev != NULL) {
        t->prev->next = t->next;
    } else {
        rt.threads = t->next;
    }
    if (t->next != NULL) {
        t->next->prev = t->prev;
    }
    rt.thread_count--;
    t->registered = 0;
    ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    ft_gil_thread_exit(t);
    ft_detach();
    ft_tls.thread = NULL;
    ft_tls.tid = FT_TID_NONE;
}

// ------------------------------------------------------------ attach / detach
static bool
still_suspended(const void *addr, void *arg)
{
    (void)arg;
    // relaxed: validated under the parking bucket lock; the wake-up is ordered
    // by the releaser's unpark after its release store
    return ft_atomic_load_relaxed_u32((const _Atomic(uint32_t) *)addr) ==
           FT_THREAD_SUSPENDED;
}

static void
attach_state(ft_thread *t)
{
    bool waited = false;
    for (;;) {
        uint32_t expected = FT_THREAD_DETACHED;
        // pairs: release in ft_world_start() / the BRC merger's CAS back to DETACHED
        if (ft_atomic_cas_acquire_u32(&t->state, &expected, FT_THREAD_ATTACHED)) {
            break;
        }
        FT_FATAL_IF(expected == FT_THREAD_ATTACHED, "attach while attached (thread %lu)",
                    (unsigned long)t->tid);
        if (!waited) {
            ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
            t->attach_waiting = 1;
            ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
            waited = true;
        }
        ft_parking_park(&t->state, still_suspended, NULL, -1, false);
    }
    if (waited) {
        ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
        t->attach_waiting = 0;
        ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    }
    ft_tls.attached = 1;
    ft_qsbr_online(t);
    if (ft_tls.cs_top != 0) {
        ft_cs_resume_top();
    }
}

static void
detach_state(ft_thread *t)
{
    ft_cs_suspend_all();
    ft_qsbr_offline(t);
    ft_tls.attached = 0;
    // pairs: acquire CAS in ft_world_stop() / the BRC merger
    ft_atomic_store_release_u32(&t->state, FT_THREAD_DETACHED);
}

void
ft_attach(void)
{
    ft_thread *t = ft_tls.thread;
    if (t == NULL) {
        ft_err_set(FT_ERR_RUNTIME, "ft_attach: the calling thread has no ftrt thread state");
        return;
    }
    FT_FATAL_IF(ft_tls.attached, "attach while attached (thread %lu)", (unsigned long)t->tid);
    if (ft_gil_is_enabled()) {
        ft_gil_take(t);
    }
    attach_state(t);
}

void
ft_detach(void)
{
    ft_thread *t = ft_tls.thread;
    if (t == NULL) {
        ft_err_set(FT_ERR_RUNTIME, "ft_detach: the calling thread has no ftrt thread state");
        return;
    }
    FT_FATAL_IF(!ft_tls.attached, "detach while detached (thread %lu)", (unsigned long)t->tid);
    if (ft_brc_has_pending(t)) {
        ft_brc_merge_own();   // destructors need us attached
    }
    ft_shard_flush();         // no candidate waits on a detached thread
    detach_state(t);
    if (ft_gil_is_enabled()) {
        ft_gil_drop(t);
    }
}

bool
ft_thread_detach_for_block(void)
{
    ft_thread *t = ft_tls.thread;
    if (t == NULL || !ft_tls.attached) {
        return false;
    }
    detach_state(t);
    if (ft_gil_is_enabled()) {
        ft_gil_drop(t);
    }
    return true;
}

void
ft_thread_attach_after_block(bool was_attached)
{
    if (was_attached) {
        ft_thread *t = ft_tls.thread;
        if (ft_gil_is_enabled()) {
            ft_gil_take(t);
        }
        attach_state(t);
    }
}

// Used by ft_world_park_self(): detach without the GIL (a pause only exists
// without a global lock) and wait to be released.
void
ft_thread_park_for_world_locked(ft_thread *t)
{
    ft_cs_suspend_all();
    ft_qsbr_offline(t);
    ft_tls.attached = 0;
    // pairs: acquire in the requester, through threads_mutex (held by caller)
    ft_atomic_store_release_u32(&t->state, FT_THREAD_SUSPENDED);
    t->world_parked = 1;
}

void
ft_thread_reattach_after_world(ft_thread *t)
{
    attach_state(t);
}

// ------------------------------------------------------------ main / foreign threads
int
ft_thread_register(void)
{
    if (ft_tls.thread != NULL) {
        ft_err_set(FT_ERR_RUNTIME, "ft_thread_register: thread already registered");
        return -1;
    }
    // acquire: pairs: release store in ft_init()
    if (!ft_atomic_load_acquire_u32(&rt.initialized)) {
        ft_err_set(FT_ERR_RUNTIME, "ft_thread_register: ftrt is not initialized");
        return -1;
    }
    ft_thread *t = ft_mem_alloc_aligned_zeroed(FT_CACHE_LINE, sizeof(ft_thread));
    if (t == NULL) {
        ft_err_no_memory();
        return -1;
    }
    register_thread(t);
    ft_attach();
    return 0;
}

void
ft_thread_unregister(void)
{
    ft_thread *t = ft_tls.thread;
    if (t == NULL || t->started || t == rt.main_thread) {
        ft_err_set(FT_ERR_RUNTIME, "ft_thread_unregister: not a registered foreign thread");
        return;
    }
    if (!ft_tls.attached) {
        ft_attach();
    }
    unregister_thread(t);
    ft_mem_free(t);
}

// Registers the main thread at ft_init.
int
ft_thread_init_main(void)
{
    ft_thread *t = ft_mem_alloc_aligned_zeroed(FT_CACHE_LINE, sizeof(ft_thread));
    if (t == NULL) {
        return -1;
    }
    rt.main_thread = t;
    register_thread(t);
    return 0;
}

void
ft_thread_fini_main(void)
{
    ft_thread *t = rt.main_thread;
    unregister_thread(t);
    rt.main_thread = NULL;
    ft_mem_free(t);
}

// ------------------------------------------------------------ start / join
static void *
thread_trampoline(void *arg)
{
    ft_thread *t = arg;
    register_thread(t);
    ft_attach();
    t->fn(t->arg);
    unregister_thread(t);
    return NULL;
}

ft_thread *
ft_thread_start(void (*fn)(void *), void *arg)
{
    if (!ft_thread_check_attached("ft_thread_start")) {
        return NULL;
    }
    if (fn == NULL) {
        ft_err_set(FT_ERR_TYPE, "ft_thread_start: fn is NULL");
        return NULL;
    }
    ft_thread *t = ft_mem_alloc_aligned_zeroed(FT_CACHE_LINE, sizeof(ft_thread));
    if (t == NULL) {
        ft_err_no_memory();
        return NULL;
    }
    t->fn = fn;
    t->arg = arg;
    t->started = 1;
    ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    rt.started_unjoined++;
    ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    int rc = pthread_create(&t->pthread, NULL, thread_trampoline, t);
    if (rc != 0) {
        ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
        rt.started_unjoined--;
        ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
        ft_mem_free(t);
        if (rc == EAGAIN || rc == ENOMEM) {
            ft_err_no_memory();
        } else {
            ft_err_set(FT_ERR_RUNTIME, "ft_thread_start: pthread_create failed (%d)", rc);
        }
        return NULL;
    }
    return t;
}

int
ft_thread_join(ft_thread *t)
{
    if (!ft_thread_check_attached("ft_thread_join")) {
        return -1;
    }
    if (t == NULL || !t->started) {
        ft_err_set(FT_ERR_TYPE, "ft_thread_join: not a thread handle from ft_thread_start");
        return -1;
    }
    int rc;
    FT_BEGIN_ALLOW_THREADS
    rc = pthread_join(t->pthread, NULL);
    FT_END_ALLOW_THREADS
    if (rc != 0) {
        ft_err_set(FT_ERR_RUNTIME, "ft_thread_join: pthread_join failed (%d)", rc);
        return -1;
    }
    ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    rt.started_unjoined--;
    ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    ft_mem_free(t);
    return 0;
}
