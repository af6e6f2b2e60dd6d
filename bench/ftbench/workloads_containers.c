// bench/ftbench/workloads_containers.c: list and dict workloads.
//
// Unshared (each thread its own containers): list_append, dict_setget
// (int keys), dict_str (string keys, a dict made per iteration).
// Shared: read_shared (passes over one list and one dict of 10^5
// non-immortal ints), append_shared (one list every thread appends to).
#include <stdio.h>
#include <stdlib.h>

#include "ftbench/ftbench.h"

// ------------------------------------------------------------ list_append
// Rounds of `lst = []; for i in range(R): lst.append(i)`; each list is freed
// at the end of its round so memory stays bounded whatever the unit.
#define LIST_ROUND 10000

static int64_t
fill_list(ft_object *list, int64_t first, int64_t count)
{
    int64_t sum = 0;
    for (int64_t i = first; i < first + count; i++) {
        ft_object *boxed = ftb_int(i);
        ftb_append(list, boxed);
        ft_decref(boxed);
        sum += i;
        ft_safepoint();
    }
    return sum;
}

static int
list_append_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    (void)thread_index;
    (void)nthreads;
    ftb_state *st = shared;
    for (int64_t done = 0; done < st->n; done += LIST_ROUND) {
        int64_t count = st->n - done < LIST_ROUND ? st->n - done : LIST_ROUND;
        ft_object *list = ftb_list();
        out->value += fill_list(list, done, count);
        FTB_CHECK(ft_list_len(list) == count, "list length %lld, expected %lld",
                  (long long)ft_list_len(list), (long long)count);
        ft_object *last = ftb_list_get(list, count - 1);
        FTB_CHECK(ftb_int_value(last) == done + count - 1, "last item is wrong");
        ft_decref(last);
        out->count += count;
        ft_decref(list);
    }
    return 0;
}

static int
sum_of_range_verify(ftb_state *st, const ftb_result *results, ftb_extras *extras)
{
    (void)extras;
    int64_t expected = st->n * (st->n - 1) / 2;
    for (int t = 0; t < st->nthreads; t++) {
        FTB_CHECK(results[t].count == st->n && results[t].value == expected,
                  "thread %d: %lld items summing to %lld, expected %lld summing to %lld", t,
                  (long long)results[t].count, (long long)results[t].value, (long long)st->n,
                  (long long)expected);
    }
    return 0;
}

// ------------------------------------------------------------ dict_setget
// d = {k: k for k in range(K)}; for i in range(n): d[i % K] = i; x += d[j]
// The C array `last` mirrors the dict, so every read is checked.
#define DICT_KEYS 1000

static void
dict_store(ft_object *dict, int64_t key, int64_t value)
{
    ft_object *k = ftb_int(key);
    ft_object *v = ftb_int(value);
    ftb_set(dict, k, v);
    ft_decref(v);
    ft_decref(k);
}

static int64_t
dict_load(ft_object *dict, int64_t key)
{
    ft_object *k = ftb_int(key);
    ft_object *v = ftb_get(dict, k);
    int64_t value = ftb_int_value(v);
    ft_decref(v);
    ft_decref(k);
    return value;
}

static int
dict_setget_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    (void)thread_index;
    (void)nthreads;
    ftb_state *st = shared;
    int64_t *last = malloc(DICT_KEYS * sizeof(*last));
    FTB_CHECK(last != NULL, "out of memory");
    ft_object *dict = ftb_dict();
    for (int64_t k = 0; k < DICT_KEYS; k++) {
        dict_store(dict, k, k);
        last[k] = k;
    }
    for (int64_t i = 0; i < st->n; i++) {
        dict_store(dict, i % DICT_KEYS, i);
        last[i % DICT_KEYS] = i;
        int64_t j = (i * 7 + 3) % DICT_KEYS;
        int64_t got = dict_load(dict, j);
        FTB_CHECK(got == last[j], "d[%lld] is %lld, expected %lld", (long long)j, (long long)got,
                  (long long)last[j]);
        out->value += got;
        ft_safepoint();
    }
    out->count = ft_dict_len(dict);
    ft_decref(dict);
    free(last);
    return 0;
}

static int
dict_setget_verify(ftb_state *st, const ftb_result *results, ftb_extras *extras)
{
    (void)extras;
    for (int t = 0; t < st->nthreads; t++) {
        FTB_CHECK(results[t].count == DICT_KEYS, "thread %d: dict has %lld keys, expected %d", t,
                  (long long)results[t].count, DICT_KEYS);
        FTB_CHECK(results[t].value == results[0].value,
                  "thread %d: checksum %lld differs from %lld", t, (long long)results[t].value,
                  (long long)results[0].value);
    }
    return 0;
}

// ------------------------------------------------------------ dict_str
// for i in range(n): d = {"alpha": i, "beta": i + 1, ...}; x += d[key[i % K]]
// The key strings are made once per unit, like an interpreter's constants.
#define STR_KEYS 8
static const char *const str_key_names[STR_KEYS] = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
};

static int64_t
dict_str_round(ft_object *const *keys, int64_t i)
{
    ft_object *dict = ftb_dict();
    for (int k = 0; k < STR_KEYS; k++) {
        ft_object *v = ftb_int(i + k);
        ftb_set(dict, keys[k], v);
        ft_decref(v);
    }
    FTB_CHECK(ft_dict_len(dict) == STR_KEYS, "dict has %lld keys", (long long)ft_dict_len(dict));
    ft_object *v = ftb_get(dict, keys[i % STR_KEYS]);
    int64_t got = ftb_int_value(v);
    FTB_CHECK(got == i + i % STR_KEYS, "d[%s] is %lld, expected %lld", str_key_names[i % STR_KEYS],
              (long long)got, (long long)(i + i % STR_KEYS));
    ft_decref(v);
    ft_decref(dict);
    return got;
}

static int
dict_str_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    (void)thread_index;
    (void)nthreads;
    ftb_state *st = shared;
    ft_object *keys[STR_KEYS];
    for (int k = 0; k < STR_KEYS; k++) {
        keys[k] = ftb_str(str_key_names[k]);
    }
    for (int64_t i = 0; i < st->n; i++) {
        out->value += dict_str_round(keys, i);
        out->count++;
        ft_safepoint();
    }
    for (int k = 0; k < STR_KEYS; k++) {
        ft_decref(keys[k]);
    }
    return 0;
}

static int
dict_str_verify(ftb_state *st, const ftb_result *results, ftb_extras *extras)
{
    (void)extras;
    int64_t expected = 0;
    for (int64_t i = 0; i < st->n; i++) {
        expected += i + i % STR_KEYS;
    }
    for (int t = 0; t < st->nthreads; t++) {
        FTB_CHECK(results[t].value == expected, "thread %d: checksum %lld, expected %lld", t,
                  (long long)results[t].value, (long long)expected);
    }
    return 0;
}

// ------------------------------------------------------------ read_shared
// Setup (main thread): lst = [1000 + i for i in range(10**5)] and
// d = {lst[i]: 2 * lst[i]}. Each thread, n passes:
//     for i in range(len(lst)): k = lst[i]; s += d[k]
// so every item read is a foreign incref/decref on an object the main thread
// owns, and every read of the containers is a shared read.
#define SHARED_ITEMS 100000
#define SHARED_BASE 1000

typedef struct read_data {
    ft_object *list;  // immutable after setup (never mutated by the run)
    ft_object *dict;  // immutable after setup (never mutated by the run)
} read_data;

static int
read_shared_setup(ftb_state *st)
{
    read_data *rd = calloc(1, sizeof(*rd));
    FTB_CHECK(rd != NULL, "out of memory");
    rd->list = ftb_list();
    rd->dict = ftb_dict();
    for (int64_t i = 0; i < SHARED_ITEMS; i++) {
        ft_object *k = ftb_int(SHARED_BASE + i);
        ft_object *v = ftb_int(2 * (SHARED_BASE + i));
        ftb_append(rd->list, k);
        ftb_set(rd->dict, k, v);
        ft_decref(v);
        ft_decref(k);
    }
    st->data = rd;
    return 0;
}

static void
read_shared_teardown(ftb_state *st)
{
    read_data *rd = st->data;
    ft_decref(rd->dict);
    ft_decref(rd->list);
    free(rd);
    st->data = NULL;
}

// Reads items [first, first + count) of the shared list (count <= len).
static int64_t
read_span(read_data *rd, int64_t first, int64_t count)
{
    int64_t sum = 0;
    for (int64_t i = first; i < first + count; i++) {
        ft_object *k = ftb_list_get(rd->list, i);
        ft_object *v = ftb_get(rd->dict, k);
        sum += ftb_int_value(v);
        ft_decref(v);
        ft_decref(k);
        ft_safepoint();
    }
    return sum;
}

// The unit is n reads: n / 10^5 whole passes (10 by default), and under
// --smoke a prefix of one pass.
static int
read_shared_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    (void)thread_index;
    (void)nthreads;
    ftb_state *st = shared;
    for (int64_t done = 0; done < st->n; done += SHARED_ITEMS) {
        int64_t count = st->n - done < SHARED_ITEMS ? st->n - done : SHARED_ITEMS;
        out->value += read_span(st->data, 0, count);
        out->count += count;
    }
    return 0;
}

static int64_t
read_shared_expected(int64_t n)
{
    int64_t sum = 0;
    for (int64_t done = 0; done < n; done += SHARED_ITEMS) {
        int64_t count = n - done < SHARED_ITEMS ? n - done : SHARED_ITEMS;
        sum += 2 * (count * SHARED_BASE + count * (count - 1) / 2);
    }
    return sum;
}

static int
read_shared_verify(ftb_state *st, const ftb_result *results, ftb_extras *extras)
{
    (void)extras;
    int64_t expected = read_shared_expected(st->n);
    for (int t = 0; t < st->nthreads; t++) {
        FTB_CHECK(results[t].value == expected, "thread %d: sum %lld, expected %lld", t,
                  (long long)results[t].value, (long long)expected);
    }
    read_data *rd = st->data;
    FTB_CHECK(ft_list_len(rd->list) == SHARED_ITEMS && ft_dict_len(rd->dict) == SHARED_ITEMS,
              "shared containers changed size");
    return 0;
}

// ------------------------------------------------------------ append_shared
// for i in range(n): shared.append(i % 200)
// Small ints are immortal, so the list holds 8 bytes per item and the
// workload measures the contended list, not the allocator. The list is
// emptied only by teardown: 2 * 10^6 appends per thread hold 16 MB.
typedef struct append_data {
    ft_object *list;  // immutable after setup (the list itself is shared)
} append_data;

static int
append_shared_setup(ftb_state *st)
{
    append_data *ad = calloc(1, sizeof(*ad));
    FTB_CHECK(ad != NULL, "out of memory");
    ad->list = ftb_list();
    st->data = ad;
    return 0;
}

static void
append_shared_teardown(ftb_state *st)
{
    append_data *ad = st->data;
    ft_decref(ad->list);
    free(ad);
    st->data = NULL;
}

static int
append_shared_run(int thread_index, int nthreads, void *shared, ftb_result *out)
{
    (void)thread_index;
    (void)nthreads;
    ftb_state *st = shared;
    append_data *ad = st->data;
    for (int64_t i = 0; i < st->n; i++) {
        ft_object *boxed = ftb_int(i % 200);
        ftb_append(ad->list, boxed);
        ft_decref(boxed);
        out->value += i % 200;
        ft_safepoint();
    }
    out->count = st->n;
    return 0;
}

static int
append_shared_verify(ftb_state *st, const ftb_result *results, ftb_extras *extras)
{
    append_data *ad = st->data;
    int64_t expected_len = 0, expected_sum = 0, sum = 0;
    for (int t = 0; t < st->nthreads; t++) {
        expected_len += results[t].count;
        expected_sum += results[t].value;
    }
    int64_t len = ft_list_len(ad->list);
    FTB_CHECK(len == expected_len, "shared list has %lld items, expected %lld", (long long)len,
              (long long)expected_len);
    for (int64_t i = 0; i < len; i++) {
        ft_object *item = ftb_list_get(ad->list, i);
        sum += ftb_int_value(item);
        ft_decref(item);
    }
    FTB_CHECK(sum == expected_sum, "shared list sums to %lld, expected %lld", (long long)sum,
              (long long)expected_sum);
    ftb_extra(extras, "final_len", len);
    return 0;
}

const ftb_workload ftb_container_workloads[] = {
    {
        .name = "list_append",
        .description = "appends boxed ints to the thread's own list (rounds of 10^4)",
        .shared = false,
        .unit = 3000000,
        .smoke_unit = 3000,
        .run = list_append_run,
        .verify = sum_of_range_verify,
    },
    {
        .name = "dict_setget",
        .description = "d[i % 1000] = i; x += d[j] on the thread's own dict, int keys",
        .shared = false,
        .unit = 1200000,
        .smoke_unit = 2000,
        .run = dict_setget_run,
        .verify = dict_setget_verify,
    },
    {
        .name = "read_shared",
        .description = "n reads (10^5 per pass) of one shared list and dict of 10^5 ints",
        .shared = true,
        .unit = 1000000,
        .smoke_unit = 2000,
        .setup = read_shared_setup,
        .run = read_shared_run,
        .verify = read_shared_verify,
        .teardown = read_shared_teardown,
    },
    {
        .name = "append_shared",
        .description = "every thread appends to one shared list",
        .shared = true,
        .unit = 2000000,
        .smoke_unit = 3000,
        .setup = append_shared_setup,
        .run = append_shared_run,
        .verify = append_shared_verify,
        .teardown = append_shared_teardown,
    },
    {
        .name = "dict_str",
        .description = "builds and drops a dict of 8 string keys per iteration",
        .shared = false,
        .unit = 300000,
        .smoke_unit = 500,
        .run = dict_str_run,
        .verify = dict_str_verify,
    },
};
const int ftb_container_workload_count =
    (int)(sizeof(ftb_container_workloads) / sizeof(ftb_container_workloads[0]));
