// Thread churn with handoff: 10^4 short-lived threads (cut under
// sanitizers), a few alive at a time, each taking an object another thread
// made from a shared mailbox and leaving one of its own, while the main
// thread collects now and then. Objects made by a thread that has exited
// are freed by others (orphan merges). Every object is freed exactly once
// (a per-object counter) and the live count returns to its baseline.
#include "harness.h"
#include "refcount_probe.h"

#define WAVE 8

typedef struct mailbox {
    ft_object *list;            // shared list of probes
    _Atomic(int) *freed;        // one counter per object ever made
    int64_t capacity;
    _Atomic(int64_t) made;      // atomic: makers (relaxed: an index)
    _Atomic(int64_t) bad;       // atomic: workers (relaxed: read after join)
} mailbox;

static void
churn(void *arg)
{
    mailbox *box = arg;
    ft_object *old = ft_list_pop(box->list);
    if (old != NULL) {
        ft_decref(old);   // usually made by a thread that has exited
    } else {
        ft_err_clear();   // empty mailbox
    }
    // relaxed: only an index into the counters
    int64_t index = atomic_fetch_add_explicit(&box->made, 1, memory_order_relaxed);
    if (index >= box->capacity) {
        atomic_fetch_add_explicit(&box->bad, 1, memory_order_relaxed);   // relaxed: a count
        return;
    }
    ft_object *mine = probe_new(&box->freed[index]);
    if (mine == NULL || ft_list_append(box->list, mine) != 0) {
        atomic_fetch_add_explicit(&box->bad, 1, memory_order_relaxed);   // relaxed: a count
    }
    ft_xdecref(mine);
}

FT_TEST(thread_handoff_churn)
{
    int64_t threads = ft_test_scale(10000);
    mailbox box = {0};
    box.capacity = threads + WAVE;
    box.freed = calloc((size_t)box.capacity, sizeof(*box.freed));
    FT_REQUIRE(box.freed != NULL, "calloc");
    ft_gc_collect();
    int64_t baseline = ft_live_objects();
    box.list = ft_list_new();
    FT_REQUIRE(box.list != NULL, "list");
    for (int64_t done = 0; done < threads; done += WAVE) {
        ft_thread *wave[WAVE];
        for (int i = 0; i < WAVE; i++) {
            wave[i] = ft_thread_start(churn, &box);
            FT_REQUIRE(wave[i] != NULL, "start: %s", ft_err_message());
        }
        if (done % (WAVE * 64) == 0) {
            ft_gc_collect();
        }
        for (int i = 0; i < WAVE; i++) {
            FT_EXPECT_EQ(ft_thread_join(wave[i]), 0, "join");
        }
    }
    int64_t made = atomic_load(&box.made);
    ft_decref(box.list);
    ft_gc_collect();
    FT_EXPECT_EQ(atomic_load(&box.bad), 0, "a thread failed to make or hand on its object");
    int64_t wrong = 0;
    for (int64_t i = 0; i < made; i++) {
        wrong += probe_freed(&box.freed[i]) != 1;
    }
    FT_EXPECT_EQ(wrong, 0, "objects not freed exactly once");
    FT_EXPECT_EQ(ft_live_objects(), baseline, "live objects back to baseline");
    printf("ops=%lld threads started and objects handed off\n", (long long)made);
    free(box.freed);
}
