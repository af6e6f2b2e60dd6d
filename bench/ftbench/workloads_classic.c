// bench/ftbench/workloads_classic.c: the classic GIL examples.
//
// counter_race / counter_locked  `counter += 1` on one shared counter, bare
//                                and inside a critical section
// fib                            recursive fib on boxed ints
// sum_loop                       `total += i` with boxed ints
// io_bound                       threads waiting on "I/O" (sleeps, detached)
// detached_compute               C work inside FT_BEGIN_ALLOW_THREADS
#include <stdlib.h>

#include "ftbench/ftbench.h"

// ------------------------------------------------------------ counters
// The counter lives in a shared dict under a string key, as a module global
// would: `counter = d["counter"]; d["counter"] = counter + 1`.
typedef struct counter_data {
    ft_object *dict;  // immutable after setup (the dict itself is shared)
    ft_object *key;   // immutable after setup
} counter_data;

static int
counter_setup(ftb_state *st)
{
    counter_data *cd = calloc(1, sizeof(*cd));
    FTB_CHECK(cd != NULL, "out of memory");
    cd->dict = ftb_dict();
    cd->key = ftb_str("counter");
    ft_object *zero = ftb_int(0);
    ftb_set(cd->dict, cd->key, zero);
    ft_decref(zero);
    st->data = cd;
    return 0;
}

static void
counter_teardown(ftb_state *st)
{
    counter_data *cd = st->data;
    ft_decref(cd->key);
    ft_decref(cd->dict);
    free(cd);
    st->data = NULL;
}

static int64_t
counter_final(ftb_state *st)
{
    counter_data *cd = st->data;
    ft_object *value = ftb_get(cd->dict, cd->key);
    int64_t final_value = ftb_int_value(value);
    ft_decref(value);
    return final_value;
}

// get, add, safepoint, store, no lock: the safepoint between the read and
// the write is where an interpreter may switch threads (GIL build) and where
// another core writes meanwhile (FT build), so updates get lost in both.
static int
counter_race_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    (void)thread_index;
    (void)nthreads;
    ftb_state *st = shared;
    counter_data *cd = st->data;
    for (int64_t i = 0; i < st->n; i++) {
        ft_object *value = ftb_get(cd->dict, cd->key);
        ft_object *next = ftb_int(ftb_int_value(value) + 1);
        ft_decref(value);
        ft_safepoint();
        ftb_set(cd->dict, cd->key, next);
        ft_decref(next);
    }
    out->count = st->n;
    return 0;
}

// Lost updates are the point of counter_race, not an error; only a value
// outside [1, expected] is one.
static int
counter_race_verify(ftb_state *st, const ftb_result *results, ftb_extras *extras)
{
    int64_t expected = 0;
    for (int t = 0; t < st->nthreads; t++) {
        expected += results[t].count;
    }
    int64_t final_value = counter_final(st);
    FTB_CHECK(final_value >= 1 && final_value <= expected, "counter is %lld, expected at most %lld",
              (long long)final_value, (long long)expected);
    ftb_extra(extras, "final_value", final_value);
    ftb_extra(extras, "expected_value", expected);
    ftb_extra(extras, "lost_updates", expected - final_value);
    return 0;
}

// The same in a critical section on the dict; the safepoint comes after
// FT_CS_END because a safepoint inside a section may let another thread in.
// The dict operations inside take the same section again, which is free.
static int
counter_locked_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    (void)thread_index;
    (void)nthreads;
    ftb_state *st = shared;
    counter_data *cd = st->data;
    for (int64_t i = 0; i < st->n; i++) {
        FT_CS_BEGIN(cd->dict);
        ft_object *value = ftb_get(cd->dict, cd->key);
        ft_object *next = ftb_int(ftb_int_value(value) + 1);
        ft_decref(value);
        ftb_set(cd->dict, cd->key, next);
        ft_decref(next);
        FT_CS_END();
        ft_safepoint();
    }
    out->count = st->n;
    return 0;
}

static int
counter_locked_verify(ftb_state *st, const ftb_result *results, ftb_extras *extras)
{
    int64_t expected = 0;
    for (int t = 0; t < st->nthreads; t++) {
        expected += results[t].count;
    }
    int64_t final_value = counter_final(st);
    FTB_CHECK(final_value == expected, "counter is %lld, expected exactly %lld (%lld lost)",
              (long long)final_value, (long long)expected, (long long)(expected - final_value));
    ftb_extra(extras, "final_value", final_value);
    ftb_extra(extras, "lost_updates", 0);
    return 0;
}

// ------------------------------------------------------------ fib
// def fib(n): return n if n < 2 else fib(n - 1) + fib(n - 2)
static ft_object *
fib_boxed(ft_object *n)
{
    ft_safepoint();
    int64_t v = ftb_int_value(n);
    if (v < 2) {
        return ft_newref(n);
    }
    ft_object *n1 = ftb_int(v - 1);
    ft_object *a = fib_boxed(n1);
    ft_decref(n1);
    ft_object *n2 = ftb_int(v - 2);
    ft_object *b = fib_boxed(n2);
    ft_decref(n2);
    ft_object *sum = ftb_int(ftb_int_value(a) + ftb_int_value(b));
    ft_decref(a);
    ft_decref(b);
    return sum;
}

static int64_t
fib_plain(int64_t n)
{
    int64_t a = 0, b = 1;
    for (int64_t i = 0; i < n; i++) {
        int64_t next = a + b;
        a = b;
        b = next;
    }
    return a;
}

// The unit is fib(n) itself; n is the argument, not a loop count.
static int
fib_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    (void)thread_index;
    (void)nthreads;
    ftb_state *st = shared;
    ft_object *arg = ftb_int(st->n);
    ft_object *result = fib_boxed(arg);
    ft_decref(arg);
    out->value = ftb_int_value(result);
    ft_decref(result);
    out->count = 1;
    return 0;
}

static int
fib_verify(ftb_state *st, const ftb_result *results, ftb_extras *extras)
{
    int64_t expected = fib_plain(st->n);
    for (int t = 0; t < st->nthreads; t++) {
        FTB_CHECK(results[t].value == expected, "thread %d: fib(%lld) = %lld, expected %lld", t,
                  (long long)st->n, (long long)results[t].value, (long long)expected);
    }
    ftb_extra(extras, "fib_n", st->n);
    return 0;
}

// ------------------------------------------------------------ sum_loop
// total = 0; for i in range(n): total += i
static int
sum_loop_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    (void)thread_index;
    (void)nthreads;
    ftb_state *st = shared;
    ft_object *total = ftb_int(0);
    for (int64_t i = 0; i < st->n; i++) {
        ft_object *boxed = ftb_int(i);  // what range() yields
        ft_object *next = ftb_int(ftb_int_value(total) + ftb_int_value(boxed));
        ft_decref(boxed);
        ft_decref(total);
        total = next;
        ft_safepoint();
    }
    out->value = ftb_int_value(total);
    ft_decref(total);
    return 0;
}

static int
sum_loop_verify(ftb_state *st, const ftb_result *results, ftb_extras *extras)
{
    (void)extras;
    int64_t expected = st->n * (st->n - 1) / 2;
    for (int t = 0; t < st->nthreads; t++) {
        FTB_CHECK(results[t].value == expected, "thread %d: sum %lld, expected %lld", t,
                  (long long)results[t].value, (long long)expected);
    }
    return 0;
}

// ------------------------------------------------------------ io_bound
#define IO_SLEEP_NS (10 * 1000 * 1000)

// for i in range(n): time.sleep(0.01); done += 1  (the sleep detached)
static int
io_bound_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    (void)thread_index;
    (void)nthreads;
    ftb_state *st = shared;
    ft_object *done = ftb_int(0);
    for (int64_t i = 0; i < st->n; i++) {
        ftb_sleep_detached(IO_SLEEP_NS);
        ft_object *next = ftb_int(ftb_int_value(done) + 1);
        ft_decref(done);
        done = next;
        ft_safepoint();
    }
    out->count = ftb_int_value(done);
    ft_decref(done);
    return 0;
}

static int
count_is_n_verify(ftb_state *st, const ftb_result *results, ftb_extras *extras)
{
    (void)extras;
    for (int t = 0; t < st->nthreads; t++) {
        FTB_CHECK(results[t].count == st->n, "thread %d: %lld iterations, expected %lld", t,
                  (long long)results[t].count, (long long)st->n);
    }
    return 0;
}

// ------------------------------------------------------------ detached_compute
// One chunk of C work: sum of i*i for i in [1, m], the loop kept honest by
// an optimization barrier so the compiler cannot use the closed form.
#define CHUNK_TERMS 1000000

static uint64_t
crunch(uint64_t m)
{
    uint64_t acc = 0;
    for (uint64_t i = 1; i <= m; i++) {
        uint64_t x = i;
        FT_OPT_BARRIER(x);
        acc += x * x;
    }
    return acc;
}

static uint64_t
crunch_expected(uint64_t m)
{
    unsigned __int128 s = (unsigned __int128)m * (m + 1) * (2 * m + 1) / 6;
    return (uint64_t)s;
}

// for chunk in range(n): results.append(numpy_like_sum_of_squares(chunk))
// where the C function releases the lock, as numpy would.
static int
detached_compute_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    (void)thread_index;
    (void)nthreads;
    ftb_state *st = shared;
    ft_object *results = ftb_list();
    for (int64_t c = 0; c < st->n; c++) {
        uint64_t m = CHUNK_TERMS + (uint64_t)c;
        uint64_t acc;
        FT_BEGIN_ALLOW_THREADS
        acc = crunch(m);
        FT_END_ALLOW_THREADS
        FTB_CHECK(acc == crunch_expected(m), "chunk %lld: crunch gave %llu, expected %llu",
                  (long long)c, (unsigned long long)acc, (unsigned long long)crunch_expected(m));
        ft_object *boxed = ftb_int((int64_t)(acc & INT64_MAX));
        ftb_append(results, boxed);
        ft_decref(boxed);
        ft_safepoint();
    }
    out->count = ft_list_len(results);
    ft_decref(results);
    return 0;
}

const ftb_workload ftb_classic_workloads[] = {
    {
        .name = "counter_race",
        .description = "counter += 1 on a shared dict entry, no lock: reports lost updates",
        .shared = true,
        .unit = 2000000,
        .smoke_unit = 2000,
        .setup = counter_setup,
        .run = counter_race_run,
        .verify = counter_race_verify,
        .teardown = counter_teardown,
    },
    {
        .name = "counter_locked",
        .description = "counter += 1 inside a critical section on the dict: exact",
        .shared = true,
        .unit = 3000000,
        .smoke_unit = 2000,
        .setup = counter_setup,
        .run = counter_locked_run,
        .verify = counter_locked_verify,
        .teardown = counter_teardown,
    },
    {
        .name = "fib",
        .description = "recursive fib(n) on boxed ints (n is the unit)",
        .shared = false,
        .unit = 32,
        .smoke_unit = 15,
        .run = fib_run,
        .verify = fib_verify,
        .growth = 1.6180339887,
    },
    {
        .name = "sum_loop",
        .description = "total += i over range(n), boxed ints",
        .shared = false,
        .unit = 5000000,
        .smoke_unit = 5000,
        .run = sum_loop_run,
        .verify = sum_loop_verify,
    },
    {
        .name = "io_bound",
        .description = "10 ms sleeps, detached, like threads waiting on I/O",
        .shared = false,
        .unit = 20,
        .smoke_unit = 2,
        .run = io_bound_run,
        .verify = count_is_n_verify,
    },
    {
        .name = "detached_compute",
        .description = "~1 ms C chunks inside FT_BEGIN_ALLOW_THREADS, results boxed",
        .shared = false,
        .unit = 300,
        .smoke_unit = 2,
        .run = detached_compute_run,
        .verify = count_is_n_verify,
    },
};
const int ftb_classic_workload_count =
    (int)(sizeof(ftb_classic_workloads) / sizeof(ftb_classic_workloads[0]));
