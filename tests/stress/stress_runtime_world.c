// Stop-the-world: while 4 threads attach, detach and hit safepoints in loops,
// the main thread stops the world 1000 times and checks that no attached
// thread makes progress during a stop. Threads also start and exit during
// pauses (registration while a pause is on starts them suspended).
#define FT_BUILD_CORE 1
#include "harness.h"
#include "runtime/runtime_internal.h"

#define WORKERS 4

typedef struct worker {
    _Atomic(uint64_t) progress;   // atomic: worker (relaxed) / main (relaxed)
    uint64_t seed;
} worker;

static worker workers[WORKERS];
static _Atomic(int) stop_flag;

static void
work(void *arg)
{
    worker *w = arg;
    uint64_t rng = w->seed;
    // pairs: release store in the test body
    while (!atomic_load_explicit(&stop_flag, memory_order_acquire)) {
        ft_safepoint();
        // Progress is made only while attached, between safepoints.
        // relaxed: only this thread writes; main compares snapshots
        uint64_t p = atomic_load_explicit(&w->progress, memory_order_relaxed);
        atomic_store_explicit(&w->progress, p + 1, memory_order_relaxed);
        uint64_t r = ft_test_rand(&rng) % 16;
        if (r == 0) {
            FT_BEGIN_ALLOW_THREADS
            sched_yield();
            FT_END_ALLOW_THREADS
        } else if (r == 1) {
            ft_object *o = ft_int_new((int64_t)p + 1000);
            ft_xdecref(o);
        }
    }
}

static void
short_lived(void *arg)
{
    (void)arg;
    ft_safepoint();
}

FT_TEST(world_stops_everyone)
{
    int64_t rounds = ft_test_scale(1000);
    atomic_store(&stop_flag, 0);
    ft_thread *threads[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        atomic_store(&workers[i].progress, 0);
        workers[i].seed = ft_test_thread_seed(i);
        threads[i] = ft_thread_start(work, &workers[i]);
        FT_REQUIRE(threads[i] != NULL, "start");
    }
    int64_t moved = 0;
    for (int64_t round = 0; round < rounds; round++) {
        ft_world_stop();
        uint64_t before[WORKERS], after[WORKERS];
        for (int i = 0; i < WORKERS; i++) {
            before[i] = atomic_load_explicit(&workers[i].progress, memory_order_relaxed);
        }
        for (int spin = 0; spin < 2000; spin++) {
            ft_cpu_relax();
        }
        sched_yield();
        for (int i = 0; i < WORKERS; i++) {
            after[i] = atomic_load_explicit(&workers[i].progress, memory_order_relaxed);
            moved += after[i] != before[i];
        }
        ft_world_start();
        if (round % 50 == 0) {
            // A thread started (and exiting) around pauses.
            ft_thread *t = ft_thread_start(short_lived, NULL);
            FT_REQUIRE(t != NULL, "start short-lived");
            ft_world_stop();
            ft_world_stop();   // nested: depth only
            ft_world_start();
            ft_world_start();
            FT_EXPECT_EQ(ft_thread_join(t), 0, "join short-lived");
        }
        ft_safepoint();
    }
    // pairs: acquire loads in work()
    atomic_store_explicit(&stop_flag, 1, memory_order_release);
    uint64_t total = 0;
    for (int i = 0; i < WORKERS; i++) {
        FT_EXPECT_EQ(ft_thread_join(threads[i]), 0, "join");
        total += atomic_load(&workers[i].progress);
    }
    FT_EXPECT_EQ(moved, 0, "an attached thread made progress while the world was stopped");
    FT_EXPECT(total > 0, "workers never ran");
    printf("ops=%llu worker steps; rounds=%lld pauses=%llu\n", (unsigned long long)total,
           (long long)rounds, (unsigned long long)ft_stats_get("world_pauses"));
    printf("rounds=%lld worker steps=%llu pauses=%llu\n", (long long)rounds,
           (unsigned long long)total, (unsigned long long)ft_stats_get("world_pauses"));
}

static void
requester(void *arg)
{
    int64_t n = *(int64_t *)arg;
    for (int64_t i = 0; i < n; i++) {
        ft_world_stop();
        ft_world_start();
        ft_safepoint();
    }
}

FT_TEST(rival_requesters)
{
    int64_t n = ft_test_scale(400);
    ft_thread *threads[4];
    for (int i = 0; i < 4; i++) {
        threads[i] = ft_thread_start(requester, &n);
        FT_REQUIRE(threads[i] != NULL, "start");
    }
    for (int i = 0; i < 4; i++) {
        FT_EXPECT_EQ(ft_thread_join(threads[i]), 0, "join");
    }
}

static void
churn(void *arg)
{
    (void)arg;
    ft_object *o = ft_int_new(123456);
    ft_xdecref(o);
}

FT_TEST(thread_churn)
{
    int64_t n = ft_test_scale(2000);
    int64_t baseline = ft_live_objects();
    for (int64_t i = 0; i < n; i += 8) {
        ft_thread *threads[8];
        for (int j = 0; j < 8; j++) {
            threads[j] = ft_thread_start(churn, NULL);
            FT_REQUIRE(threads[j] != NULL, "start");
        }
        for (int j = 0; j < 8; j++) {
            FT_EXPECT_EQ(ft_thread_join(threads[j]), 0, "join");
        }
    }
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), baseline, "objects leaked by short-lived threads");
}
