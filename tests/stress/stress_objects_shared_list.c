// Four threads append tagged items to one list: the final list holds every
// tag exactly once, each thread's tags in the order it appended them, and
// every item read concurrently is a tag some thread appended.
#include "harness.h"

#define THREADS 4
#define TAG_BASE 1000000  // outside the small-int cache: real shared objects

typedef struct worker {
    ft_object *list;
    int index;
    int64_t count;
    int64_t append_failures;  // recorded by the worker, checked by main
    int64_t bad_reads;
    int64_t reads;
} worker;

static void
append_tags(void *arg)
{
    worker *w = arg;
    uint64_t rng = ft_test_thread_seed(w->index);
    for (int64_t i = 0; i < w->count; i++) {
        ft_object *x = ft_int_new(TAG_BASE + w->index * w->count + i);
        if (x == NULL || ft_list_append(w->list, x) != 0) {
            w->append_failures++;
        }
        ft_xdecref(x);
        if ((i & 63) == 0) {
            // A read of a random existing index: always some thread's tag.
            int64_t len = ft_list_len(w->list);
            if (len > 0) {
                ft_object *got =
                    ft_list_get_ref(w->list, (int64_t)(ft_test_rand(&rng) % (uint64_t)len));
                int64_t tag = got != NULL ? ft_int_value(got) - TAG_BASE : -1;
                w->bad_reads += tag < 0 || tag >= THREADS * w->count;
                w->reads++;
                ft_xdecref(got);
            }
            ft_safepoint();
        }
    }
}

FT_TEST(shared_list_appends)
{
    ft_test_seed();
    int64_t n = ft_test_scale(100000);
    int64_t base = ft_live_objects();
    ft_object *list = ft_list_new();
    worker workers[THREADS];
    ft_thread *threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        workers[t] = (worker){.list = list, .index = t, .count = n};
        threads[t] = ft_thread_start(append_tags, &workers[t]);
        FT_REQUIRE(threads[t] != NULL, "ft_thread_start: %s", ft_err_message());
    }
    for (int t = 0; t < THREADS; t++) {
        FT_EXPECT_EQ(ft_thread_join(threads[t]), 0, "join");
    }
    for (int t = 0; t < THREADS; t++) {
        FT_EXPECT_EQ(workers[t].append_failures, 0, "append failures");
        FT_EXPECT_EQ(workers[t].bad_reads, 0, "reads that returned no tag");
    }
    FT_EXPECT_EQ(ft_list_len(list), THREADS * n, "exact length");
    uint8_t *seen = calloc((size_t)(THREADS * n), 1);
    int64_t last[THREADS] = {-1, -1, -1, -1};
    int64_t duplicates = 0, out_of_order = 0, bad = 0;
    for (int64_t i = 0; i < THREADS * n; i++) {
        ft_object *got = ft_list_get_ref(list, i);
        int64_t tag = got != NULL ? ft_int_value(got) - TAG_BASE : -1;
        ft_xdecref(got);
        if (tag < 0 || tag >= THREADS * n) {
            bad++;
            continue;
        }
        duplicates += seen[tag]++ != 0;
        int t = (int)(tag / n);
        out_of_order += tag <= last[t];
        last[t] = tag;
    }
    int64_t missing = 0;
    for (int64_t tag = 0; tag < THREADS * n; tag++) {
        missing += seen[tag] == 0;
    }
    free(seen);
    FT_EXPECT_EQ(bad, 0, "items that are not tags");
    FT_EXPECT_EQ(duplicates, 0, "tags seen twice");
    FT_EXPECT_EQ(missing, 0, "tags missing");
    FT_EXPECT_EQ(out_of_order, 0, "a thread's tags out of its append order");
    ft_decref(list);
    ft_gc_collect();
    FT_EXPECT_EQ(ft_live_objects(), base, "list and tags freed");
}
