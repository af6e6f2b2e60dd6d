// bench/ftbench/workloads_churn.c: allocation and reclamation probes.
//
// int_churn          ints outside the small (immortal) range, made and dropped
// tuple_churn        3-tuples made, read and dropped
// producer_consumer  objects made on one thread and dropped on another, so
//                    the last decref is foreign: BRC queues and merges
// cycle_churn        list <-> dict cycles made and dropped, ft_gc_collect()
//                    now and then
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "ftbench/ftbench.h"

// ------------------------------------------------------------ int_churn
// for i in range(n): a = i + 1000; b = a * 2; c = a + b; s += c - i
// Four temporaries per iteration, none of them small.
static int
int_churn_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    (void)thread_index;
    (void)nthreads;
    ftb_state *st = shared;
    for (int64_t i = 0; i < st->n; i++) {
        ft_object *a = ftb_int(i + 1000);
        ft_object *b = ftb_int(ftb_int_value(a) * 2);
        ft_object *c = ftb_int(ftb_int_value(a) + ftb_int_value(b));
        ft_object *d = ftb_int(ftb_int_value(c) - i);
        out->value += ftb_int_value(d);
        ft_decref(d);
        ft_decref(c);
        ft_decref(b);
        ft_decref(a);
        ft_safepoint();
    }
    out->count = st->n;
    return 0;
}

static int
int_churn_verify(ftb_state *st, const ftb_result *results, ftb_extras *extras)
{
    (void)extras;
    // sum of 2i + 3000 for i in [0, n)
    int64_t expected = st->n * (st->n - 1) + 3000 * st->n;
    for (int t = 0; t < st->nthreads; t++) {
        FTB_CHECK(results[t].value == expected, "thread %d: sum %lld, expected %lld", t,
                  (long long)results[t].value, (long long)expected);
    }
    return 0;
}

// ------------------------------------------------------------ tuple_churn
// for i in range(n): t = (i + 1000, i % 100, None); s += t[0] + t[1]
static int
tuple_churn_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    (void)thread_index;
    (void)nthreads;
    ftb_state *st = shared;
    for (int64_t i = 0; i < st->n; i++) {
        ft_object *items[3] = {ftb_int(i + 1000), ftb_int(i % 100), ft_none()};
        ft_object *tuple = ft_tuple_new(3, items);
        FTB_CHECK(tuple != NULL, "ft_tuple_new failed");
        ft_decref(items[0]);
        ft_decref(items[1]);
        for (int64_t k = 0; k < 2; k++) {
            ft_object *item = ft_tuple_get_ref(tuple, k);
            FTB_CHECK(item != NULL, "ft_tuple_get_ref(%lld) failed", (long long)k);
            out->value += ftb_int_value(item);
            ft_decref(item);
        }
        ft_decref(tuple);
        ft_safepoint();
    }
    out->count = st->n;
    return 0;
}

static int
tuple_churn_verify(ftb_state *st, const ftb_result *results, ftb_extras *extras)
{
    (void)extras;
    int64_t expected = 0;
    for (int64_t i = 0; i < st->n; i++) {
        expected += i + 1000 + i % 100;
    }
    for (int t = 0; t < st->nthreads; t++) {
        FTB_CHECK(results[t].value == expected, "thread %d: sum %lld, expected %lld", t,
                  (long long)results[t].value, (long long)expected);
    }
    return 0;
}

// ------------------------------------------------------------ producer_consumer
// Thread i appends n new ints to its own queue (a shared list) and consumes
// the queue of thread i + 1, popping and dropping what it finds after each
// append; when done producing it drains the rest, yielding detached while the
// queue is empty (a blocking queue.get()). With one thread it eats its own
// items (owner path); with more, every drop is a foreign decref on an object
// its producer owns.
#define PC_BASE 100000

typedef struct pc_data {
    ft_object **queues;  // immutable after setup: one list per thread
    int count;           // immutable after setup
} pc_data;

static int
pc_setup(ftb_state *st)
{
    pc_data *pd = calloc(1, sizeof(*pd));
    FTB_CHECK(pd != NULL, "out of memory");
    pd->count = st->nthreads;
    pd->queues = calloc((size_t)pd->count, sizeof(*pd->queues));
    FTB_CHECK(pd->queues != NULL, "out of memory");
    for (int t = 0; t < pd->count; t++) {
        pd->queues[t] = ftb_list();
    }
    st->data = pd;
    return 0;
}

static void
pc_teardown(ftb_state *st)
{
    pc_data *pd = st->data;
    for (int t = 0; t < pd->count; t++) {
        ft_decref(pd->queues[t]);
    }
    free(pd->queues);
    free(pd);
    st->data = NULL;
}

// Pops one item if there is one (we are the queue's only consumer, so a
// non-empty length stays non-empty) and drops it. Returns its value or -1.
static int64_t
consume_one(ft_object *queue)
{
    if (ft_list_len(queue) == 0) {
        return -1;
    }
    ft_object *item = ft_list_pop(queue);
    FTB_CHECK(item != NULL, "ft_list_pop on a non-empty queue failed");
    int64_t value = ftb_int_value(item);
    ft_decref(item);
    return value;
}

static int
pc_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    ftb_state *st = shared;
    pc_data *pd = st->data;
    ft_object *mine = pd->queues[thread_index];
    ft_object *theirs = pd->queues[(thread_index + 1) % nthreads];
    for (int64_t k = 0; k < st->n; k++) {
        ft_object *item = ftb_int(PC_BASE + k);
        ftb_append(mine, item);
        ft_decref(item);
        int64_t value = consume_one(theirs);
        if (value >= 0) {
            out->value += value;
            out->count++;
        }
        ft_safepoint();
    }
    while (out->count < st->n) {
        int64_t value = consume_one(theirs);
        if (value >= 0) {
            out->value += value;
            out->count++;
        } else {
            FT_BEGIN_ALLOW_THREADS
            sched_yield();
            FT_END_ALLOW_THREADS
        }
        ft_safepoint();
    }
    return 0;
}

static int
pc_verify(ftb_state *st, const ftb_result *results, ftb_extras *extras)
{
    (void)extras;
    pc_data *pd = st->data;
    int64_t expected = st->n * PC_BASE + st->n * (st->n - 1) / 2;
    for (int t = 0; t < st->nthreads; t++) {
        FTB_CHECK(results[t].count == st->n && results[t].value == expected,
                  "thread %d consumed %lld items summing to %lld, expected %lld summing to %lld", t,
                  (long long)results[t].count, (long long)results[t].value, (long long)st->n,
                  (long long)expected);
        FTB_CHECK(ft_list_len(pd->queues[t]) == 0, "queue %d not drained", t);
    }
    return 0;
}

// ------------------------------------------------------------ cycle_churn
// for i in range(n):
//     l = [i + 1000]; d = {"value": i + 2000}; l.append(d); d["back"] = l
//     s += l[0] + d["value"]
//     del l, d                      # a two-object cycle becomes garbage
//     if i % 1000 == 999: gc.collect()
//
// By default each iteration breaks its cycle itself before dropping it
// (l.pop() takes the back-reference), so neither the result nor the leak
// check depends on the cycle collector: this workload was written while the
// collector was not there yet (ft_gc_collect() only drained the merge queues
// and cycles leaked). With FTBENCH_REAL_CYCLES=1 the cycles are left to the
// collector, and the harness's leak check fails loudly if it misses any.
#define CYCLE_GC_EVERY 1000

typedef struct cycle_keys {
    ft_object *value;
    ft_object *back;
} cycle_keys;

static int64_t
make_cycle(const cycle_keys *keys, int64_t i, bool real_cycles)
{
    ft_object *list = ftb_list();
    ft_object *dict = ftb_dict();
    ft_object *a = ftb_int(i + 1000);
    ft_object *b = ftb_int(i + 2000);
    ftb_append(list, a);
    ftb_set(dict, keys->value, b);
    ft_decref(b);
    ft_decref(a);
    ftb_append(list, dict);
    ftb_set(dict, keys->back, list);
    ft_object *first = ftb_list_get(list, 0);
    ft_object *value = ftb_get(dict, keys->value);
    int64_t sum = ftb_int_value(first) + ftb_int_value(value);
    ft_decref(value);
    ft_decref(first);
    if (!real_cycles) {
        ft_object *popped = ft_list_pop(list);
        FTB_CHECK(popped == dict, "l.pop() did not return the dict");
        ft_decref(popped);
    }
    ft_decref(dict);
    ft_decref(list);
    return sum;
}

static int
cycle_churn_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    (void)thread_index;
    (void)nthreads;
    ftb_state *st = shared;
    cycle_keys keys = {ftb_str("value"), ftb_str("back")};
    for (int64_t i = 0; i < st->n; i++) {
        out->value += make_cycle(&keys, i, st->real_cycles);
        out->count++;
        if (i % CYCLE_GC_EVERY == CYCLE_GC_EVERY - 1) {
            FTB_CHECK(ft_gc_collect() >= 0, "ft_gc_collect failed");
        }
        ft_safepoint();
    }
    ft_decref(keys.back);
    ft_decref(keys.value);
    return 0;
}

static int
cycle_churn_verify(ftb_state *st, const ftb_result *results, ftb_extras *extras)
{
    // sum of 2i + 3000 for i in [0, n)
    int64_t expected = st->n * (st->n - 1) + 3000 * st->n;
    for (int t = 0; t < st->nthreads; t++) {
        FTB_CHECK(results[t].count == st->n && results[t].value == expected,
                  "thread %d: %lld cycles summing to %lld, expected %lld summing to %lld", t,
                  (long long)results[t].count, (long long)results[t].value, (long long)st->n,
                  (long long)expected);
    }
    ftb_extra(extras, "real_cycles", st->real_cycles ? 1 : 0);
    return 0;
}

const ftb_workload ftb_churn_workloads[] = {
    {
        .name = "int_churn",
        .description = "four non-small int temporaries made and dropped per iteration",
        .shared = false,
        .unit = 2000000,
        .smoke_unit = 2000,
        .run = int_churn_run,
        .verify = int_churn_verify,
    },
    {
        .name = "tuple_churn",
        .description = "3-tuples made, read and dropped",
        .shared = false,
        .unit = 2000000,
        .smoke_unit = 2000,
        .run = tuple_churn_run,
        .verify = tuple_churn_verify,
    },
    {
        .name = "producer_consumer",
        .description = "ints made on one thread, popped and dropped by its neighbour",
        .shared = true,
        .unit = 2000000,
        .smoke_unit = 2000,
        .setup = pc_setup,
        .run = pc_run,
        .verify = pc_verify,
        .teardown = pc_teardown,
    },
    {
        .name = "cycle_churn",
        .description = "list <-> dict cycles made and dropped, gc every 1000",
        .shared = false,
        .unit = 350000,
        .smoke_unit = 2000,
        .run = cycle_churn_run,
        .verify = cycle_churn_verify,
    },
};
const int ftb_churn_workload_count =
    (int)(sizeof(ftb_churn_workloads) / sizeof(ftb_churn_workloads[0]));
