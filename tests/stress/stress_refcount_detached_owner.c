// A blocked owner (DESIGN.md §4.2 "Bounded retention", CPython gh-157838):
// the owner creates many objects, hands every reference to consumers and
// detaches for a long time; the consumers drop the last references. Every
// object must be freed before the owner re-attaches, and nothing may pile up
// in its merge queue: each object is freed by the decref that drops it
// (merged on the owner's behalf), so at most one object per consumer is ever
// in flight.
#include "harness.h"
#include "refcount_probe.h"

#define CONSUMERS 3

typedef struct detached_state {
    ft_object **objs;          // written by the owner before `published`
    _Atomic(int) *freed;       // one counter per object
    int64_t count;
    _Atomic(int) published;
    _Atomic(int) owner_detached;
    _Atomic(int) consumers_done;
} detached_state;

typedef struct consumer {
    detached_state *state;
    int index;
    int64_t dropped;
    int64_t not_freed_at_once;   // objects still alive right after their last decref
    int64_t foreign_increfs;
} consumer;

static void
consume(void *arg)
{
    consumer *c = arg;
    detached_state *s = c->state;
    if (!flag_wait_attached(&s->published) || !flag_wait_attached(&s->owner_detached)) {
        return;
    }
    uint64_t rng = ft_test_thread_seed(c->index);
    for (int64_t i = c->index; i < s->count; i += CONSUMERS) {
        ft_object *obj = s->objs[i];
        // Some traffic first, so objects reach the queue in different states.
        int64_t pairs = (int64_t)(ft_test_rand(&rng) % 4);
        for (int64_t k = 0; k < pairs; k++) {
            ft_incref(obj);
            ft_decref(obj);
            c->foreign_increfs++;
        }
        ft_decref(obj);   // the last reference
        c->dropped++;
        if (probe_freed(&s->freed[i]) != 1) {
            c->not_freed_at_once++;
        }
        if ((i & 63) == 0) {
            ft_safepoint();
        }
    }
    // pairs: acquire load in the owner's wait
    ft_atomic_add_release_int(&s->consumers_done, 1);
}

FT_TEST(objects_of_a_detached_owner_are_freed_while_it_blocks)
{
    ft_test_seed();
    ft_gc_collect();
    int64_t baseline = ft_live_objects();
    detached_state s = {.count = ft_test_scale(100000)};
    s.objs = calloc((size_t)s.count, sizeof(ft_object *));
    s.freed = calloc((size_t)s.count, sizeof(_Atomic(int)));
    FT_REQUIRE(s.objs != NULL && s.freed != NULL, "calloc");
    for (int64_t i = 0; i < s.count; i++) {
        s.objs[i] = probe_new(&s.freed[i]);
        FT_REQUIRE(s.objs[i] != NULL, "probe_new");
    }
    consumer consumers[CONSUMERS];
    ft_thread *threads[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) {
        consumers[i] = (consumer){.state = &s, .index = i};
        threads[i] = ft_thread_start(consume, &consumers[i]);
        FT_REQUIRE(threads[i] != NULL, "ft_thread_start");
    }
    flag_set(&s.published);   // every reference now belongs to a consumer

    int64_t freed_while_detached = 0;
    bool all_done = false;
    FT_BEGIN_ALLOW_THREADS
    flag_set(&s.owner_detached);
    int64_t limit = probe_now_ns() + 120 * (int64_t)1000000000;
    // pairs: release add in consume()
    while (!(all_done = ft_atomic_load_acquire_int(&s.consumers_done) == CONSUMERS) &&
           probe_now_ns() < limit) {
        usleep(1000);
    }
    for (int64_t i = 0; i < s.count; i++) {
        freed_while_detached += probe_freed(&s.freed[i]);
    }
    FT_END_ALLOW_THREADS

    FT_EXPECT(all_done, "consumers never finished");
    FT_EXPECT_EQ(freed_while_detached, s.count, "objects freed before the owner re-attached");
    int64_t dropped = 0, late = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        ft_thread_join(threads[i]);
        dropped += consumers[i].dropped;
        late += consumers[i].not_freed_at_once;
    }
    FT_EXPECT_EQ(dropped, s.count, "every reference dropped");
    FT_EXPECT_EQ(late, 0, "objects retained after their last reference was dropped");
    int64_t twice = 0;
    for (int64_t i = 0; i < s.count; i++) {
        twice += probe_freed(&s.freed[i]) != 1;
    }
    FT_EXPECT_EQ(twice, 0, "each object freed exactly once");
#if FT_REFCOUNT_BIASED
    FT_EXPECT_EQ(ft_stats_get("brc_merged_behalf"), s.count, "merged on the owner's behalf");
    FT_EXPECT_EQ(ft_stats_get("brc_merged_owner"), 0, "nothing left for the owner");
#endif
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), baseline, "live objects back to the baseline");
    print_brc_stats("detached owner");
    EXPECT_BRC_ACCOUNTING();
    free(s.objs);
    free(s.freed);
}
