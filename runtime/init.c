// runtime/init.c: ft_init and ft_fini.
//
// ft_init registers and attaches the calling thread as "main", reads the
// environment switches (FT_ENABLE_GIL, FT_FAIL_ALLOC, FT_FUZZ_SCHED) and sets
// up the object singletons. ft_fini refuses (RuntimeError, no-op) while any
// other thread is registered or a started thread is unjoined, so teardown
// never races a running thread (gh-137433); it runs a final collection,
// drops the GIL last and touches nothing after (gh-104341).
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime_internal.h"

#define rt ft_runtime_state

void ft_stats_reset_exited(void);
void ft_fuzz_configure_from_env(void);
void ft_fork_install_handlers(void);

int
ft_init_checked(uint32_t abi_key)
{
    if (abi_key != FT_ABI_KEY) {
        ft_err_set(FT_ERR_RUNTIME,
                   "ft_init: caller compiled with other build switches (key %#x, library %#x)",
                   abi_key, (unsigned)FT_ABI_KEY);
        return -1;
    }
    // pairs: release store below / in ft_fini()
    if (ft_atomic_load_acquire_u32(&rt.initialized) || ft_tls.thread != NULL) {
        ft_err_set(FT_ERR_RUNTIME, "ft_init: ftrt is already initialized");
        return -1;
    }
    ft_err_clear();
    ft_mem_configure_from_env();
    ft_fuzz_configure_from_env();
    ft_stats_reset_exited();
    rt.threads = NULL;
    rt.thread_count = 0;
    rt.started_unjoined = 0;
    // relaxed: no other thread exists yet
    ft_atomic_store_relaxed_u64(&rt.next_tid, 1);
    const char *gil_env = getenv("FT_ENABLE_GIL");
    bool gil = FT_GIL_BUILD || (gil_env != NULL && strcmp(gil_env, "1") == 0);
    ft_gil_init(gil);
    ft_gc_init();
    ft_shard_init();
    if (ft_thread_init_main() != 0) {
        ft_err_no_memory();
        return -1;
    }
    ft_attach();
    if (ft_objects_init() != 0) {
        ft_thread_fini_main();
        ft_err_no_memory();
        return -1;
    }
    ft_fork_install_handlers();
    // pairs: acquire load in ft_thread_register() / ft_init_checked()
    ft_atomic_store_release_u32(&rt.initialized, 1);
    return 0;
}

void
ft_fini(void)
{
    // pairs: release store in ft_init_checked()
    if (!ft_atomic_load_acquire_u32(&rt.initialized)) {
        ft_err_set(FT_ERR_RUNTIME, "ft_fini: ftrt is not initialized");
        return;
    }
    if (ft_tls.thread != rt.main_thread || !ft_tls.attached) {
        ft_err_set(FT_ERR_RUNTIME, "ft_fini: must be called by the attached thread that called ft_init");
        return;
    }
    ft_mutex_lock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    size_t others = rt.thread_count - 1;
    size_t unjoined = rt.started_unjoined;
    ft_mutex_unlock_internal(&rt.threads_mutex, FT_RANK_THREADS);
    if (others != 0 || unjoined != 0) {
        ft_err_set(FT_ERR_RUNTIME,
                   "ft_fini: %zu other thread(s) still registered and %zu started thread(s) not joined",
                   others, unjoined);
        return;
    }
    ft_shard_fini();
    ft_gc_fini();
    ft_objects_fini();
    // pairs: acquire loads in ft_thread_register() / ft_init_checked()
    ft_atomic_store_release_u32(&rt.initialized, 0);
    ft_thread_fini_main();
    ft_qsbr_fini();   // what the main thread handed to the orphan queue
}
