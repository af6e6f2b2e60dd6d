// Allocation fault injection walk (debug builds): for k = 1, 2, ... fail the
// k-th allocation of a scripted scenario that reaches every kind of
// allocation site -- constructors, list and dict growth, tuples, strings,
// GC marking, thread start, merge queues, QSBR batches (a shared list
// resized by another thread) -- until a run completes with no failure
// injected. For each k: every error is MemoryError, nothing crashes, and
// after the run the live-object count is back at its baseline (LeakSanitizer
// also checks the memory in ft-asan).
#include <pthread.h>

#include "harness.h"

typedef struct run_state {
    int64_t errors;        // calls that failed
    int64_t wrong_kind;    // failures that were not MemoryError
} run_state;

static void
note_failure(run_state *st)
{
    st->errors++;
    if (ft_err_occurred() != FT_ERR_MEMORY) {
        printf("  unexpected error kind %s: %s\n", ft_err_kind_name(ft_err_occurred()),
               ft_err_message());
        st->wrong_kind++;
    }
    ft_err_clear();
}

typedef struct worker_arg {
    ft_object *shared;   // a list the main thread owns
    run_state st;
} worker_arg;

// A non-owner appends (marks the list's contents shared in optimistic
// builds, so its resizes retire arrays through QSBR) and drops references to
// the owner's objects (merge queue).
static void
worker(void *arg)
{
    worker_arg *w = arg;
    for (int i = 0; i < 24; i++) {
        ft_object *num = ft_int_new(5000 + i);
        if (num == NULL) {
            note_failure(&w->st);
            continue;
        }
        if (ft_list_append(w->shared, num) != 0) {
            note_failure(&w->st);
        }
        ft_decref(num);
    }
    ft_object *popped;
    while ((popped = ft_list_pop(w->shared)) != NULL) {
        ft_decref(popped);
        ft_safepoint();
    }
    ft_err_clear();   // IndexError at the end of the pops is expected
}

// A thread the runtime did not start registers itself (its record is an
// allocation site of its own).
static void *
foreign(void *arg)
{
    run_state *st = arg;
    if (ft_thread_register() != 0) {
        note_failure(st);
        return NULL;
    }
    ft_object *num = ft_int_new(777777);
    if (num == NULL) {
        note_failure(st);
    }
    ft_xdecref(num);
    ft_thread_unregister();
    return NULL;
}

static void
scenario(run_state *st)
{
    ft_object *list = ft_list_new();
    ft_object *dict = ft_dict_new();
    if (list == NULL || dict == NULL) {
        note_failure(st);
        ft_xdecref(list);
        ft_xdecref(dict);
        return;
    }
    for (int i = 0; i < 40; i++) {
        ft_object *num = ft_int_new(1000 + i);
        char text[32];
        snprintf(text, sizeof(text), "key-%d", i);
        ft_object *key = ft_str_from_cstr(text);
        ft_object *real = ft_float_new(i + 0.5);
        if (num == NULL || key == NULL || real == NULL) {
            note_failure(st);
        } else {
            if (ft_list_append(list, num) != 0) {
                note_failure(st);
            }
            if (ft_dict_set(dict, key, real) != 0) {
                note_failure(st);
            }
        }
        ft_xdecref(num);
        ft_xdecref(key);
        ft_xdecref(real);
    }
    ft_object *items[3] = {list, dict, ft_none()};
    ft_object *tuple = ft_tuple_new(3, items);
    if (tuple == NULL || ft_list_append(list, tuple) != 0) {
        note_failure(st);   // list -> tuple -> list: a cycle when it works
    }
    ft_xdecref(tuple);
    if (ft_list_extend(list, list) != 0) {
        note_failure(st);
    }
    ft_object *copy = ft_dict_new();
    if (copy == NULL || ft_dict_update(copy, dict) != 0) {
        note_failure(st);
    }
    ft_xdecref(copy);
    worker_arg w = {list, {0, 0}};
    ft_thread *t = ft_thread_start(worker, &w);
    if (t == NULL) {
        note_failure(st);
    } else {
        ft_thread_join(t);
        st->errors += w.st.errors;
        st->wrong_kind += w.st.wrong_kind;
    }
    run_state foreign_st = {0, 0};
    pthread_t th;
    FT_BEGIN_ALLOW_THREADS
    pthread_create(&th, NULL, foreign, &foreign_st);
    pthread_join(th, NULL);
    FT_END_ALLOW_THREADS
    st->errors += foreign_st.errors;
    st->wrong_kind += foreign_st.wrong_kind;
    if (ft_gc_collect() < 0) {
        note_failure(st);
    }
    ft_decref(dict);
    ft_decref(list);
}

FT_TEST(fault_walk)
{
#if !FT_DEBUG
    FT_SKIP_IF(1, "fault injection is compiled into debug and sanitizer builds only");
#endif
    ft_gc_collect();
    int64_t baseline = ft_live_objects();
    int64_t k;
    int64_t failed_runs = 0;
    for (k = 1; k < 5000; k++) {
        uint64_t injected_before = ft_mem_failures_injected();
        run_state st = {0, 0};
        ft_mem_fail_after(k);
        scenario(&st);
        ft_mem_fail_after(0);
        bool injected = ft_mem_failures_injected() != injected_before;
        ft_err_clear();
        ft_gc_collect();
        ft_err_clear();
        FT_EXPECT_EQ(st.wrong_kind, 0, "an injected failure surfaced as another error");
        int64_t live = ft_live_objects();
        if (live != baseline) {
            FT_EXPECT_EQ(live, baseline, "objects leaked after a failed allocation");
            printf("  leak at k=%lld\n", (long long)k);
            break;
        }
        failed_runs += st.errors > 0;
        if (!injected) {
            break;   // the scenario needs fewer than k allocations
        }
    }
    FT_EXPECT(k > 50, "the scenario allocated suspiciously little (%lld)", (long long)k);
    printf("fault walk: k=1..%lld, %lld runs saw a failure, %d distinct allocation sites hit\n",
           (long long)(k - 1), (long long)failed_runs, ft_mem_fault_sites_hit());
}

// ft_init itself: a failed start-up reports MemoryError, keeps nothing, and
// a later ft_init succeeds.
FT_TEST_RAW(init_fault_walk)
{
#if !FT_DEBUG
    FT_SKIP_IF(1, "fault injection is compiled into debug and sanitizer builds only");
#endif
    for (int64_t k = 1; k <= 4; k++) {
        ft_mem_fail_after(k);
        int rc = ft_init();
        ft_mem_fail_after(0);
        if (rc == 0) {
            ft_fini();
            break;
        }
        FT_EXPECT_EQ(ft_err_occurred(), FT_ERR_MEMORY, "ft_init failure kind");
        ft_err_clear();
    }
    FT_REQUIRE(ft_init() == 0, "ft_init after injected failures: %s", ft_err_message());
    FT_EXPECT_EQ(ft_live_objects(), 0, "a fresh runtime has no live objects");
    ft_fini();
    printf("allocation sites hit so far: %d\n", ft_mem_fault_sites_hit());
}
