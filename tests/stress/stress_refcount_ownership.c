// Ownership stress (issue 4, DESIGN.md §4.2): thread A creates two objects
// and shares them with B-D, which incref/decref each 10^6 times. The first
// object's last foreign references are dropped while A is alive (queue and
// owner merge); A exits early, during the work on the second, whose last
// references are dropped after A is gone (orphan merge). Each object is freed
// exactly once and ft_live_objects() returns to its baseline.
#include "harness.h"
#include "refcount_probe.h"

#define WORKERS 3

typedef struct shared_state {
    ft_object *early;          // written by A before `published` (release)
    ft_object *late;
    _Atomic(int) published;
    _Atomic(int) early_done;   // workers that dropped `early`
    _Atomic(int) a_gone;       // A was joined
    _Atomic(int) early_freed;
    _Atomic(int) late_freed;
    int64_t rounds;
} shared_state;

typedef struct worker {
    shared_state *shared;
    int index;
    int ok;   // read after join
} worker;

static void
owner_a(void *arg)
{
    shared_state *s = arg;
    s->early = probe_new(&s->early_freed);
    s->late = probe_new(&s->late_freed);
    if (s->early == NULL || s->late == NULL) {
        flag_set(&s->published);
        return;
    }
    for (int i = 0; i < WORKERS; i++) {   // one reference per worker, counted locally
        ft_incref(s->early);
        ft_incref(s->late);
    }
    flag_set(&s->published);
    // Attached, polling safepoints: what B-D queue to us is merged by us.
    while (ft_atomic_load_acquire_int(&s->early_done) < WORKERS) {   // pairs: release add in worker_main()
        ft_safepoint();
        sched_yield();
    }
    ft_decref(s->early);
    ft_decref(s->late);
    // Exits now, while B-D still hammer `late`.
}

static void
hammer(ft_object *obj, int64_t rounds)
{
    for (int64_t i = 0; i < rounds; i++) {
        ft_incref(obj);
        ft_decref(obj);
        if ((i & 255) == 0) {
            ft_safepoint();
        }
    }
}

static void
worker_main(void *arg)
{
    worker *w = arg;
    shared_state *s = w->shared;
    if (!flag_wait_attached(&s->published) || s->early == NULL || s->late == NULL) {
        return;
    }
    hammer(s->early, s->rounds);
    ft_decref(s->early);
    // pairs: acquire load in owner_a()
    ft_atomic_add_release_int(&s->early_done, 1);
    hammer(s->late, s->rounds);
    if (!flag_wait_attached(&s->a_gone)) {
        return;
    }
    ft_decref(s->late);
    w->ok = 1;
}

FT_TEST(object_shared_by_an_owner_that_exits_early)
{
    ft_ref_shard_set_threshold(0);   // biased counting\'s own states: no promotion
    uint64_t seed = ft_test_seed();
    (void)seed;
    ft_gc_collect();
    int64_t baseline = ft_live_objects();
    shared_state s = {.rounds = ft_test_scale(1000000)};
    worker workers[WORKERS];
    ft_thread *a = ft_thread_start(owner_a, &s);
    FT_REQUIRE(a != NULL, "ft_thread_start");
    ft_thread *threads[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        workers[i] = (worker){.shared = &s, .index = i};
        threads[i] = ft_thread_start(worker_main, &workers[i]);
        FT_REQUIRE(threads[i] != NULL, "ft_thread_start");
    }
    ft_thread_join(a);
    flag_set(&s.a_gone);
    for (int i = 0; i < WORKERS; i++) {
        ft_thread_join(threads[i]);
        FT_EXPECT(workers[i].ok, "worker %d did not finish", i);
    }
    FT_EXPECT_EQ(probe_freed(&s.early_freed), 1, "early object freed exactly once");
    FT_EXPECT_EQ(probe_freed(&s.late_freed), 1, "late object freed exactly once");
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), baseline, "live objects back to the baseline");
#if FT_REFCOUNT_BIASED
    FT_EXPECT(ft_stats_get("brc_queued") >= 2, "queue path not hit");
    FT_EXPECT(ft_stats_get("brc_merged_owner") + ft_stats_get("brc_merged_behalf") >= 1,
              "merge by (or for) the owner not hit");
    FT_EXPECT(ft_stats_get("brc_merged_orphan") >= 1, "dead-owner path not hit");
    FT_EXPECT(ft_stats_get("rc_shared_incref") >= (uint64_t)(2 * WORKERS * s.rounds),
              "foreign increfs counted");
#endif
    print_brc_stats("ownership");
    EXPECT_BRC_ACCOUNTING();
}
