// Refcount storm (DESIGN.md §4.2): many threads create objects, give every
// other thread one reference to each, then incref and decref a random shared
// set at random -- owners and foreigners, queued objects, owners that exit
// early (orphans), owners that detach (merges on their behalf) -- until every
// reference is dropped. Each destructor must run exactly once.
#include <string.h>

#include "harness.h"
#include "refcount_probe.h"

#define MAX_THREADS 8
#define OBJS_PER_THREAD 64

typedef struct storm {
    int threads;
    int64_t ops;
    ft_object *objs[MAX_THREADS * OBJS_PER_THREAD];   // written before `created` (release add)
    _Atomic(int) freed[MAX_THREADS * OBJS_PER_THREAD];
    _Atomic(int) created;    // threads that published their objects
    _Atomic(int) finished;   // threads that dropped everything
} storm;

typedef struct storm_thread {
    storm *s;
    int index;
    int ok;   // read after join
} storm_thread;

static bool
wait_count(_Atomic(int) *counter, int target)
{
    int64_t limit = probe_now_ns() + 60 * (int64_t)1000000000;
    // pairs: release add by the other threads
    while (ft_atomic_load_acquire_int(counter) < target) {
        ft_safepoint();
        if (probe_now_ns() > limit) {
            return false;
        }
        sched_yield();
    }
    return true;
}

static void
storm_main(void *arg)
{
    storm_thread *me = arg;
    storm *s = me->s;
    int total = s->threads * OBJS_PER_THREAD;
    for (int k = 0; k < OBJS_PER_THREAD; k++) {
        int slot = me->index * OBJS_PER_THREAD + k;
        ft_object *obj = probe_new(&s->freed[slot]);
        if (obj == NULL) {
            return;
        }
        for (int t = 1; t < s->threads; t++) {
            ft_incref(obj);   // one reference per thread, ours included
        }
        s->objs[slot] = obj;
    }
    // pairs: acquire loads in wait_count()
    ft_atomic_add_release_int(&s->created, 1);
    if (!wait_count(&s->created, s->threads)) {
        return;
    }
    int held[MAX_THREADS * OBJS_PER_THREAD];   // references this thread holds
    for (int i = 0; i < total; i++) {
        held[i] = 1;
    }
    uint64_t rng = ft_test_thread_seed(me->index);
    // Even threads finish early (their objects become orphans); thread 1
    // detaches now and then (merges on its behalf).
    int64_t ops = (me->index % 2 == 0) ? s->ops / 4 : s->ops;
    for (int64_t n = 0; n < ops; n++) {
        uint64_t r = ft_test_rand(&rng);
        int i = (int)(r % (uint64_t)total);
        uint64_t pick = (r >> 32) % 4096;   // 1 in 4096: let go for good
        if (held[i] == 0) {
            continue;   // dropped: no reference, no touching
        }
        if (pick == 0) {
            while (held[i] > 0) {   // objects die mid-storm
                ft_decref(s->objs[i]);
                held[i]--;
            }
        } else if (pick % 3 != 0 || held[i] == 1) {
            ft_incref(s->objs[i]);
            held[i]++;
        } else {
            ft_decref(s->objs[i]);
            held[i]--;
        }
        if ((n & 127) == 0) {
            ft_safepoint();
        }
        if (pick == 1 && held[i] > 0 && ft_ref_shard_threshold() != 0) {
            // Promotion on request too (contention alone depends on timing).
            ft_ref_shard_promote(s->objs[i]);
        }
        if (me->index == 1 && (n & 4095) == 0) {
            FT_BEGIN_ALLOW_THREADS
            sched_yield();
            FT_END_ALLOW_THREADS
        }
    }
    for (int i = 0; i < total; i++) {
        while (held[i] > 0) {
            ft_decref(s->objs[i]);
            held[i]--;
        }
    }
    // pairs: acquire load by the main thread
    ft_atomic_add_release_int(&s->finished, 1);
    me->ok = 1;
}

// threshold 0 pins biased counting (the queue paths must be hit); a low
// threshold promotes the storm's objects, which then die at a pause.
static void
run_storm(int threads, int threshold)
{
    ft_ref_shard_set_threshold(threshold);
    static storm s;
    memset(&s, 0, sizeof(s));
    s.threads = threads;
    s.ops = ft_test_scale(1000000);
    ft_gc_collect();
    int64_t baseline = ft_live_objects();
    storm_thread st[MAX_THREADS];
    ft_thread *handles[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        st[i] = (storm_thread){.s = &s, .index = i};
        handles[i] = ft_thread_start(storm_main, &st[i]);
        FT_REQUIRE(handles[i] != NULL, "ft_thread_start");
    }
    for (int i = 0; i < threads; i++) {
        ft_thread_join(handles[i]);
        FT_EXPECT(st[i].ok, "thread %d did not finish", i);
    }
    if (threshold != 0) {
        FT_EXPECT(ft_ref_shard_sync(0) >= 0, "ft_ref_shard_sync");
    }
    int total = threads * OBJS_PER_THREAD;
    int64_t wrong = 0;
    for (int i = 0; i < total; i++) {
        wrong += probe_freed(&s.freed[i]) != 1;
    }
    FT_EXPECT_EQ(wrong, 0, "objects not freed exactly once");
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), baseline, "live objects back to the baseline");
#if FT_REFCOUNT_BIASED
    if (threshold == 0) {
        FT_EXPECT(ft_stats_get("brc_queued") > 0, "nothing was ever queued");
    }
#endif
#if FT_SHARDED_RC
    if (threshold != 0) {
        FT_EXPECT(ft_stats_get("shard_promoted") > 0, "nothing was ever promoted");
        FT_EXPECT_EQ(ft_ref_shard_live(), 0, "sharded objects left after the storm");
    }
#endif
    print_brc_stats("storm");
    EXPECT_BRC_ACCOUNTING();
}

FT_TEST(storm_2_threads)
{
    ft_test_seed();
    run_storm(2, 0);
}

FT_TEST(storm_4_threads)
{
    run_storm(4, 0);
}

FT_TEST(storm_8_threads)
{
    run_storm(8, 0);
}

FT_TEST(storm_sharded_3_threads)
{
    run_storm(3, 1);   // two foreign threads per object: promotion needs alternation
}

FT_TEST(storm_sharded_4_threads)
{
    run_storm(4, 1);
}
