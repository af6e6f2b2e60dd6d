// Random allocation failures (FT_FAIL_ALLOC=random:<p>:<seed>) over several
// seeds while 3 threads build, share and drop containers: only MemoryError
// is ever reported, nothing crashes, and once injection stops and the
// collector has run, the live-object count is back at its baseline.
#include "harness.h"

#define WORKERS 3

typedef struct worker {
    ft_object *shared;   // a list all workers append to and pop from
    uint64_t seed;
    int64_t rounds;
    int64_t failures;
    int64_t wrong_kind;
} worker;

static void
check_error(worker *w)
{
    w->failures++;
    if (ft_err_occurred() != FT_ERR_MEMORY) {
        w->wrong_kind++;
    }
    ft_err_clear();
}

static void
work(void *arg)
{
    worker *w = arg;
    uint64_t rng = w->seed;
    for (int64_t r = 0; r < w->rounds; r++) {
        ft_object *num = ft_int_new((int64_t)(ft_test_rand(&rng) % 1000000) + 1000);
        ft_object *d = ft_dict_new();
        if (num == NULL || d == NULL) {
            check_error(w);
        } else {
            if (ft_dict_set(d, num, d) != 0) {   // a cycle, when it works
                check_error(w);
            }
            if (ft_list_append(w->shared, num) != 0) {
                check_error(w);
            }
        }
        ft_xdecref(num);
        ft_xdecref(d);
        if (ft_test_rand(&rng) % 3 == 0) {
            ft_object *popped = ft_list_pop(w->shared);
            if (popped != NULL) {
                ft_decref(popped);
            } else {
                ft_err_clear();   // IndexError on an empty list is fine
            }
        }
        ft_safepoint();
    }
}

FT_TEST_RAW(random_allocation_failures)
{
    uint64_t base_seed = ft_test_seed();
    for (int s = 0; s < 4; s++) {
        char spec[64];
        // ft_init re-seeds the generator from the spec, so a seed that fails
        // one of ft_init's own allocations fails it every time: move on to
        // the next seed (deterministically) until ft_init succeeds.
        for (uint64_t attempt = 0;; attempt++) {
            snprintf(spec, sizeof(spec), "random:0.02:%llu",
                     (unsigned long long)(base_seed + (uint64_t)s + attempt * 1000));
            setenv("FT_FAIL_ALLOC", spec, 1);
            if (ft_init() == 0) {
                break;
            }
            FT_REQUIRE(ft_err_occurred() == FT_ERR_MEMORY, "ft_init: %s", ft_err_message());
            FT_REQUIRE(attempt < 100, "ft_init failed for 100 seeds");
            ft_err_clear();
        }
        unsetenv("FT_FAIL_ALLOC");
        ft_object *shared = NULL;
        while ((shared = ft_list_new()) == NULL) {
            ft_err_clear();
        }
        worker w[WORKERS];
        ft_thread *threads[WORKERS];
        int started = 0;
        for (int i = 0; i < WORKERS; i++) {
            w[i] = (worker){shared, ft_test_thread_seed(s * WORKERS + i), ft_test_scale(3000),
                            0, 0};
            threads[i] = ft_thread_start(work, &w[i]);
            if (threads[i] == NULL) {
                FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_MEMORY, "ft_thread_start failure kind");
                ft_err_clear();
            } else {
                started++;
            }
        }
        int64_t failures = 0;
        for (int i = 0; i < WORKERS; i++) {
            if (threads[i] != NULL) {
                FT_EXPECT_EQ(ft_thread_join(threads[i]), 0, "join");
                FT_EXPECT_EQ(w[i].wrong_kind, 0, "a failure that was not MemoryError");
                failures += w[i].failures;
            }
        }
        ft_mem_fail_after(0);   // injection off
        ft_decref(shared);
        ft_gc_collect();
        ft_err_clear();
        FT_EXPECT_EQ(ft_live_objects(), 0, "live objects after the run");
        printf("seed %s: %d threads, %lld failed calls, %llu injected\n", spec, started,
               (long long)failures, (unsigned long long)ft_mem_failures_injected());
        ft_fini();
        FT_EXPECT_EQ(ft_err_occurred(), 0, "ft_fini");
    }
}
