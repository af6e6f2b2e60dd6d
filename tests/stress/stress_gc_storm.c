// GC storm: 4 mutator threads build and drop random object graphs (seeded)
// and verify checksums of the data they still hold, while the main thread
// collects in a loop. Every object freed exactly once (live count back to
// baseline) and nothing reachable collected (checksums stay right).
#include <sched.h>

#include "harness.h"

#define MUTATORS 4
#define KEEP 16

typedef struct mutator {
    uint64_t seed;
    int64_t rounds;
    int64_t bad_checksums;   // written by the mutator, read after join
    int64_t errors;
} mutator;

static _Atomic(int) mutators_done;
static _Atomic(int64_t) collections_done;   // atomic: main (release) / mutators (acquire)

// A graph: a list of n ints (values from rng) with a dict pointing back to
// the list and the list holding the dict (a cycle); returns the list and the
// expected sum of the ints.
static ft_object *
build_graph(uint64_t *rng, int64_t *sum)
{
    ft_object *list = ft_list_new();
    ft_object *dict = ft_dict_new();
    ft_object *key = ft_str_from_cstr("owner");
    if (!list || !dict || !key) {
        ft_xdecref(list);
        ft_xdecref(dict);
        ft_xdecref(key);
        return NULL;
    }
    int n = 1 + (int)(ft_test_rand(rng) % 12);
    *sum = 0;
    for (int i = 0; i < n; i++) {
        int64_t v = (int64_t)(ft_test_rand(rng) % 100000) + 1000;
        ft_object *num = ft_int_new(v);
        ft_list_append(list, num);
        ft_decref(num);
        *sum += v;
    }
    ft_dict_set(dict, key, list);       // dict -> list
    ft_list_append(list, dict);         // list -> dict (last item)
    if (ft_test_rand(rng) % 2) {
        ft_object *pair[2] = {list, dict};
        ft_object *tuple = ft_tuple_new(2, pair);
        ft_dict_set(dict, tuple, tuple);   // tuple key (hashable? no: holds a list)
        ft_err_clear();
        ft_xdecref(tuple);
    }
    ft_decref(key);
    ft_decref(dict);
    return list;
}

static int64_t
checksum(ft_object *list)
{
    int64_t n = ft_list_len(list), sum = 0;
    for (int64_t i = 0; i + 1 < n; i++) {   // the last item is the dict
        ft_object *num = ft_list_get_ref(list, i);
        if (num == NULL) {
            return -1;
        }
        sum += ft_int_value(num);
        ft_decref(num);
    }
    return sum;
}

static void
mutate(void *arg)
{
    mutator *m = arg;
    uint64_t rng = m->seed;
    ft_object *kept[KEEP] = {0};
    int64_t sums[KEEP] = {0};
    int64_t seen = 0;
    for (int64_t r = 0; r < m->rounds; r++) {
        if (r % 100 == 99) {
            // Every 100 rounds, wait (detached) for a collection to finish:
            // collections surely overlap the mutations, and the garbage made
            // between two of them stays bounded.
            FT_BEGIN_ALLOW_THREADS
            // pairs: release store in gc_storm()
            while (atomic_load_explicit(&collections_done, memory_order_acquire) <= seen) {
                sched_yield();
            }
            FT_END_ALLOW_THREADS
            seen = atomic_load_explicit(&collections_done, memory_order_acquire);   // pairs: as above
        }
        int slot = (int)(ft_test_rand(&rng) % KEEP);
        if (kept[slot] != NULL) {
            if (checksum(kept[slot]) != sums[slot]) {
                m->bad_checksums++;
            }
            ft_decref(kept[slot]);   // the graph becomes cyclic garbage
        }
        kept[slot] = build_graph(&rng, &sums[slot]);
        if (kept[slot] == NULL) {
            m->errors++;
        }
        ft_safepoint();
    }
    for (int i = 0; i < KEEP; i++) {
        if (kept[i] != NULL) {
            m->bad_checksums += checksum(kept[i]) != sums[i];
            ft_decref(kept[i]);
        }
    }
    // pairs: acquire load in the collecting loop
    atomic_fetch_add_explicit(&mutators_done, 1, memory_order_release);
}

FT_TEST(gc_storm)
{
    uint64_t seed = ft_test_seed();
    (void)seed;
    ft_gc_collect();
    int64_t baseline = ft_live_objects();
    atomic_store(&mutators_done, 0);
    atomic_store(&collections_done, 0);
    mutator m[MUTATORS];
    ft_thread *threads[MUTATORS];
    for (int i = 0; i < MUTATORS; i++) {
        m[i] = (mutator){ft_test_thread_seed(i), ft_test_scale(4000), 0, 0};
        threads[i] = ft_thread_start(mutate, &m[i]);
        FT_REQUIRE(threads[i] != NULL, "start");
    }
    int64_t collections = 0, freed = 0;
    // pairs: release fetch_add in mutate()
    while (atomic_load_explicit(&mutators_done, memory_order_acquire) < MUTATORS) {
        int64_t n = ft_gc_collect();
        FT_EXPECT(n >= 0, "collect failed: %s", ft_err_message());
        freed += n;
        collections++;
        // pairs: acquire loads in mutate()
        atomic_store_explicit(&collections_done, collections, memory_order_release);
        ft_safepoint();   // with a global lock, lets the mutators run
        FT_BEGIN_ALLOW_THREADS
        sched_yield();
        FT_END_ALLOW_THREADS
    }
    for (int i = 0; i < MUTATORS; i++) {
        FT_EXPECT_EQ(ft_thread_join(threads[i]), 0, "join");
        FT_EXPECT_EQ(m[i].bad_checksums, 0, "a reachable graph was damaged");
        FT_EXPECT_EQ(m[i].errors, 0, "allocation errors");
    }
    freed += ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), baseline, "live objects back to baseline");
    printf("ops=%lld graphs built; collections=%lld freed=%lld\n",
           (long long)(MUTATORS * ft_test_scale(4000)), (long long)collections, (long long)freed);
    FT_EXPECT(collections >= ft_test_scale(4000) / 100, "collections did not overlap mutation");
}
