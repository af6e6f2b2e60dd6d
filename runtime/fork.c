// runtime/fork.c: after-fork handling (DESIGN.md §4.11).
//
// Prepare stops the world (with a global lock, holding it is enough), so no
// thread is inside a runtime structure and the child's copy is consistent;
// the parent restarts. The child, alone, drops every other thread from the
// registry, BRC and the parking lot (their objects become orphans), resets
// internal locks and the world state, and keeps (GIL) the global lock. The
// handlers do nothing while the runtime is not initialized, so a program may
// fork freely before ft_init or after ft_fini.
#include <pthread.h>

#include "runtime/runtime_internal.h"

#define rt ft_runtime_state

static _Atomic(int) fork_active;   // atomic: forking thread only (relaxed)

static void
prepare(void)
{
    // pairs: release store in ft_init_checked()
    bool active = ft_atomic_load_acquire_u32(&rt.initialized) && ft_tls.attached;
    // relaxed: read back by the same thread in parent()/child()
    ft_atomic_store_relaxed_int(&fork_active, active);
    if (active) {
        ft_world_stop();
    }
}

static void
parent(void)
{
    // relaxed: written by this thread in prepare()
    if (ft_atomic_load_relaxed_int(&fork_active)) {
        ft_world_start();
    }
}

static void
child(void)
{
    // relaxed: written by this thread in prepare()
    if (!ft_atomic_load_relaxed_int(&fork_active)) {
        return;
    }
    ft_thread *self = ft_tls.thread;
    ft_parking_after_fork_child();
    ft_world_after_fork_child();
    ft_shard_after_fork_child(self);   // reads the others' tables: before they are forgotten
    // Other threads' records stay allocated (their handles may be freed by
    // nobody now); only the registry forgets them.
    rt.threads = self;
    self->next = NULL;
    self->prev = NULL;
    self->world_parked = 0;
    self->attach_waiting = 0;
    rt.thread_count = 1;
    rt.started_unjoined = 0;
    ft_brc_after_fork_child(self);
    ft_gil_after_fork_child(self);
}

static pthread_once_t install_once = PTHREAD_ONCE_INIT;

static void
install(void)
{
    pthread_atfork(prepare, parent, child);
}

void
ft_fork_install_handlers(void)
{
    pthread_once(&install_once, install);
}
